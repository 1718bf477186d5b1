/**
 * `synod elect` in-process against a toy log service on a real nats-server (it appends each
 * new command in its own slot, stamped with its clock, and serves reads and log events).
 */
import {
  decode,
  decodeReadRequest,
  encode,
  encodeApi,
  type LogEntry,
  logSubject,
  readSubject,
} from '@synod/codec';
import { parseElectionPayload } from '@synod/election';
import { silentLogger, type Transport } from '@synod/runtime';
import { type NatsServer, startNats } from '@synod/testing';
import { connectNats } from '@synod/transport-nats';
import { type CliIo, runCli } from '../src/cli.js';

jest.setTimeout(20_000);

let nats: NatsServer;
let services: Transport;

beforeAll(async () => {
  nats = await startNats();
  services = await connectNats({ servers: nats.url, name: 'services', logger: silentLogger });
});
afterAll(async () => {
  await services.close();
  await nats.stop();
});

let clusterN = 0;
const fresh = (): string => `el${process.pid}x${++clusterN}`;

/** Proposer and learner in one: a log that grows by one slot per new command. */
function toyLog(cluster: string, answerRequests = true): { log: LogEntry[]; stop(): void } {
  const log: LogEntry[] = [];
  const slots = new Map<string, number>();
  const a = services.subscribe(`synod.${cluster}.request.*`, (m) => {
    if (!answerRequests) return;
    const req = decode(m.data);
    if (req.type !== 'request') return;
    const key = `${req.cmd.clientId}#${req.cmd.seq}`;
    let slot = slots.get(key);
    if (slot === undefined) {
      slot = log.length;
      slots.set(key, slot);
      const e: LogEntry = { slot, value: { kind: 'cmds', cmds: [req.cmd], stamp: Date.now() } };
      log.push(e);
      services.publish(logSubject(cluster, 'l1'), encodeApi({ learner: 'l1', entries: [e] }));
    }
    services.respond(m, encode({ type: 'response', from: 'p1', to: req.from,
      clientId: req.cmd.clientId, seq: req.cmd.seq, outcome: { status: 'chosen', slot } }));
  });
  const b = services.subscribe(readSubject(cluster), (m) => {
    const r = decodeReadRequest(m.data);
    const entries = log.filter((e) => e.slot >= r.fromSlot && e.slot < r.fromSlot + r.limit);
    services.respond(m, encodeApi({ learner: 'l1', nextSlot: log.length, entries }));
  });
  return { log, stop: () => [a, b].forEach((s) => s.unsubscribe()) };
}

/** Starts `synod` in-process; `stop()` is Ctrl-C. */
function synod(argv: string[]): { out: string[]; err: string[]; code: Promise<number>;
  stop(): void } {
  const out: string[] = [];
  const err: string[] = [];
  const ctl = new AbortController();
  const io: CliIo = {
    out: (l) => out.push(l), err: (l) => err.push(l), env: {}, cwd: '/nonexistent',
    repoRoot: null, signal: ctl.signal,
  };
  return { out, err, code: runCli(['--nats', nats.url, ...argv], io), stop: () => ctl.abort() };
}

async function until(cond: () => boolean, ms = 8000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('synod elect', () => {
  test('prints the token, renewals, and on Ctrl-C resigns and exits 0', async () => {
    const cluster = fresh();
    const toy = toyLog(cluster);
    const run = synod(['elect', 'orders', '--as', 'app-1', '--ttl', '600', '--cluster', cluster]);
    await until(() => run.out.some((l) => l.includes('renewed: token 0')));
    const elected = run.out.find((l) => l.includes('ELECTED'));
    expect(elected).toMatch(/ELECTED: app-1 leads orders with fencing token 0 /);
    expect(run.out.some((l) => l.includes('log: granted to app-1 (token 0)'))).toBe(true);
    run.stop();
    expect(await run.code).toBe(0);
    expect(run.out.some((l) => l.includes('resigned: token 0 released'))).toBe(true);
    const ops = toy.log.map((e) => (e.value.kind === 'cmds'
      ? parseElectionPayload(e.value.cmds[0]?.payload ?? '') : null))
      .map((p) => (p?.kind === 'command' ? p.cmd.op : '?'));
    expect(ops[0]).toBe('campaign');
    expect(ops.at(-1)).toBe('resign');
    toy.stop();
  });

  test('a second candidate waits, and takes over when the first resigns (--json)', async () => {
    const cluster = fresh();
    const toy = toyLog(cluster);
    const one = synod(['elect', 'g', '--as', 'one', '--cluster', cluster]);
    await until(() => one.out.some((l) => l.includes('ELECTED')));
    const two = synod(['elect', 'g', '--as', 'two', '--json', '--cluster', cluster]);
    await until(() => two.out.some((l) => l.includes('"holder":"one"')));
    one.stop();
    expect(await one.code).toBe(0);
    await until(() => two.out.some((l) => l.includes('"event":"elected"')));
    const ev = two.out.map((l) => JSON.parse(l) as { event: string; token?: number });
    const won = ev.find((e) => e.event === 'elected');
    expect(won?.token).toBeGreaterThan(0);
    two.stop();
    expect(await two.code).toBe(0);
    toy.stop();
  });

  test('while it cannot get anywhere it says why every few seconds: no learner answers, then ' +
    'no proposer decides the campaign', async () => {
    const nobody = synod(['elect', 'g', '--as', 'x', '--cluster', fresh()]);
    await until(() => nobody.out.some((l) => l.includes('still waiting')), 9000);
    expect(nobody.out.find((l) => l.includes('still waiting'))).toMatch(
      /still waiting: the election view has not caught up with the log \(.*learner.*\)/);
    nobody.stop();
    expect(await nobody.code).toBe(0);

    const cluster = fresh();
    const toy = toyLog(cluster, false);
    const stuck = synod(['elect', 'g', '--as', 'x', '--json', '--timeout', '1000',
      '--cluster', cluster]);
    await until(() => stuck.out.some((l) => l.includes('"event":"waiting"')), 12_000);
    const waiting = stuck.out.map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((e) => e['event'] === 'waiting');
    expect(waiting).toMatchObject({ reason: 'campaign' });
    expect(String(waiting?.['error'])).toMatch(/proposer|answer|outcome/i);
    stuck.stop();
    expect(await stuck.code).toBe(0);
    toy.stop();
  }, 30_000);

  test('usage errors: no --as, a bad group, a ttl below 100 ms', async () => {
    for (const argv of [['elect', 'g'], ['elect', 'a b', '--as', 'x'],
      ['elect', 'g', '--as', 'x', '--ttl', '50'], ['elect', '--as', 'x']]) {
      const run = synod(argv);
      expect(await run.code).toBe(2);
      expect(run.err.join('\n')).toMatch(/see synod elect --help/);
    }
  });
});
