import type { Status } from '@nats-io/transport-node';

/**
 * A change of the connection worth logging, as {@link NatsTransport.onStatus} reports it.
 * `reconnect` means messages flow again; subscriptions are restored by the client.
 */
export type NatsStatusEvent =
  | { readonly type: 'disconnect'; readonly server: string }
  | { readonly type: 'reconnecting' }
  | { readonly type: 'reconnect'; readonly server: string }
  /** The server is in lame duck mode: it will shut down soon, the client will move. */
  | { readonly type: 'ldm'; readonly server: string }
  /** Too many pings went unanswered; the client will reconnect. */
  | { readonly type: 'stale' }
  | { readonly type: 'slowConsumer'; readonly subject: string; readonly pending: number }
  /** An asynchronous error from the server (permissions, auth expiry). */
  | { readonly type: 'error'; readonly error: Error }
  | { readonly type: 'close' };

/** A snapshot of the connection, from {@link NatsTransport.status}. */
export interface NatsConnectionStatus {
  /** True while a server connection is up (false while reconnecting and after close). */
  readonly connected: boolean;
  readonly closed: boolean;
  /** The server connected to (or last connected to), `host:port`. */
  readonly server: string;
  /** Successful reconnects since {@link connectNats} resolved. */
  readonly reconnects: number;
}

/** The event for a NATS client status, or undefined for the ones not worth reporting. */
export function toStatusEvent(s: Status): NatsStatusEvent | undefined {
  switch (s.type) {
    case 'disconnect':
      return { type: 'disconnect', server: s.server };
    case 'reconnecting':
      return { type: 'reconnecting' };
    case 'reconnect':
      return { type: 'reconnect', server: s.server };
    case 'ldm':
      return { type: 'ldm', server: s.server };
    case 'staleConnection':
      return { type: 'stale' };
    case 'slowConsumer':
      return { type: 'slowConsumer', subject: s.sub.getSubject(), pending: s.pending };
    case 'error':
      return { type: 'error', error: s.error };
    case 'close':
      return { type: 'close' };
    // Pings, cluster membership gossip and forced reconnects (followed by the statuses above).
    case 'ping':
    case 'update':
    case 'forceReconnect':
      return undefined;
    default:
      return assertNever(s);
  }
}

// A new status type in a client upgrade fails the build here, so it gets looked at.
function assertNever(x: never): never {
  throw new Error(`unexpected NATS status ${String((x as { type?: unknown }).type)}`);
}
