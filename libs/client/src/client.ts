import { setMaxListeners } from 'node:events';
import { randomBytes } from 'node:crypto';
import {
  isValidToken,
  type LogEntry,
  type ReadReply,
  resolveLimits,
  utf8Length,
} from '@synod/codec';
import { type Logger, silentLogger, type Transport } from '@synod/runtime';
import { connectNats, NatsConnectError } from '@synod/transport-nats';
import {
  electLeader,
  type ElectionHost,
  type ElectOptions,
  type HolderChange,
  type Leadership,
  observeGroup,
  type ObserveOptions,
} from './election.js';
import { ElectionView, type ViewStart } from './election-view.js';
import { type CommandId, SynodAbortedError, SynodConnectError } from './errors.js';
import { batcherFor, type ProposeBatcher } from './batcher.js';
import { proposeCommand, type ProposeContext, type Proposed, singleAttempt } from './propose.js';
import { readEntries } from './read.js';
import { type ClusterStatus, gatherStatus } from './status.js';
import { SeqWindow } from './seq-window.js';
import { fetchElectionSnapshot } from './snapshot.js';
import { anySignal, checkMs, checkSeq, checkUint } from './time.js';
import { LogWatcher, type WatchOptions } from './watch.js';

/** Settings of a {@link SynodClient}. */
export interface SynodClientOptions {
  /** The cluster name, the second token of every subject; default `synod`. */
  readonly cluster?: string;
  /**
   * This client's id: 1 to 64 characters of `[A-Za-z0-9_-]`. Default `c-` and 12 random hex
   * digits. Reuse an id only to retry its commands, or with {@link nextSeq} past its old seqs.
   * The seq window guarantee (`SEQ_WINDOW`: an acknowledged command is always applied) holds
   * per client instance: a new instance reusing an id must start with `nextSeq` past every seq
   * the old one used.
   */
  readonly clientId?: string;
  /**
   * The first seq that {@link SynodClient.propose} uses when none is given; default 1. At least
   * 1: the deduplicators count seq 0 as already seen, so a command with seq 0 would never apply.
   */
  readonly nextSeq?: number;
  /** Default deadline of a propose or a read, in milliseconds; default 5000. */
  readonly timeoutMs?: number;
  /** Whether {@link SynodClient.close} also closes the transport; default false. */
  readonly ownsTransport?: boolean;
  /** How the bus is named in error messages (e.g. the NATS URL); default `NATS`. */
  readonly serverName?: string;
  /**
   * Whether proposals started in the same turn of the event loop by the clients sharing this
   * transport travel as one batch request (each command still chosen, answered and retried on
   * its own); default true. A proposal that finds itself alone is sent as a single request.
   * Off: every proposal attempt is its own request.
   */
  readonly batching?: boolean;
}

/** Settings of {@link SynodClient.connect}: the NATS server(s), credentials, and the client's. */
export interface ConnectOptions extends Omit<SynodClientOptions, 'ownsTransport' | 'serverName'> {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  readonly servers: string | readonly string[];
  readonly user?: string;
  readonly pass?: string;
  /** Where the NATS adapter logs connection events; default silent. */
  readonly logger?: Logger;
}

/** Options of {@link SynodClient.propose}. */
export interface ProposeOptions {
  /** Overall deadline in milliseconds; default the client's `timeoutMs`. */
  readonly timeoutMs?: number;
  /** Aborts the proposal: it rejects with {@link SynodAbortedError}. */
  readonly signal?: AbortSignal;
  /**
   * Reuse this seq instead of taking the next one: retries a command whose outcome was unknown
   * (same client id, same seq, same payload). Proposers answer a command they already decided
   * with its first slot, so the retry can never be chosen a second time. At least 1. A seq more
   * than `SEQ_WINDOW` (1024) below the client's next seq is refused at once with
   * {@link SynodStaleSeqError}. A seq ahead of the next seq is a new command: the next seq moves
   * past it when it starts (so retries of seqs far below it are refused from then on). A seq
   * already chosen with another payload is refused with {@link SynodConflictError} (while a
   * proposer still holds that decision: `SYNOD_RETAIN_DECIDED`).
   */
  readonly seq?: number;
}

/** Options of reads. */
export interface ReadOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** Options of {@link SynodClient.status}. */
export interface StatusOptions {
  /** How long to collect answers, in milliseconds; default 500. */
  readonly waitMs?: number;
  /** Stop as soon as this many services answered. */
  readonly maxReplies?: number;
}

/** The longest client id: it is a subject token (responses are addressed to it). */
const MAX_CLIENT_ID = resolveLimits().maxNodeIdLength;

/**
 * Most time an election view waits for a learner's snapshot before it replays the log from
 * slot 0 instead (a snapshot of a large deduplicator takes a learner some tens of ms).
 */
const SNAPSHOT_TIMEOUT_MS = 2000;

/** A fresh random client id: `c-` and 12 hex digits. */
export function randomClientId(): string {
  return `c-${randomBytes(6).toString('hex')}`;
}

/**
 * A client of a Synod cluster: proposes values (with retries that can never be chosen twice),
 * reads and watches the decided log, and asks the services for their status.
 *
 * ```ts
 * const client = await SynodClient.connect({ servers: 'nats://127.0.0.1:4222' });
 * const { slot } = await client.propose('SET x 1');
 * for await (const e of client.watch(0)) console.log(e.slot, e.value);
 * await client.close();
 * ```
 */
export class SynodClient {
  /** This client's id: the `clientId` of every command it proposes. */
  readonly clientId: string;
  readonly cluster: string;
  /** Default deadline of proposals and reads, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * The client id of this client's election commands ({@link elect}: campaigns, renewals,
   * resigns): a fresh random id per instance, with a seq window of its own. So application
   * proposals that fill this client's window never hold up a renewal (which would cost the
   * leadership), and each id keeps the guarantee of `SEQ_WINDOW` on its own.
   */
  readonly electionClientId: string;
  /** The next seq, the outstanding ones and the proposals waiting for the window. */
  private readonly seqs: SeqWindow;
  /** The same for election commands, under {@link electionClientId}. */
  private readonly electionSeqs: SeqWindow;
  /** The election view shared by {@link elect} and {@link observe}, made on first use. */
  private elections: ElectionView | null = null;
  private readonly transport: Transport;
  private readonly batcher: ProposeBatcher | undefined;
  private readonly ownsTransport: boolean;
  private readonly serverName: string;
  private readonly closing = (() => {
    const c = new AbortController();
    // Every operation in flight listens for close(); hundreds at once are normal, not a leak.
    setMaxListeners(0, c.signal);
    return c;
  })();

  /**
   * Connects to NATS and returns a client that owns the connection. Rejects with
   * {@link SynodConnectError} (a {@link SynodUnavailableError}) when no server can be reached.
   */
  static async connect(opts: ConnectOptions): Promise<SynodClient> {
    const servers = typeof opts.servers === 'string' ? [opts.servers] : [...opts.servers];
    const { servers: _s, user, pass, logger, ...rest } = opts;
    checkOptions(rest);
    const clientId = rest.clientId ?? randomClientId();
    let transport: Transport;
    try {
      transport = await connectNats({
        servers,
        name: `synod-client-${clientId}`,
        logger: logger ?? silentLogger,
        connectTimeoutMs: Math.min(rest.timeoutMs ?? 5000, 5000),
        ...(user === undefined ? {} : { user }),
        ...(pass === undefined ? {} : { pass }),
      });
    } catch (e) {
      if (e instanceof NatsConnectError) throw new SynodConnectError(servers, e.code, e.message, e);
      const why = e instanceof Error ? e.message : String(e);
      throw new SynodConnectError(servers, 'OTHER',
        `cannot connect to NATS at ${servers.join(', ')}: ${why}`, e);
    }
    return new SynodClient(transport, {
      ...rest, clientId, ownsTransport: true, serverName: servers.join(','),
    });
  }

  /** A client over an existing transport (which it closes only with `ownsTransport`). */
  constructor(transport: Transport, opts: SynodClientOptions = {}) {
    checkOptions(opts);
    this.transport = transport;
    this.cluster = opts.cluster ?? 'synod';
    this.clientId = opts.clientId ?? randomClientId();
    this.seqs = new SeqWindow(this.clientId, opts.nextSeq ?? 1);
    // Fresh, so seq 1 is past every seq it ever used (the clientId option's rule).
    this.electionClientId = randomClientId();
    this.electionSeqs = new SeqWindow(this.electionClientId, 1);
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.ownsTransport = opts.ownsTransport ?? false;
    this.serverName = opts.serverName ?? 'NATS';
    this.batcher = opts.batching === false ? undefined
      : batcherFor(transport, this.cluster, singleAttempt(transport, this.cluster));
  }

  /** The seq the next {@link propose} without a `seq` option will use. */
  get nextSeq(): number {
    return this.seqs.nextSeq;
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.closing.signal.aborted;
  }

  /**
   * Proposes `payload` (opaque UTF-8 text, at most 64 KiB) as the command
   * `(clientId, seq)` and resolves with the slot in which it was chosen.
   *
   * Each attempt is a request to the proposers' queue group that waits at most a second; a
   * lost one is sent again with the same seq until the deadline. Rejects with:
   * - {@link SynodUnavailableError} when every attempt found no proposer: nothing was proposed;
   * - {@link SynodOverloadedError} when proposers answered "overloaded" until the deadline;
   * - {@link SynodOutcomeUnknownError} when an attempt may have reached a proposer: the value
   *   may or may not be chosen. Retry with {@link retry} (or `propose(payload, { seq })`);
   * - {@link SynodAbortedError} when the signal aborted or the client closed
   *   (its `outcomeUnknown` says whether to retry as above);
   * - {@link SynodStaleSeqError} at once for an explicit `seq` more than `SEQ_WINDOW` below
   *   {@link nextSeq}: nothing was proposed and the command's outcome stays unknown;
   * - {@link SynodTimeoutError} when the proposal could not even start before its deadline
   *   (below): nothing was proposed.
   *
   * Seq window: the client never starts a seq `SEQ_WINDOW` (1024) or more past its oldest
   * proposal still in progress; a proposal beyond that waits (within its own deadline and
   * signal) until the older ones settle. With this, a command answered `chosen` is always
   * applied by the deduplicating readers of the log (see `SEQ_WINDOW`). Election commands
   * have a window of their own ({@link electionClientId}).
   */
  propose(payload: string, opts: ProposeOptions = {}): Promise<Proposed> {
    return this.proposeAs(this.clientId, this.seqs, payload, opts);
  }

  /** {@link propose} as `clientId`, whose seqs `seqs` keeps. */
  private async proposeAs(clientId: string, seqs: SeqWindow, payload: string,
    opts: ProposeOptions): Promise<Proposed> {
    this.checkOpen();
    if (typeof payload !== 'string') throw new TypeError('payload must be a string');
    const maxPayload = resolveLimits().maxPayloadBytes;
    const size = utf8Length(payload);
    if (size > maxPayload) {
      throw new RangeError(`payload is ${size} bytes once UTF-8 encoded; at most ${maxPayload}`);
    }
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    checkMs(timeoutMs, 'timeoutMs');
    if (opts.seq !== undefined) checkSeq(opts.seq, 'seq');
    const signal = anySignal([opts.signal, this.closing.signal]);
    const deadline = Date.now() + timeoutMs;
    // Started in this turn when the window allows (so that it can join this turn's batch).
    let seq = seqs.tryStart(opts.seq);
    let remainingMs = timeoutMs;
    if (seq === undefined) {
      seq = await seqs.wait(payload, opts.seq, timeoutMs, signal);
      remainingMs = Math.max(1, deadline - Date.now());
    }
    try {
      return await proposeCommand(this.context(), { clientId, seq, payload }, remainingMs,
        signal);
    } finally {
      seqs.finish(seq);
    }
  }

  /**
   * Retries a command whose outcome was unknown ({@link SynodOutcomeUnknownError} carries
   * everything needed). The command must belong to this client id: to retry from another
   * process, connect with the same `clientId` first. A seq more than `SEQ_WINDOW` (1024) below
   * {@link nextSeq} is refused at once with {@link SynodStaleSeqError} (nothing is proposed):
   * its outcome stays unknown, and only the log can tell whether it was decided.
   */
  retry(
    cmd: CommandId & { readonly payload: string },
    opts: Omit<ProposeOptions, 'seq'> = {},
  ): Promise<Proposed> {
    if (cmd.clientId !== this.clientId) {
      throw new RangeError(`command ${cmd.clientId}#${cmd.seq} belongs to another client id ` +
        `than ${this.clientId}: connect with clientId ${cmd.clientId} to retry it`);
    }
    return this.propose(cmd.payload, { ...opts, seq: cmd.seq });
  }

  /**
   * The decided entry of `slot`, or null when the learner that answered has not delivered it
   * yet (not decided, or that learner is behind). Rejects with {@link SynodUnavailableError}
   * (no learner), {@link SynodTimeoutError}, {@link SynodRejectedError},
   * {@link SynodProtocolError} or {@link SynodAbortedError}.
   */
  async read(slot: number, opts: ReadOptions = {}): Promise<LogEntry | null> {
    checkUint(slot, 'slot');
    const reply = await this.readRange(slot, 1, opts);
    const e = reply.entries[0];
    return e !== undefined && e.slot === slot ? e : null;
  }

  /**
   * Up to `limit` (1..1000) decided entries from `fromSlot`, from one learner, with its
   * delivery point (`nextSlot`: every slot below it is decided). A learner's answer is at most
   * 1 MiB, so with large commands it may hold fewer entries than asked (at least one when any
   * slot from `fromSlot` is delivered): read on from the slot after the last entry while that is
   * below `nextSlot`. Errors as {@link read}.
   */
  async readRange(fromSlot: number, limit: number, opts: ReadOptions = {}): Promise<ReadReply> {
    this.checkOpen();
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    checkMs(timeoutMs, 'timeoutMs');
    return readEntries(this.context(), fromSlot, limit, timeoutMs,
      anySignal([opts.signal, this.closing.signal]));
  }

  /**
   * Every decided entry from `fromSlot` on, in slot order, each exactly once, live: history
   * is read from learners, then entries arrive as learners deliver them. The iteration ends
   * when the signal aborts or the client closes; a failed read ends it with the error unless
   * `onError` says to keep going. Entries whose `dups` lists command indexes hold later copies
   * of commands already decided: an application skips those commands.
   */
  watch(fromSlot: number, opts: WatchOptions = {}): AsyncIterable<LogEntry> {
    checkUint(fromSlot, 'fromSlot');
    this.checkOpen();
    const signal = anySignal([opts.signal, this.closing.signal]);
    const timeoutMs = this.timeoutMs;
    const ctx = {
      transport: this.transport,
      cluster: this.cluster,
      read: (from: number, limit: number, s: AbortSignal) =>
        readEntries(this.context(), from, limit, timeoutMs, s),
    };
    return { [Symbol.asyncIterator]: () => new LogWatcher(ctx, fromSlot, signal, opts).entries() };
  }

  /**
   * Campaigns for the lease of `group` as `candidateId` and resolves once this client holds it,
   * with its fencing token ({@link Leadership.token}). While another candidate holds the
   * group, it waits for that lease to run out (or be released) and campaigns again. Once
   * elected it renews in the background; {@link Leadership.signal} aborts (and `lost` is
   * emitted) the moment a renewal can no longer be confirmed in time, and
   * {@link Leadership.resign} steps down. Rejects with {@link SynodAbortedError} when
   * `opts.signal` aborts or the client closes first. See docs/election.md for the guarantees.
   *
   * ```ts
   * const lead = await client.elect('orders', 'app-1', { ttlMs: 5000 });
   * lead.on('lost', (e) => console.log('stop leading:', e.reason));
   * while (lead.held) await write(data, lead.token); // the resource refuses older tokens
   * ```
   */
  elect(group: string, candidateId: string, opts: ElectOptions = {}): Promise<Leadership> {
    this.checkOpen();
    return electLeader(this.electionHost(), group, candidateId, opts);
  }

  /**
   * The holder of `group` as the log shows it: first the current state, then every change
   * (grant, release, expiry; renewals with `opts.renewals`), computed by applying the log
   * through the election state machine, from a learner's election snapshot when one is served
   * (else from slot 0; see {@link electionViewStatus}). Ends when the signal aborts or the
   * client closes.
   */
  observe(group: string, opts: ObserveOptions = {}): AsyncIterable<HolderChange> {
    this.checkOpen();
    return observeGroup(this.electionHost(), group, opts);
  }

  /**
   * This client's election view, for diagnostics: where it started (a learner's snapshot at a
   * slot, or a replay from slot 0 and why), the next slot it will apply, how many slots it
   * applied from the log, whether it has caught up, and the last error of its watch (it keeps
   * retrying: no learner answering shows here). Null before the first `elect` or `observe`.
   */
  electionViewStatus(): { started: ViewStart | null; nextSlot: number; applied: number;
    caughtUp: boolean; lastError: string | null } | null {
    const v = this.elections;
    if (v === null) return null;
    return { started: v.started, nextSlot: v.machine.nextSlot, applied: v.applied,
      caughtUp: v.isCaughtUp, lastError: v.lastError?.message ?? null };
  }

  private electionHost(): ElectionHost {
    this.elections ??= new ElectionView({
      clientId: this.electionClientId,
      watch: (from, o) => this.watch(from, o),
      electionSnapshot: (signal) => fetchElectionSnapshot(this.context(),
        Math.min(this.timeoutMs, SNAPSHOT_TIMEOUT_MS), anySignal([signal, this.closing.signal])),
    });
    const view = this.elections;
    return {
      clientId: this.electionClientId,
      timeoutMs: this.timeoutMs,
      closed: this.closing.signal,
      propose: (payload, o) => this.proposeAs(this.electionClientId, this.electionSeqs, payload,
        o),
      view: () => view,
    };
  }

  /** Asks every service for its status; see {@link ClusterStatus}. */
  async status(opts: StatusOptions = {}): Promise<ClusterStatus> {
    this.checkOpen();
    const waitMs = opts.waitMs ?? 500;
    checkMs(waitMs, 'waitMs');
    return gatherStatus(this.transport, this.cluster, waitMs, opts.maxReplies);
  }

  /**
   * Ends watches, aborts proposals and reads in progress (they reject with
   * {@link SynodAbortedError}) and, if the client owns it, closes the transport.
   */
  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort(new SynodAbortedError('the client was closed'));
    if (this.ownsTransport) await this.transport.close();
  }

  private context(): ProposeContext {
    const c = { transport: this.transport, cluster: this.cluster, server: this.serverName };
    return this.batcher === undefined ? c : { ...c, batcher: this.batcher };
  }

  private checkOpen(): void {
    if (this.closed) throw new SynodAbortedError('the client is closed');
  }
}

function checkOptions(o: SynodClientOptions): void {
  if (o.cluster !== undefined && !isValidToken(o.cluster)) {
    throw new RangeError(`cluster must be 1 to 64 characters of [A-Za-z0-9_-], got ` +
      JSON.stringify(o.cluster));
  }
  if (o.clientId !== undefined && !isValidToken(o.clientId, MAX_CLIENT_ID)) {
    throw new RangeError(`clientId must be 1 to ${MAX_CLIENT_ID} characters of [A-Za-z0-9_-], ` +
      `got ${JSON.stringify(o.clientId)}`);
  }
  if (o.nextSeq !== undefined) checkSeq(o.nextSeq, 'nextSeq');
  if (o.timeoutMs !== undefined) checkMs(o.timeoutMs, 'timeoutMs');
  if (o.batching !== undefined && typeof o.batching !== 'boolean') {
    throw new TypeError(`batching must be true or false, got ${JSON.stringify(o.batching)}`);
  }
}
