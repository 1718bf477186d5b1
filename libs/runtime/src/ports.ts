import type {
  AcceptorDurableState,
  AcceptorPersist,
  Decision,
  LearnerDurableState,
} from '@synod/protocol';

/** Message headers (W3C trace context, error codes). Keys are lower-case. */
export type Headers = Readonly<Record<string, string>>;

/** A message as a transport delivers it. */
export interface TransportMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Headers, lower-cased keys; empty when the message had none. */
  readonly headers: Headers;
  /** Where a reply goes (request/reply), if the sender asked for one. */
  readonly reply: string | undefined;
}

/** A live subscription. */
export interface Subscription {
  unsubscribe(): void;
}

/** Options of {@link Transport.subscribe}. */
export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group only. */
  readonly queue?: string;
}

/** Raised by {@link Transport.request} when no reply came in time or nobody listens. */
export class TransportTimeoutError extends Error {
  override readonly name = 'TransportTimeoutError';
  readonly code: 'TIMEOUT' | 'NO_RESPONDERS';
  constructor(code: 'TIMEOUT' | 'NO_RESPONDERS', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * The message bus port. The NATS adapter (`@synod/transport-nats`) implements it; nothing in
 * the runtime knows about NATS. Publishing is fire-and-forget: Paxos tolerates loss.
 */
export interface Transport {
  publish(subject: string, data: Uint8Array, headers?: Headers): void;
  subscribe(
    subject: string,
    handler: (m: TransportMessage) => void,
    opts?: SubscribeOptions,
  ): Subscription;
  /** Request/reply; rejects with {@link TransportTimeoutError} on timeout or no responders. */
  request(
    subject: string,
    data: Uint8Array,
    opts: { readonly timeoutMs: number; readonly headers?: Headers },
  ): Promise<TransportMessage>;
  /**
   * Scatter-gather: publishes a request and collects every reply that arrives within
   * `maxWaitMs` (or until `maxReplies`). Resolves with what came, possibly nothing.
   */
  requestMany(
    subject: string,
    data: Uint8Array,
    opts: { readonly maxWaitMs: number; readonly maxReplies?: number; readonly headers?: Headers },
  ): Promise<TransportMessage[]>;
  /** Replies to a request; false when it carried no reply subject. */
  respond(to: TransportMessage, data: Uint8Array, headers?: Headers): boolean;
  /** Resolves when the server has seen everything published so far. */
  flush(): Promise<void>;
  /** Drains subscriptions and closes the connection. */
  close(): Promise<void>;
}

/**
 * An acceptor's durable memory. `persist` resolves only once the write is durable (for Redis:
 * applied atomically and fsync'd under `appendfsync always`); only then may replies leave.
 */
export interface AcceptorStore {
  /** Loads the durable state, or rejects with a typed error (not durable, amnesia, ...). */
  load(): Promise<AcceptorDurableState>;
  persist(p: AcceptorPersist): Promise<void>;
  close(): Promise<void>;
}

/** A learner's durable log of decisions. */
export interface LearnerStore {
  /** The first undelivered slot and the decisions beyond it. */
  load(): Promise<LearnerDurableState>;
  /** Stores decisions and the new delivery point (every slot below it is delivered). */
  persist(decisions: readonly Decision[], nextSlot: number): Promise<void>;
  /** Decisions stored in the inclusive range, in slot order (missing slots are skipped). */
  read(fromSlot: number, toSlot: number): Promise<Decision[]>;
  close(): Promise<void>;
}
