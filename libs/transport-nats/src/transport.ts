import { errors, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import {
  type Headers,
  type Logger,
  type SubscribeOptions,
  type Subscription,
  type Transport,
  type TransportMessage,
  TransportTimeoutError,
} from '@synod/runtime';
import { fromNatsHeaders, toNatsHeaders } from './headers.js';
import { type NatsConnectionStatus, type NatsStatusEvent, toStatusEvent } from './status.js';

/** A message as the port wants it: lower-case headers, no reply subject as `undefined`. */
function toMessage(m: Msg): TransportMessage {
  return {
    subject: m.subject,
    data: m.data,
    headers: fromNatsHeaders(m.headers),
    reply: m.reply === undefined || m.reply === '' ? undefined : m.reply,
  };
}

/** Publish options carrying `headers` only when there are some. */
function withHeaders(h: Headers | undefined): { headers: MsgHdrs } | undefined {
  const nh = toNatsHeaders(h);
  return nh === undefined ? undefined : { headers: nh };
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return (
    typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function'
  );
}

/**
 * The {@link Transport} port over one NATS connection (made by `connectNats`). Subscriptions
 * use callbacks; an exception thrown (or a promise rejected) by a handler is logged and the
 * subscription goes on. Disconnects are ridden out by the client, which reconnects and restores
 * subscriptions; messages published meanwhile are buffered by it, and lost if it gives up.
 */
export class NatsTransport implements Transport {
  private readonly listeners = new Set<(e: NatsStatusEvent) => void>();
  private readonly watching: Promise<void>;
  private connected = true;
  private reconnects = 0;
  private closing: Promise<void> | undefined;

  /** @internal Use `connectNats`. */
  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly closeTimeoutMs: number,
  ) {
    // Started at once so no status between connect and the first onStatus() is missed.
    this.watching = this.watch();
  }

  /**
   * Fire-and-forget; buffered by the client while it reconnects. Throws on a closed connection
   * or an invalid subject (programmer errors).
   */
  publish(subject: string, data: Uint8Array, headers?: Headers): void {
    this.nc.publish(subject, data, withHeaders(headers));
  }

  /** Callback subscription, optionally in a queue group; restored by the client on reconnect. */
  subscribe(
    subject: string,
    handler: (m: TransportMessage) => void,
    opts?: SubscribeOptions,
  ): Subscription {
    const sub = this.nc.subscribe(subject, {
      ...(opts?.queue === undefined ? {} : { queue: opts.queue }),
      callback: (err, msg) => {
        if (err !== null) {
          this.log.warn({ err, subject }, 'nats subscription error');
          return;
        }
        this.dispatch(subject, handler, msg);
      },
    });
    return {
      unsubscribe: () => {
        if (!this.nc.isClosed() && !sub.isClosed()) sub.unsubscribe();
      },
    };
  }

  /**
   * One request, one reply. Rejects with `TransportTimeoutError` `TIMEOUT` after `timeoutMs`,
   * or `NO_RESPONDERS` at once when nobody subscribes to `subject`.
   */
  async request(
    subject: string,
    data: Uint8Array,
    opts: { readonly timeoutMs: number; readonly headers?: Headers },
  ): Promise<TransportMessage> {
    if (!(opts.timeoutMs >= 1)) throw new RangeError(`timeoutMs must be >= 1: ${opts.timeoutMs}`);
    const nh = toNatsHeaders(opts.headers);
    try {
      const m = await this.nc.request(subject, data, {
        timeout: opts.timeoutMs,
        ...(nh === undefined ? {} : { headers: nh }),
      });
      return toMessage(m);
    } catch (err) {
      throw toRequestError(err, subject, opts.timeoutMs);
    }
  }

  /**
   * Scatter-gather over the client's shared reply inbox: every reply within `maxWaitMs`, or
   * until `maxReplies` came. No responders is not an error here: it resolves with `[]`.
   */
  async requestMany(
    subject: string,
    data: Uint8Array,
    opts: { readonly maxWaitMs: number; readonly maxReplies?: number; readonly headers?: Headers },
  ): Promise<TransportMessage[]> {
    if (!(opts.maxWaitMs >= 1)) throw new RangeError(`maxWaitMs must be >= 1: ${opts.maxWaitMs}`);
    const max = opts.maxReplies;
    if (max !== undefined && !(max >= 1)) throw new RangeError(`maxReplies must be >= 1: ${max}`);
    const nh = toNatsHeaders(opts.headers);
    const out: TransportMessage[] = [];
    try {
      const replies = await this.nc.requestMany(subject, data, {
        strategy: max === undefined ? 'timer' : 'count',
        maxWait: opts.maxWaitMs,
        ...(max === undefined ? {} : { maxMessages: max }),
        ...(nh === undefined ? {} : { headers: nh }),
      });
      for await (const m of replies) out.push(toMessage(m));
    } catch (err) {
      if (!isNoResponders(err)) throw err;
    }
    return out;
  }

  /** Publishes to the request's reply subject; false (nothing sent) when it had none. */
  respond(to: TransportMessage, data: Uint8Array, headers?: Headers): boolean {
    if (to.reply === undefined) return false;
    this.nc.publish(to.reply, data, withHeaders(headers));
    return true;
  }

  /** Resolves once the server has processed everything published so far (a PING round trip). */
  flush(): Promise<void> {
    return this.nc.flush();
  }

  /**
   * Drains (subscriptions finish what they hold, pending publishes are flushed) and closes.
   * Gives up draining after the close timeout (e.g. while no server is reachable) and closes
   * anyway. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** A snapshot of the connection: up or not, which server, how many reconnects so far. */
  status(): NatsConnectionStatus {
    return {
      connected: this.connected && !this.nc.isClosed(),
      closed: this.nc.isClosed(),
      server: this.nc.getServer(),
      reconnects: this.reconnects,
    };
  }

  /**
   * Calls `listener` on every connection event (disconnect, reconnect, ...); returns the
   * function that stops it. Events are also logged (warn for trouble, info for recovery).
   */
  onStatus(listener: (e: NatsStatusEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private dispatch(subject: string, handler: (m: TransportMessage) => void, msg: Msg): void {
    const fail = (err: unknown): void =>
      this.log.error({ err, subject: msg.subject, sub: subject }, 'message handler failed');
    try {
      const r: unknown = handler(toMessage(msg));
      if (isThenable(r)) r.then(undefined, fail);
    } catch (err) {
      fail(err);
    }
  }

  private async watch(): Promise<void> {
    try {
      for await (const s of this.nc.status()) {
        const e = toStatusEvent(s);
        if (e !== undefined) this.announce(e);
      }
    } catch (err) {
      // Only reporting stops; the connection itself is unaffected.
      this.log.error({ err }, 'nats status watch failed');
    }
  }

  private announce(e: NatsStatusEvent): void {
    this.track(e);
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.log.error({ err }, 'nats status listener failed');
      }
    }
  }

  private track(e: NatsStatusEvent): void {
    switch (e.type) {
      case 'disconnect':
        this.connected = false;
        this.log.warn({ server: e.server }, 'nats disconnected');
        return;
      case 'reconnecting':
        this.log.debug({}, 'nats reconnecting');
        return;
      case 'reconnect':
        this.connected = true;
        this.reconnects++;
        this.log.info({ server: e.server, reconnects: this.reconnects }, 'nats reconnected');
        return;
      case 'ldm':
        this.log.warn({ server: e.server }, 'nats server entering lame duck mode');
        return;
      case 'stale':
        this.log.warn({}, 'nats connection stale');
        return;
      case 'slowConsumer':
        this.log.warn({ subject: e.subject, pending: e.pending }, 'nats slow consumer');
        return;
      case 'error':
        this.log.error({ err: e.error }, 'nats async error');
        return;
      case 'close':
        this.connected = false;
        this.log.debug({}, 'nats connection closed');
        return;
    }
  }

  private async shutdown(): Promise<void> {
    if (!this.nc.isClosed()) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), this.closeTimeoutMs);
      });
      const drained = Promise.resolve()
        .then(() => this.nc.drain())
        .then(
          () => 'drained' as const,
          (err: unknown) => {
            // Draining refuses when the connection is already closing; closing is the aim.
            this.log.debug({ err }, 'nats drain failed; closing');
            return 'failed' as const;
          },
        );
      const r = await Promise.race([drained, late]);
      clearTimeout(timer);
      if (r === 'late') this.log.warn({}, 'nats drain timed out; closing');
      if (!this.nc.isClosed()) await this.nc.close();
    }
    await this.nc.closed();
    await this.watching;
  }
}

/** Maps the client's request errors to the port's {@link TransportTimeoutError}. */
function toRequestError(err: unknown, subject: string, timeoutMs: number): unknown {
  if (err instanceof errors.TimeoutError) {
    return new TransportTimeoutError('TIMEOUT', `no reply on ${subject} within ${timeoutMs} ms`, {
      cause: err,
    });
  }
  if (isNoResponders(err)) {
    return new TransportTimeoutError('NO_RESPONDERS', `no responders on ${subject}`, {
      cause: err,
    });
  }
  return err;
}

/** The client's "nobody subscribes to that subject" (a 503 status from the server). */
function isNoResponders(err: unknown): boolean {
  return (
    err instanceof errors.NoRespondersError ||
    (err instanceof errors.RequestError && err.isNoResponders())
  );
}
