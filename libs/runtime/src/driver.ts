import {
  DecodeError,
  encode,
  EncodeError,
  type Limits,
  SubjectError,
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
  type Ready,
  type Role,
} from '@synod/protocol';
import type { Logger } from './logger.js';
import type { Headers, Subscription, Transport, TransportMessage } from './ports.js';

/** The driver's view of any core: the etcd-raft style step/tick/ready/advance contract. */
export interface Core<P> {
  step(m: Message): void;
  tick(): void;
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
  readonly logger: Logger;
  readonly limits?: Partial<Limits>;
  readonly hooks?: DriverHooks;
  /** Queue group for client request broadcasts (proposers): each request reaches one proposer. */
  readonly requestQueue?: string;
  /** How long a client's reply subject is kept waiting for the core's response. */
  readonly replyTtlMs?: number;
}

interface PendingReply {
  readonly msg: TransportMessage;
  readonly expires: number;
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
  private readonly o: DriverOptions<P>;
  private readonly subs: Subscription[] = [];
  private readonly replies = new Map<string, PendingReply>();
  private timer: NodeJS.Timeout | null = null;
  private pumping = false;
  private stopped = false;
  private failed = false;
  private idle: Promise<void> = Promise.resolve();
  private counts = { delivered: 0, sent: 0, persisted: 0 };

  constructor(o: DriverOptions<P>) {
    this.o = o;
  }

  /** Delivered, sent and persisted counts since start. */
  get stats(): { delivered: number; sent: number; persisted: number; rejected: number } {
    let rejected = 0;
    for (const n of this.rejected.values()) rejected += n;
    return { ...this.counts, rejected };
  }

  /** Subscribes to the role's subjects and starts the clock. */
  start(): void {
    const { cluster, role, id, transport } = this.o;
    for (const subject of subscriptionsFor(cluster, role, id)) {
      const isClientRequests = role === 'proposer' && subject === `synod.${cluster}.request.*`;
      const opts = isClientRequests && this.o.requestQueue !== undefined
        ? { queue: this.o.requestQueue } : {};
      this.subs.push(transport.subscribe(subject, (m) => this.onDelivery(m), opts));
    }
    this.timer = setInterval(() => this.onTick(), this.o.tickMs);
    this.timer.unref?.();
  }

  /** Steps a message produced locally (not from the bus), e.g. by an embedded client. */
  inject(m: Message): void {
    if (this.stopped || this.failed) return;
    this.o.core.step(m);
    this.pump();
  }

  /** Stops the clock and subscriptions, then waits for the Ready in progress to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    for (const s of this.subs) s.unsubscribe();
    this.subs.length = 0;
    await this.idle;
  }

  private onTick(): void {
    if (this.stopped || this.failed) return;
    this.o.core.tick();
    this.expireReplies();
    this.pump();
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
    if (m.type === 'request' && m.to === undefined) {
      if (t.reply !== undefined) this.rememberReply(m.from, commandKey(m.cmd), t);
    }
    this.counts.delivered++;
    this.o.hooks?.onInbound?.(m, t);
    this.o.core.step(m);
    this.pump();
  }

  private reject(reason: string, subject: string, detail: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
    this.o.hooks?.onRejected?.(reason, subject, detail);
    this.o.logger.warn({ reason, subject, detail: detail.slice(0, 300) }, 'rejected delivery');
  }

  private pump(): void {
    if (this.pumping || this.failed) return;
    if (!this.o.core.hasReady()) return;
    this.pumping = true;
    this.idle = this.drain().then(
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
      if (r.persist !== null && this.o.persist !== undefined) {
        const t0 = performance.now();
        await this.o.persist(r.persist);
        this.counts.persisted++;
        this.o.hooks?.onPersisted?.(performance.now() - t0);
      }
      for (const m of r.messages) this.send(m);
      if (r.events.length > 0) this.o.hooks?.onEvents?.(r.events);
      if (r.committed.length > 0 && this.o.onCommitted !== undefined) {
        await this.o.onCommitted(r.committed);
      }
    }
  }

  private send(m: Message): void {
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

  private rememberReply(from: string, key: string, t: TransportMessage): void {
    const ttl = this.o.replyTtlMs ?? 30_000;
    if (this.replies.size >= 100_000) this.expireReplies(true);
    this.replies.set(`${from}|${key}`, { msg: t, expires: Date.now() + ttl });
  }

  private expireReplies(force = false): void {
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
