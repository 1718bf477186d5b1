import { type SynodClient, SynodUnavailableError } from '@synod/client';
import { type CommandLine, parseUint, UsageError } from './args.js';
import type { Settings } from './config.js';
import { planElect } from './elect.js';
import {
  entryJson,
  entryLines,
  proposedJson,
  proposedLine,
  rangeLines,
  statusJson,
  statusLines,
} from './format.js';

/** Where a command writes, and what stops it. */
export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
  /** Aborted on Ctrl-C. */
  readonly signal: AbortSignal;
}

/** A command whose arguments were checked, ready to run once connected. */
export type Runner = (client: SynodClient, io: CommandIo, s: Settings) => Promise<void>;

/** Checks the arguments of `cl`'s command (throws {@link UsageError}) and returns its runner. */
export function planCommand(cl: CommandLine): Runner {
  switch (cl.command) {
    case 'propose':
      return planPropose(cl);
    case 'read':
      return planRead(cl);
    case 'watch':
      return planWatch(cl);
    case 'status':
      return planStatus(cl);
    case 'elect':
      return planElect(cl);
    case 'help':
    case 'trace':
    case null:
      throw new Error(`${cl.command ?? 'help'} is not a command that connects`);
  }
}

function planPropose(cl: CommandLine): Runner {
  if (cl.args.length === 0) throw new UsageError('propose needs a value', 'propose');
  const payload = cl.args.join(' ');
  return async (client, io) => {
    const t0 = performance.now();
    const p = await client.propose(payload, {
      signal: io.signal, ...(cl.seq === undefined ? {} : { seq: cl.seq }),
    });
    const ms = performance.now() - t0;
    io.out(cl.json ? proposedJson(p, ms) : proposedLine(p, ms));
  };
}

function planRead(cl: CommandLine): Runner {
  if (cl.from !== undefined) {
    if (cl.args.length > 0) {
      throw new UsageError('give either a slot or --from N, not both', 'read');
    }
    const from = cl.from;
    const limit = cl.limit ?? 100; // at most MAX_READ_LIMIT, checked when parsed
    return async (client, io) => {
      const r = await client.readRange(from, limit, { signal: io.signal });
      if (cl.json) io.out(JSON.stringify(r));
      else for (const line of rangeLines(r, from)) io.out(line);
    };
  }
  if (cl.limit !== undefined) throw new UsageError('--limit goes with --from N', 'read');
  const [raw, ...extra] = cl.args;
  if (raw === undefined) throw new UsageError('read needs a slot, or --from N', 'read');
  if (extra.length > 0) throw new UsageError('read takes one slot', 'read');
  const slot = parseUint(raw, 'slot', 'read');
  return async (client, io) => {
    const e = await client.read(slot, { signal: io.signal });
    if (cl.json) {
      const dups = e?.dups === undefined ? {} : { dups: e.dups };
      io.out(JSON.stringify(e === null ? { slot, decided: false }
        : { slot, decided: true, value: e.value, ...dups }));
    } else if (e === null) {
      io.out(`slot ${slot}  (not decided yet)`);
    } else {
      for (const line of entryLines(e)) io.out(line);
    }
  };
}

function planWatch(cl: CommandLine): Runner {
  if (cl.args.length > 0) throw new UsageError('watch takes no arguments (use --from N)', 'watch');
  const from = cl.from ?? 0;
  return async (client, io) => {
    // Before the first successful read, a failure ends the command (nothing answers at all);
    // after it, learners may restart: warn and keep following.
    let started = false;
    const entries = client.watch(from, {
      signal: io.signal,
      onCaughtUp: () => {
        started = true;
      },
      onError: (e, info) => {
        if (!started) return false;
        io.err(`synod: warning: ${e.message}; still trying (${info.failures} failed reads)`);
        return true;
      },
    });
    for await (const e of entries) {
      started = true;
      if (cl.json) io.out(entryJson(e));
      else for (const line of entryLines(e)) io.out(line);
    }
  };
}

function planStatus(cl: CommandLine): Runner {
  if (cl.args.length > 0) throw new UsageError('status takes no arguments', 'status');
  return async (client, io, s) => {
    const st = await client.status({ waitMs: cl.waitMs ?? 500 });
    if (st.services.length === 0) throw new SynodUnavailableError('no service answered');
    if (cl.json) io.out(statusJson(st, s.expectedAcceptors));
    else for (const line of statusLines(st, s.expectedAcceptors)) io.out(line);
  };
}
