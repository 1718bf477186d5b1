import {
  decodeProposeBatchReply,
  encodeApi,
  ERROR_HEADER,
  isTraceparent,
  leaderProposeSubject,
  MAX_PROPOSE_BATCH,
  proposeSubject,
  resolveLimits,
} from '@synod/codec';
import type { Command, Outcome } from '@synod/protocol';
import {
  type Headers,
  type Transport,
  type TransportMessage,
  TransportTimeoutError,
} from '@synod/runtime';

/** What one attempt ended with. `reached` attempts may have put the command in a proposer. */
export type Attempt =
  | { readonly kind: 'chosen'; readonly slot: number }
  | { readonly kind: 'conflict'; readonly slot: number }
  | { readonly kind: 'overloaded' }
  | { readonly kind: 'redirect'; readonly leader: string | null }
  | { readonly kind: 'no-responders' }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'bad-reply'; readonly detail: string; readonly cause?: unknown }
  | { readonly kind: 'error'; readonly cause: unknown }
  | { readonly kind: 'aborted' };

/** The attempt a proposer's outcome for a command stands for. */
export function attemptOf(o: Outcome): Attempt {
  switch (o.status) {
    case 'chosen':
      return { kind: 'chosen', slot: o.slot };
    case 'overloaded':
      return { kind: 'overloaded' };
    case 'redirect':
      return { kind: 'redirect', leader: o.leader };
    case 'conflict':
      return { kind: 'conflict', slot: o.slot };
  }
}

/** The attempt a failed request stands for, for every command it carried. */
export function attemptOfError(e: unknown): Attempt {
  if (e instanceof TransportTimeoutError) {
    return e.code === 'NO_RESPONDERS' ? { kind: 'no-responders' } : { kind: 'timeout' };
  }
  return { kind: 'error', cause: e };
}

/**
 * The attempt a reply stands for when a proposer refused the request whole (the error header,
 * with what was wrong in the body); null when it did not.
 */
export function refusedAttempt(reply: TransportMessage): Attempt | null {
  const code = reply.headers[ERROR_HEADER];
  if (code === undefined) return null;
  const why = new TextDecoder().decode(reply.data).slice(0, 1000);
  return {
    kind: 'bad-reply',
    detail: `a proposer refused the request: ${code}${why === '' ? '' : `: ${why}`}`,
  };
}

/** One command's attempt waiting in a {@link ProposeBatcher}. */
interface Item {
  readonly cmd: Command;
  readonly timeoutMs: number;
  /** The attempt's headers, as they go on a single request (trace context and baggage). */
  readonly headers: Headers | undefined;
  /** Its W3C traceparent as a batch carries it, or null for none (or a malformed one). */
  readonly traceparent: string | null;
  readonly signal: AbortSignal;
  readonly size: number;
  readonly resolve: (a: Attempt) => void;
}

/** Sends one command alone (the ordinary `request`), for a batch of one. */
export type SingleAttempt = (cmd: Command, timeoutMs: number, signal: AbortSignal,
  headers: Headers | undefined) => Promise<Attempt>;

/** Bytes of a batch besides its commands' payloads: room for ids, seqs and traces. */
const PER_COMMAND_OVERHEAD = 256;

/**
 * Coalesces the attempts that proposals on one transport start in the same turn of the event
 * loop into one `propose` batch request (client API, `synod.<c>.propose`), so that 64 callers
 * sharing a connection cost the bus, the leader and themselves one request and one reply
 * instead of 64 of each. Nothing waits for company: the batch leaves on the next turn
 * (`setImmediate`), and an attempt that finds itself alone goes out as the ordinary single
 * request. Each command keeps its identity, deadline and retries (the caller's loop decides
 * what to do with each outcome); a batch request that times out leaves every command in it
 * with an unknown outcome (each is retried), and one that no proposer takes (no responders)
 * or that a proposer refuses whole (`synod-error`: nothing was stepped) is sent again as
 * single requests, which older proposers also understand.
 */
export class ProposeBatcher {
  private queue: Item[] = [];
  private keys = new Set<string>();
  private scheduled = false;
  private readonly maxBytes: number;

  constructor(
    private readonly transport: Transport,
    private readonly cluster: string,
    private readonly single: SingleAttempt,
  ) {
    // Half the wire limit for payloads: JSON escaping and the envelope fit in the rest; a batch
    // that still encodes too large is split in two (see send).
    this.maxBytes = Math.floor(resolveLimits().maxMessageBytes / 2);
  }

  /** Queues one attempt; resolves with its outcome (never rejects). */
  submit(cmd: Command, timeoutMs: number, signal: AbortSignal,
    headers: Headers | undefined): Promise<Attempt> {
    return new Promise<Attempt>((resolve) => {
      const key = `${cmd.clientId}#${cmd.seq}`;
      // The same command twice in a batch is refused by proposers: send the earlier ones first.
      if (this.keys.has(key)) this.flush();
      this.keys.add(key);
      // Proposers refuse a whole batch for one malformed trace: a trace context that is not a
      // W3C traceparent (a custom propagator's) is left out rather than failing the others.
      const tp = headers?.traceparent;
      this.queue.push({
        cmd, timeoutMs, signal, resolve, headers, traceparent: isTraceparent(tp) ? tp : null,
        size: cmd.payload.length * 3 + cmd.clientId.length + PER_COMMAND_OVERHEAD,
      });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const items = this.queue.filter((i) => {
      if (!i.signal.aborted) return true;
      i.resolve({ kind: 'aborted' });
      return false;
    });
    this.queue = [];
    this.keys = new Set();
    let chunk: Item[] = [];
    let bytes = 0;
    for (const it of items) {
      if (chunk.length > 0 &&
        (chunk.length >= MAX_PROPOSE_BATCH || bytes + it.size > this.maxBytes)) {
        this.send(chunk);
        chunk = [];
        bytes = 0;
      }
      chunk.push(it);
      bytes += it.size;
    }
    if (chunk.length > 0) this.send(chunk);
  }

  private send(items: Item[]): void {
    if (items.length === 1) {
      // Exactly the request it would have been without batching, every header included.
      const it = items[0] as Item;
      void this.single(it.cmd, it.timeoutMs, it.signal, it.headers).then(it.resolve);
      return;
    }
    const traced = items.some((i) => i.traceparent !== null);
    const data = encodeApi({
      cmds: items.map((i) => i.cmd),
      ...(traced ? { traces: items.map((i) => i.traceparent) } : {}),
    });
    if (data.byteLength > resolveLimits().maxMessageBytes) {
      const half = Math.ceil(items.length / 2);
      this.send(items.slice(0, half));
      this.send(items.slice(half));
      return;
    }
    // The request waits as long as the longest attempt may; an item whose own attempt is
    // shorter times out on its own timer, so one short deadline never cuts its batch-mates'.
    const started = Date.now();
    let timeoutMs = 0;
    for (const i of items) timeoutMs = Math.max(timeoutMs, i.timeoutMs);
    const timers: NodeJS.Timeout[] = [];
    for (const i of items) {
      if (i.timeoutMs < timeoutMs) {
        timers.push(setTimeout(() => i.resolve({ kind: 'timeout' }), i.timeoutMs));
      }
    }
    const settle = (): void => {
      for (const t of timers) clearTimeout(t);
    };
    // Nothing of the batch reached a proposer's core (refused whole, or nobody takes batches,
    // e.g. proposers older than batches): each command is sent alone instead, in the time its
    // attempt has left.
    const alone = (): void => {
      const spent = Date.now() - started;
      for (const it of items) {
        void this.single(it.cmd, Math.max(1, it.timeoutMs - spent), it.signal, it.headers)
          .then(it.resolve);
      }
    };
    this.transport.request(proposeSubject(this.cluster), data, { timeoutMs }).then(
      (reply) => {
        settle();
        if (reply.headers[ERROR_HEADER] !== undefined) {
          alone();
          return;
        }
        let outcomes: readonly Outcome[];
        try {
          outcomes = decodeProposeBatchReply(reply.data, items.length).outcomes;
        } catch (e) {
          const a: Attempt = {
            kind: 'bad-reply', detail: 'a batch reply did not decode', cause: e,
          };
          for (const i of items) i.resolve(a);
          return;
        }
        items.forEach((it, k) => it.resolve(attemptOf(outcomes[k] as Outcome)));
      },
      (e: unknown) => {
        settle();
        const a = attemptOfError(e);
        if (a.kind === 'no-responders') {
          alone();
          return;
        }
        for (const i of items) i.resolve(a);
      },
    );
  }
}

/**
 * One attempt as a batch of one on `synod.<c>.propose.leader`, which every proposer hears and
 * only one that believes it leads answers: what a proposal sends after an attempt timed out.
 * A proposer that is paused or hung keeps its place in the queue group until NATS drops its
 * connection (minutes, with NATS's default pings), and would take about half of the retries
 * sent there; it cannot answer here either, but the live leader does.
 */
export async function leaderAttempt(
  transport: Transport,
  cluster: string,
  cmd: Command,
  timeoutMs: number,
  headers: Headers | undefined,
): Promise<Attempt> {
  const tp = headers?.traceparent;
  const data = encodeApi({ cmds: [cmd], ...(isTraceparent(tp) ? { traces: [tp] } : {}) });
  let reply;
  try {
    reply = await transport.request(leaderProposeSubject(cluster), data, { timeoutMs });
  } catch (e) {
    return attemptOfError(e);
  }
  const refused = refusedAttempt(reply);
  if (refused !== null) return refused;
  try {
    return attemptOf(decodeProposeBatchReply(reply.data, 1).outcomes[0] as Outcome);
  } catch (e) {
    return { kind: 'bad-reply', detail: 'a reply did not decode', cause: e };
  }
}

const batchers = new WeakMap<Transport, Map<string, ProposeBatcher>>();

/** The batcher of `transport` for `cluster`: shared by every client over that transport. */
export function batcherFor(transport: Transport, cluster: string, single: SingleAttempt):
  ProposeBatcher {
  let m = batchers.get(transport);
  if (m === undefined) {
    m = new Map();
    batchers.set(transport, m);
  }
  let b = m.get(cluster);
  if (b === undefined) {
    b = new ProposeBatcher(transport, cluster, single);
    m.set(cluster, b);
  }
  return b;
}
