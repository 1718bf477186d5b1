import {
  decodeProposeBatch,
  DecodeError,
  encode,
  encodeApi,
  ERROR_HEADER,
  EncodeError,
  leaderProposeSubject,
  type Limits,
  SubjectError,
  proposeSubject,
  subjectFor,
  subscriptionsFor,
  tryDecodeDelivery,
} from '@synod/codec';
import {
  commandKey,
  type CoreEvent,
  type Decision,
  describeMessage,
  type Message,
  type MsgRequest,
  type Outcome,
  type Ready,
  type Role,
} from '@synod/protocol';
import type { Logger } from './logger.js';
import { LogLimiter } from './log-limiter.js';
import type {
  Headers,
  SubscribeOptions,
  Subscription,
  Transport,
  TransportMessage,
} from './ports.js';

/** The driver's view of any core: the etcd-raft style step/tick/ready/advance contract. */
export interface Core<P> {
  step(m: Message): void;
  /**
   * Optional: steps messages that arrived together (a propose batch's commands) as one
   * arrival; a core without it has each stepped in turn.
   */
  stepMany?(ms: readonly Message[]): void;
  tick(): void;
  /**
   * Optional: the core takes the wall clock as an input (a proposer stamps its batches with
   * it). The driver calls it with {@link DriverOptions.clockMs} before every step and tick.
   */
  setTime?(nowMs: number): void;
  hasReady(): boolean;
  ready(): Ready<P>;
  advance(): void;
}

/** Hooks through which telemetry observes the driver; all optional, all cheap when absent. */
export interface DriverHooks {
  /** A delivery was refused before reaching the core. */
  onRejected?(reason: string, subject: string, detail: string): void;
  /** A message is about to be stepped into the core. */
  onInbound?(m: Message, t: TransportMessage): void;
  /** Headers to attach to an outgoing message (trace context), or undefined. */
  outboundHeaders?(m: Message): Headers | undefined;
  /** A message left. */
  onSent?(m: Message, subject: string): void;
  /** A persist finished, with its duration in milliseconds. */
  onPersisted?(durationMs: number): void;
  /** The core reported events. */
  onEvents?(events: readonly CoreEvent[]): void;
  /**
   * A Ready was taken from the core, before any of it is carried out: telemetry starts the
   * spans of its events here, so that the messages it sends can carry their context.
   */
  onReady?(r: Ready<unknown>): void;
  /**
   * The Ready's persist starts. The function returned, if any, is called once the write is
   * durable (or failed, with the error), before any message of that Ready is sent: a span of
   * the write ends before the replies it guards leave.
   */
  onPersistStart?(r: Ready<unknown>): ((error?: unknown) => void) | undefined;
  /** The Ready was carried out: persisted, sent, events reported, decisions applied. */
  onReadyDone?(r: Ready<unknown>): void;
}

/** Settings of a {@link CoreDriver}. */
export interface DriverOptions<P> {
  readonly cluster: string;
  readonly role: Role;
  readonly id: string;
  readonly core: Core<P>;
  readonly transport: Transport;
  /** Makes a Ready's state durable; the driver sends nothing of that Ready before it resolves. */
  readonly persist?: (p: P) => Promise<void>;
  /** Receives decisions after persist and send, in the order the core produced them. */
  readonly onCommitted?: (d: readonly Decision[]) => void | Promise<void>;
  /** Called when persisting failed: state in memory is ahead of the disk; stop voting. */
  readonly onFatal: (e: unknown) => void;
  readonly tickMs: number;
  /** The wall clock given to cores that take one (`setTime`); default `Date.now`. */
  readonly clockMs?: () => number;
  readonly logger: Logger;
  readonly limits?: Partial<Limits>;
  readonly hooks?: DriverHooks;
  /** Queue group for client request broadcasts (proposers): each request reaches one proposer. */
  readonly requestQueue?: string;
  /** How long a client's reply subject is kept waiting for the core's response. */
  readonly replyTtlMs?: number;
  /**
   * Sees every valid inbound message before the core does: for work that is the driver's, not
   * the core's (a learner answers catch-ups from its durable log; see {@link sendDirect}).
   */
  readonly onMessage?: (m: Message) => void;
  /**
   * Whether to hear acceptors' broadcast votes (`accepted` without `to`) from the start;
   * default true. A learner that learns from the leader's `chosen` alone, or a follower
   * proposer that knows a live leader, need not wake for every vote; see {@link setVoteIntake}.
   * Addressed votes (answers to catch-ups) are always heard.
   */
  readonly votes?: boolean;
  /**
   * Least time between two `catchup`s of one sender that this node answers (default two
   * ticks; 0: no limit). One catch-up draws up to 256 answers from every node, so a sender
   * asking faster than a lagging node does (a learner every 6 ticks or more, a proposer every
   * retry period) is a flood; the extra ones are dropped and counted (`rate-limited:catchup`).
   * A dropped catch-up is asked again.
   */
  readonly catchupIntervalMs?: number;
  /**
   * For a proposer: whether it believes it leads now. When given, the driver also hears
   * propose batches on `synod.<c>.propose.leader` (no queue group: every proposer hears them)
   * and takes them only while this says true; the others are ignored, unanswered, and counted
   * (`batchesNotLeader`). Clients retry there after a timeout, so that a retry reaches the
   * leader even while a paused or hung proposer still holds its place in the queue group.
   */
  readonly isLeader?: () => boolean;
  /**
   * Rejected deliveries logged one by one per reason within {@link rejectLogWindowMs}
   * (default 20); the rest are counted in `rejected` as every one is, and summed up in one line
   * when the window ends. Bounds the log of a node under a flood of bad messages.
   */
  readonly rejectLogBurst?: number;
  /** The window of {@link rejectLogBurst}, in milliseconds (default 10,000). */
  readonly rejectLogWindowMs?: number;
}

/** A subscription that can be dropped and taken again. */
interface Intake {
  readonly subject: string;
  readonly opts: SubscribeOptions;
  sub: Subscription | null;
  /** Deliveries are propose batches (client API), not protocol messages. */
  readonly batches?: boolean;
}

interface PendingReply {
  readonly msg: TransportMessage;
  readonly expires: number;
}

/** A propose batch waiting for the core's response to each of its commands. */
interface PendingBatch {
  readonly msg: TransportMessage;
  readonly expires: number;
  readonly outcomes: (Outcome | undefined)[];
  missing: number;
}

/**
 * Drives one core over a transport. Inbound deliveries are decoded and checked against their
 * subject (bad ones are counted by reason, logged and dropped: they never reach the core),
 * then stepped. After every step and tick the driver carries out the core's Ready strictly in
 * the contract's order: persist (awaited), then send, then hand decisions to the application.
 * Ready batches are processed one at a time, so messages that arrive during a persist are
 * folded into the next Ready and share its single store round trip.
 */
export class CoreDriver<P> {
  /** Deliveries refused, by reason. */
  readonly rejected = new Map<string, number>();
  /** When each sender's last answered catch-up arrived (`performance.now()`). */
  private readonly lastCatchup = new Map<string, number>();
  private lastRateLog = -Infinity;
  /** Bounds the "rejected delivery" lines (see {@link DriverOptions.rejectLogBurst}). */
  private readonly rejectLog: LogLimiter;
  private readonly o: DriverOptions<P>;
  private readonly subs: Subscription[] = [];
  private readonly replies = new Map<string, PendingReply>();
  /**
   * `<clientId>|<clientId>#<seq>` of a batched command -> every batch waiting for it (a retry
   * may come in a second batch while the first still waits) and its index there.
   */
  private readonly batched = new Map<string, { batch: PendingBatch; index: number }[]>();
  /** Entries of all the lists in {@link batched}. */
  private batchedWaits = 0;
  /** A proposer's client subscriptions (requests, batches); {@link setClientIntake} toggles. */
  private readonly intakes: Intake[] = [];
  /** The broadcast vote subscription, which {@link setVoteIntake} toggles. */
  private voteIntake: Intake | null = null;
  private timer: NodeJS.Timeout | null = null;
  private pumping = false;
  private stopped = false;
  private failed = false;
  private idle: Promise<void> = Promise.resolve();
  private counts = { delivered: 0, sent: 0, persisted: 0 };
  /**
   * Propose batches taken, and the commands in them (proposers); leader-only batches heard
   * while not leading, and ignored.
   */
  private batchCounts = { batches: 0, batchedCommands: 0, batchesNotLeader: 0 };
  /** The leader-only propose subscription (proposers given `isLeader`). */
  private leaderIntake: Subscription | null = null;

  constructor(o: DriverOptions<P>) {
    this.o = o;
    this.rejectLog = new LogLimiter({
      burst: o.rejectLogBurst ?? 20, windowMs: o.rejectLogWindowMs ?? 10_000,
    });
  }

  /** Delivered, sent and persisted counts since start. */
  get stats(): {
    delivered: number; sent: number; persisted: number; rejected: number;
    batches?: number; batchedCommands?: number; batchesNotLeader?: number;
  } {
    let rejected = 0;
    for (const n of this.rejected.values()) rejected += n;
    return this.o.role === 'proposer'
      ? { ...this.counts, rejected, ...this.batchCounts } : { ...this.counts, rejected };
  }

  /** Subscribes to the role's subjects and starts the clock. */
  start(): void {
    const { cluster, role, id, transport } = this.o;
    for (const subject of subscriptionsFor(cluster, role, id)) {
      const isClientRequests = role === 'proposer' && subject === `synod.${cluster}.request.*`;
      const opts = isClientRequests && this.o.requestQueue !== undefined
        ? { queue: this.o.requestQueue } : {};
      if (isClientRequests) {
        this.intakes.push({ subject, opts, sub: null },
          { subject: proposeSubject(cluster), opts, sub: null, batches: true });
        this.setClientIntake(true);
        const isLeader = this.o.isLeader;
        if (isLeader !== undefined) {
          // Not toggled with the queue-group intake: a follower must hear these to take them
          // the moment it becomes leader.
          this.leaderIntake = transport.subscribe(leaderProposeSubject(cluster), (m) => {
            if (isLeader()) {
              this.onBatch(m);
            } else if (!this.stopped) {
              this.batchCounts.batchesNotLeader++;
            }
          });
        }
      } else if (subject === `synod.${cluster}.accepted.*`) {
        this.voteIntake = { subject, opts, sub: null };
        this.setVoteIntake(this.o.votes ?? true);
      } else {
        this.subs.push(transport.subscribe(subject, (m) => this.onDelivery(m), opts));
      }
    }
    this.timer = setInterval(() => this.onTick(), this.o.tickMs);
    this.timer.unref?.();
  }

  /**
   * Joins (true) or leaves (false) the client request queue group, for a proposer; other roles
   * have no intake and ignore this. A follower that knows a live leader leaves it, so that
   * clients' requests reach the leader directly instead of half of them taking the extra
   * forward-and-answer hops through the follower.
   */
  setClientIntake(open: boolean): void {
    for (const i of this.intakes) this.toggle(i, open);
  }

  /**
   * Hears (true) or stops hearing (false) acceptors' broadcast votes. A follower proposer that
   * knows a live leader learns decisions from the leader's `chosen` and need not wake for the
   * three votes of every slot; a candidate or leader must hear them.
   */
  setVoteIntake(open: boolean): void {
    this.toggle(this.voteIntake, open);
  }

  private toggle(intake: Intake | null, open: boolean): void {
    if (intake === null || this.stopped || open === (intake.sub !== null)) return;
    if (open) {
      const handler = intake.batches === true
        ? (m: TransportMessage) => this.onBatch(m) : (m: TransportMessage) => this.onDelivery(m);
      intake.sub = this.o.transport.subscribe(intake.subject, handler, intake.opts);
    } else {
      intake.sub?.unsubscribe();
      intake.sub = null;
    }
  }

  /**
   * Sends a message that the application made, not the core (encoded and routed like the
   * core's own). Only for what needs no persist first: a learner's answer from its durable log.
   */
  sendDirect(m: Message): void {
    if (this.stopped || this.failed) return;
    this.send(m);
  }

  /** Steps a message produced locally (not from the bus), e.g. by an embedded client. */
  inject(m: Message): void {
    if (this.stopped || this.failed) return;
    this.giveTime();
    this.o.core.step(m);
    this.pump();
  }

  /** Stops the clock and subscriptions, then waits for the Ready in progress to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    for (const s of this.subs) s.unsubscribe();
    this.subs.length = 0;
    for (const i of [...this.intakes, this.voteIntake]) {
      i?.sub?.unsubscribe();
      if (i !== null) i.sub = null;
    }
    this.leaderIntake?.unsubscribe();
    this.leaderIntake = null;
    await this.idle;
  }

  private onTick(): void {
    if (this.stopped || this.failed) return;
    this.giveTime();
    this.o.core.tick();
    this.expireReplies();
    this.reportUnlogged();
    this.pump();
  }

  /** One line for each reason whose rejections went over the burst in a window that ended. */
  private reportUnlogged(): void {
    for (const s of this.rejectLog.flush()) {
      this.o.logger.warn({ reason: s.key, notLogged: s.suppressed, windowMs: s.windowMs },
        `${s.suppressed} more rejected deliveries (${s.key}) in ${s.windowMs / 1000} s, ` +
        'not logged one by one; each is counted in /status rejectedBy');
    }
  }

  private onDelivery(t: TransportMessage): void {
    if (this.stopped || this.failed) return;
    const opts = this.o.limits === undefined
      ? { cluster: this.o.cluster } : { cluster: this.o.cluster, limits: this.o.limits };
    const r = tryDecodeDelivery(t.subject, t.data, opts);
    if (!r.ok) {
      this.reject(rejectReason(r.error), t.subject, r.error.message);
      return;
    }
    const m = r.msg;
    if (m.type === 'catchup' && !this.admitCatchup(m.from)) return;
    if (m.type === 'request' && m.to === undefined) {
      if (t.reply !== undefined) this.rememberReply(m.from, commandKey(m.cmd), t);
    }
    this.counts.delivered++;
    this.o.hooks?.onInbound?.(m, t);
    this.o.onMessage?.(m);
    this.giveTime();
    this.o.core.step(m);
    this.pump();
  }

  /**
   * A propose batch (client API): each command is stepped as the request it would have been
   * alone (`from` its client), and the batch is answered once the core has answered every one
   * of them. A batch that does not decode is refused as a whole, counted and logged, and
   * answered with the reason's code in the error header and its text in the body; nothing of
   * it reaches the core.
   */
  private onBatch(t: TransportMessage): void {
    if (this.stopped || this.failed) return;
    let cmds;
    let traces;
    try {
      ({ cmds, traces } = decodeProposeBatch(t.data, this.o.limits));
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.reject(`decode:${e.reason}`, t.subject, e.message);
      if (t.reply !== undefined) {
        // The code in the header, what exactly was wrong (the field's path) in the body.
        this.o.transport.respond(t, new TextEncoder().encode(e.message.slice(0, 1000)),
          { [ERROR_HEADER]: `decode:${e.reason}` });
      }
      return;
    }
    this.counts.delivered++;
    this.batchCounts.batches++;
    this.batchCounts.batchedCommands += cmds.length;
    const batch: PendingBatch | null = t.reply === undefined ? null : {
      msg: t, expires: Date.now() + (this.o.replyTtlMs ?? 30_000),
      outcomes: new Array<Outcome | undefined>(cmds.length).fill(undefined), missing: cmds.length,
    };
    if (batch !== null && this.batchedWaits + cmds.length > 100_000) this.expireBatches(true);
    this.giveTime();
    const ms: MsgRequest[] = [];
    const hooks = this.o.hooks;
    for (let i = 0; i < cmds.length; i++) {
      const cmd = cmds[i] as MsgRequest['cmd'];
      const m: MsgRequest = { type: 'request', from: cmd.clientId, cmd };
      ms.push(m);
      if (batch !== null) {
        const key = `${cmd.clientId}|${commandKey(cmd)}`;
        const list = this.batched.get(key);
        if (list === undefined) this.batched.set(key, [{ batch, index: i }]);
        else list.push({ batch, index: i });
        this.batchedWaits++;
      }
      const tp = traces?.[i];
      if (hooks?.onInbound !== undefined) {
        hooks.onInbound(m, {
          subject: t.subject, data: t.data, reply: undefined,
          headers: tp == null ? {} : { traceparent: tp },
        });
      }
      this.o.onMessage?.(m);
    }
    const core = this.o.core;
    if (core.stepMany !== undefined) core.stepMany(ms);
    else for (const m of ms) core.step(m);
    this.pump();
  }

  /** Whether a catch-up from `from` is answered now (see `catchupIntervalMs`). */
  private admitCatchup(from: string): boolean {
    const interval = this.o.catchupIntervalMs ?? 2 * this.o.tickMs;
    if (interval <= 0) return true;
    const now = performance.now();
    const last = this.lastCatchup.get(from);
    if (last !== undefined && now - last < interval) {
      const reason = 'rate-limited:catchup';
      this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
      this.o.hooks?.onRejected?.(reason, from, 'catch-up sooner than catchupIntervalMs');
      if (now - this.lastRateLog >= 10_000) {
        this.lastRateLog = now;
        this.o.logger.warn({ reason, from, intervalMs: interval },
          'catch-ups arriving too fast: extra ones dropped (counted in rejectedBy)');
      }
      return false;
    }
    if (this.lastCatchup.size >= 10_000) {
      // Bounded by senders seen within one interval: older entries no longer limit anyone.
      for (const [k, t] of this.lastCatchup) if (now - t >= interval) this.lastCatchup.delete(k);
      // Ten thousand senders within one interval (spoofed ids, no NATS auth): forget them all
      // rather than sweep on every new one.
      if (this.lastCatchup.size >= 10_000) this.lastCatchup.clear();
    }
    this.lastCatchup.set(from, now);
    return true;
  }

  /** Feeds the wall clock to a core that takes one; the core itself never reads a clock. */
  private giveTime(): void {
    const core = this.o.core;
    if (core.setTime === undefined) return;
    core.setTime(Math.max(0, Math.floor((this.o.clockMs ?? Date.now)())));
  }

  private reject(reason: string, subject: string, detail: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
    this.o.hooks?.onRejected?.(reason, subject, detail);
    if (!this.rejectLog.admit(reason)) return;
    this.o.logger.warn({ reason, subject, detail: detail.slice(0, 300) }, 'rejected delivery');
  }

  private pump(): void {
    if (this.pumping || this.failed) return;
    if (!this.o.core.hasReady()) return;
    this.pumping = true;
    // The drain starts on the next turn of the event loop, not now: the rest of a burst that
    // arrived in the same read from the bus is stepped first and shares this Ready (for an
    // acceptor: one Redis round trip for every accept of the burst). Messages that arrive
    // while a persist is in flight are folded into the next Ready of the same drain.
    const nextTurn = new Promise<void>((resolve) => setImmediate(resolve));
    this.idle = nextTurn.then(() => this.drain()).then(
      () => {
        this.pumping = false;
        if (!this.stopped) this.pump();
      },
      (e: unknown) => {
        this.pumping = false;
        this.failed = true;
        this.o.logger.error({ err: e }, 'persist failed; this node stops voting');
        this.o.onFatal(e);
      },
    );
  }

  private async drain(): Promise<void> {
    const core = this.o.core;
    while (core.hasReady()) {
      const r = core.ready();
      core.advance();
      const hooks = this.o.hooks;
      hooks?.onReady?.(r);
      if (r.persist !== null && this.o.persist !== undefined) {
        const t0 = performance.now();
        const done = hooks?.onPersistStart?.(r);
        try {
          await this.o.persist(r.persist);
        } catch (e) {
          done?.(e);
          throw e;
        }
        done?.();
        this.counts.persisted++;
        hooks?.onPersisted?.(performance.now() - t0);
      }
      for (const m of r.messages) this.send(m);
      if (r.events.length > 0) hooks?.onEvents?.(r.events);
      if (r.committed.length > 0 && this.o.onCommitted !== undefined) {
        await this.o.onCommitted(r.committed);
      }
      hooks?.onReadyDone?.(r);
    }
  }

  private send(m: Message): void {
    if (m.type === 'response' && this.batched.size > 0 && this.answerBatched(m)) return;
    let data: Uint8Array;
    try {
      data = encode(m, this.o.limits);
    } catch (e) {
      if (!(e instanceof EncodeError)) throw e;
      // Past a wire limit (e.g. a promise reporting more votes than maxAcceptedEntries): the
      // message cannot leave. Dropping it is safe (Paxos tolerates loss); crashing is not.
      this.reject(`unsendable:${e.code}`, describeMessage(m), e.message);
      return;
    }
    const headers = this.o.hooks?.outboundHeaders?.(m);
    if (m.type === 'response') {
      const key = `${m.to}|${commandKey(m)}`;
      const pending = this.replies.get(key);
      if (pending !== undefined) {
        this.replies.delete(key);
        this.o.transport.respond(pending.msg, data, headers);
        this.counts.sent++;
        this.o.hooks?.onSent?.(m, pending.msg.reply ?? '');
        return;
      }
    }
    let subject: string;
    try {
      subject = subjectFor(this.o.cluster, m, this.o.limits);
    } catch (e) {
      // A client id that is not a valid subject token cannot be answered on the bus.
      this.o.logger.warn({ err: e, msg: describeMessage(m) }, 'unroutable message dropped');
      return;
    }
    this.o.transport.publish(subject, data, headers);
    this.counts.sent++;
    this.o.hooks?.onSent?.(m, subject);
  }

  /**
   * Records a response that a batch waits for; true when one did (the response is then not
   * published on its own, unless a single request for the same command waits too). The batch
   * is answered when its last outcome is in.
   */
  private answerBatched(m: Message & { type: 'response' }): boolean {
    const key = `${m.to}|${commandKey(m)}`;
    const waits = this.batched.get(key);
    if (waits === undefined) return false;
    this.batched.delete(key);
    this.batchedWaits -= waits.length;
    // A single request for the same command waits too: it is answered (and its send reported)
    // by the caller, so the send is reported once.
    const single = this.replies.has(key);
    if (!single) {
      // The command's answer leaves in the batch reply: reported as its send, with the
      // outbound hook first (a trace's `publish response` under the command's request span).
      this.o.hooks?.outboundHeaders?.(m);
      this.o.hooks?.onSent?.(m, waits[0]?.batch.msg.reply ?? '');
    }
    for (const w of waits) {
      const b = w.batch;
      if (b.outcomes[w.index] === undefined) {
        b.outcomes[w.index] = m.outcome;
        b.missing--;
      }
      if (b.missing === 0) {
        this.o.transport.respond(b.msg, encodeApi({ outcomes: b.outcomes as Outcome[] }));
        this.counts.sent++;
      }
    }
    return !single;
  }

  private rememberReply(from: string, key: string, t: TransportMessage): void {
    const ttl = this.o.replyTtlMs ?? 30_000;
    if (this.replies.size >= 100_000) this.expireSingles(true);
    this.replies.set(`${from}|${key}`, { msg: t, expires: Date.now() + ttl });
  }

  private expireReplies(): void {
    this.expireBatches(false);
    this.expireSingles(false);
  }

  /** Drops expired batch waits; forced, the oldest until half the bound is left. */
  private expireBatches(force: boolean): void {
    if (this.batched.size === 0) return;
    const now = Date.now();
    for (const [k, waits] of this.batched) {
      const kept = force ? [] : waits.filter((w) => w.batch.expires > now);
      this.batchedWaits -= waits.length - kept.length;
      if (kept.length === 0) this.batched.delete(k);
      else if (kept.length < waits.length) this.batched.set(k, kept);
      if (force && this.batchedWaits < 50_000) break;
    }
  }

  /** Drops expired single-request replies; forced, the oldest until half the bound is left. */
  private expireSingles(force: boolean): void {
    if (this.replies.size === 0) return;
    const now = Date.now();
    for (const [k, p] of this.replies) {
      if (force || p.expires <= now) this.replies.delete(k);
      if (force && this.replies.size < 50_000) break;
    }
  }
}

function rejectReason(e: DecodeError | SubjectError): string {
  return e instanceof DecodeError ? `decode:${e.reason}` : `subject:${e.code}`;
}
