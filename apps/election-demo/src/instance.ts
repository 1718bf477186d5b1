import { randomBytes } from 'node:crypto';
import { type Leadership, SynodClient } from '@synod/client';
import type { FromInstance, InstanceArgs, ToInstance } from './ipc.js';

/**
 * One application instance: it campaigns for the group, and while it leads it writes to the
 * protected resource every `writeEveryMs`, each write carrying its fencing token and made only
 * after checking that it still holds the lease. When it loses leadership it campaigns again.
 * Everything it does is reported to the driver over IPC.
 */
export async function runInstance(a: InstanceArgs): Promise<void> {
  const send = (m: FromInstance): void => {
    process.send?.(m);
  };
  const now = Date.now;
  let stallNext = false;
  const results = new Map<number, (accepted: boolean) => void>();
  process.on('message', (m: ToInstance) => {
    if (m.cmd === 'stall-before-write') stallNext = true;
    else results.get(m.n)?.(m.accepted);
  });
  // The driver is gone: nothing to do any more.
  process.on('disconnect', () => process.exit(0));
  const client = await SynodClient.connect({
    servers: a.natsUrl, cluster: a.cluster, timeoutMs: 2000,
    clientId: `${a.id}-${randomBytes(4).toString('hex')}`,
  });
  send({ ev: 'ready', id: a.id, at: now() });
  let n = 0;
  for (;;) {
    send({ ev: 'campaigning', id: a.id, at: now() });
    const lead = await client.elect(a.group, a.id, { ttlMs: a.ttlMs });
    send({ ev: 'elected', id: a.id, at: now(), token: lead.token,
      validForMs: Math.round(lead.validForMs) });
    lead.on('renewed', (r) => send({ ev: 'renewed', id: a.id, at: now(), token: r.token,
      validForMs: Math.round(r.validForMs) }));
    lead.on('lost', (e) => send({ ev: 'lost', id: a.id, at: now(), token: lead.token,
      reason: e.reason, message: e.message }));
    await writeWhileLeading(lead);
  }

  async function writeWhileLeading(lead: Leadership): Promise<void> {
    while (!lead.signal.aborted) {
      await new Promise((r) => setTimeout(r, a.writeEveryMs));
      const checkedAt = now();
      if (!lead.held) return; // the check every write makes first
      if (stallNext) {
        stallNext = false;
        send({ ev: 'stalling', id: a.id, at: now(), token: lead.token });
        // A stop-the-world pause right between the check and the write, as a long GC pause
        // or a VM migration would make one. The driver resumes us with SIGCONT.
        await new Promise((r) => setTimeout(r, 50)); // let the IPC message leave first
        process.kill(process.pid, 'SIGSTOP');
      }
      const seq = ++n;
      const done = new Promise<boolean>((resolve) => results.set(seq, resolve));
      send({ ev: 'write', id: a.id, at: now(), token: lead.token, n: seq, checkedAt });
      await done;
      results.delete(seq);
    }
  }
}
