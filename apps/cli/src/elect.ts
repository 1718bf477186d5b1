import {
  DEFAULT_TTL_MS,
  type HolderChange,
  type Leadership,
  SynodAbortedError,
  type SynodClient,
  type SynodLeaseLostError,
} from '@synod/client';
import { NAME_PATTERN } from '@synod/election';
import { type CommandLine, UsageError } from './args.js';
import type { CommandIo, Runner } from './commands.js';

/** How often `elect` says why it is still waiting, while it is. */
const WAIT_REPORT_MS = 5000;

/** `12:34:56.789`, local time: the prefix of every line. */
function clock(): string {
  const d = new Date();
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const ms = p(d.getMilliseconds(), 3);
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${ms}`;
}

/** Writes one event: a human line, or a JSON object with `--json`. */
type Say = (event: string, text: string, fields?: Record<string, unknown>) => void;

function sayer(io: CommandIo, json: boolean, group: string): Say {
  return (event, text, fields = {}) => {
    if (json) io.out(JSON.stringify({ time: new Date().toISOString(), event, group, ...fields }));
    else io.out(`${clock()}  ${text}`);
  };
}

function holderLine(h: HolderChange): string {
  switch (h.reason) {
    case 'current':
      return h.holder === null ? 'log: nobody holds the lease'
        : `log: ${h.holder} holds the lease (token ${h.token})`;
    case 'granted':
      return `log: granted to ${h.holder} (token ${h.token}) at slot ${h.slot}`;
    case 'renewed':
      return `log: ${h.holder} renewed (token ${h.token})`;
    case 'released':
      return `log: released at slot ${h.slot} (the holder resigned)`;
    case 'expired':
      return `log: the lease expired at slot ${h.slot}`;
  }
}

/**
 * `synod elect <group> --as <id> [--ttl ms]`: campaigns for a group's lease, then prints the
 * fencing token, each renewal and the loss of leadership, and campaigns again after a loss.
 * Ctrl-C resigns (so that another candidate takes over at once) and exits 0.
 */
export function planElect(cl: CommandLine): Runner {
  const [group, ...extra] = cl.args;
  if (group === undefined) throw new UsageError('elect needs a group name', 'elect');
  if (extra.length > 0) throw new UsageError('elect takes one group', 'elect');
  const as = cl.as;
  if (as === undefined) throw new UsageError('elect needs --as <candidate id>', 'elect');
  for (const [what, v] of [['group', group], ['--as', as]] as const) {
    if (!NAME_PATTERN.test(v)) {
      throw new UsageError(`${what} must be 1 to 128 characters of [A-Za-z0-9._:/-]`, 'elect');
    }
  }
  // --ttl is checked against MIN_TTL_MS..MAX_TTL_MS when parsed.
  const ttlMs = cl.ttlMs ?? DEFAULT_TTL_MS;
  return async (client, io) => {
    const say = sayer(io, cl.json, group);
    void followHolders(client, group, say, io.signal);
    say('campaigning', `campaigning for ${group} as ${as} (lease ${ttlMs} ms)`,
      { candidate: as, ttlMs });
    while (!io.signal.aborted) {
      let lead: Leadership;
      // elect() waits as long as it takes; every few seconds without a result, say why.
      let retry: string | null = null;
      const stalled = setInterval(() => {
        const view = client.electionViewStatus();
        if (view !== null && !view.caughtUp) {
          say('waiting', 'still waiting: the election view has not caught up with the log' +
            (view.lastError === null ? '' : ` (${view.lastError})`),
          { reason: 'view', error: view.lastError });
        } else if (retry !== null) {
          say('waiting', `still waiting: the campaign is not decided yet (${retry}); retrying`,
            { reason: 'campaign', error: retry });
          retry = null;
        }
      }, WAIT_REPORT_MS);
      try {
        lead = await client.elect(group, as, { ttlMs, signal: io.signal,
          onRetry: (e) => { retry = e.message; } });
      } catch (e) {
        if (e instanceof SynodAbortedError && io.signal.aborted) return;
        throw e;
      } finally {
        clearInterval(stalled);
      }
      await lead_(lead, as, say, io.signal);
      if (!io.signal.aborted) say('campaigning', 'campaigning again', { candidate: as });
    }
  };
}

/** Reports one term from election to loss (or to Ctrl-C, which resigns). */
async function lead_(lead: Leadership, as: string, say: Say, stop: AbortSignal): Promise<void> {
  say('elected', `ELECTED: ${as} leads ${lead.group} with fencing token ${lead.token} ` +
    `(valid for ${Math.round(lead.validForMs)} ms unless renewed)`,
  { candidate: as, token: lead.token, validForMs: Math.round(lead.validForMs) });
  lead.on('renewed', (r) => say('renewed', `renewed: token ${r.token}, valid for ` +
    `${Math.round(r.validForMs)} ms`, { token: r.token, validForMs: Math.round(r.validForMs) }));
  const lost = await new Promise<SynodLeaseLostError>((resolve) => {
    const e = lead.lostReason;
    if (e !== null) resolve(e);
    else lead.once('lost', resolve);
  });
  if (stop.aborted) {
    await lead.resign();
    say('resigned', `resigned: token ${lead.token} released`, { token: lead.token });
    return;
  }
  say('lost', `LOST leadership (${lost.reason}): ${lost.message}`,
    { token: lead.token, reason: lost.reason });
}

/** Prints the log's view of the group's holder as it changes, until Ctrl-C. */
async function followHolders(client: SynodClient, group: string, say: Say,
  signal: AbortSignal): Promise<void> {
  try {
    for await (const h of client.observe(group, { signal })) {
      say('holder', holderLine(h), { holder: h.holder, token: h.token, slot: h.slot,
        reason: h.reason });
    }
  } catch {
    // The client closed: the command is ending anyway.
  }
}
