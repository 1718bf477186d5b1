import { connect, type NodeConnectionOptions } from '@nats-io/transport-node';
import { createLogger, type Logger } from '@synod/runtime';
import { NatsConnectError, toConnectError } from './errors.js';
import type { NatsStatusEvent } from './status.js';
import { NatsTransport } from './transport.js';

/** TLS settings of {@link connectNats}; an empty object means "require TLS, default trust". */
export interface NatsTlsOptions {
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** Default true. */
  readonly rejectUnauthorized?: boolean;
  /** TLS before the NATS INFO (the server must be configured with `handshake_first`). */
  readonly handshakeFirst?: boolean;
}

/** Options of {@link connectNats}. */
export interface NatsConnectOptions {
  /** One URL, a comma-separated list (as in `NATS_URL`), or a list: `nats://host:4222`. */
  readonly servers: string | readonly string[];
  /** Shown by the server's monitoring (e.g. `acceptor-a1`). */
  readonly name?: string;
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  readonly tls?: NatsTlsOptions;
  /** How long the first connect waits for the server's handshake; default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /**
   * Default false: the first connect fails fast with a {@link NatsConnectError}. When true it
   * keeps retrying (as reconnects do) until a server answers.
   */
  readonly waitOnFirstConnect?: boolean;
  /** Per server; default -1 (never give up): a Paxos role must outlive a NATS restart. */
  readonly maxReconnectAttempts?: number;
  /** Default 500 ms between reconnect attempts, plus up to {@link reconnectJitterMs}. */
  readonly reconnectTimeWaitMs?: number;
  /** Default 100 ms. */
  readonly reconnectJitterMs?: number;
  /** Client pings that detect a dead server; default every 10 000 ms. */
  readonly pingIntervalMs?: number;
  /** Unanswered pings before the connection counts as stale; default 3. */
  readonly maxPingOut?: number;
  /** How long close() may drain before it closes anyway; default 5000 ms. */
  readonly closeTimeoutMs?: number;
  /** Where handler failures and connection events go; default a pino logger on stdout. */
  readonly logger?: Logger;
  /** Called on every connection event; same as {@link NatsTransport.onStatus}. */
  readonly onStatus?: (e: NatsStatusEvent) => void;
  /**
   * Default false. When true the server does not deliver this connection's own publications
   * to its own subscriptions (NATS `echo: false`).
   */
  readonly noEcho?: boolean;
}

/** `servers` as a list of trimmed, non-empty URLs. */
function serverList(servers: string | readonly string[]): string[] {
  const all = typeof servers === 'string' ? [servers] : [...servers];
  return all
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** The client library's options for ours; unset optional fields stay absent. */
function clientOptions(o: NatsConnectOptions, servers: string[]): NodeConnectionOptions {
  const c: NodeConnectionOptions = {
    servers,
    timeout: o.connectTimeoutMs ?? 5000,
    waitOnFirstConnect: o.waitOnFirstConnect ?? false,
    reconnect: true,
    maxReconnectAttempts: o.maxReconnectAttempts ?? -1,
    reconnectTimeWait: o.reconnectTimeWaitMs ?? 500,
    reconnectJitter: o.reconnectJitterMs ?? 100,
    pingInterval: o.pingIntervalMs ?? 10_000,
    maxPingOut: o.maxPingOut ?? 3,
  };
  if (o.name !== undefined) c.name = o.name;
  if (o.user !== undefined) c.user = o.user;
  if (o.pass !== undefined) c.pass = o.pass;
  if (o.token !== undefined) c.token = o.token;
  if (o.tls !== undefined) c.tls = { ...o.tls };
  if (o.noEcho === true) c.noEcho = true;
  return c;
}

/**
 * Connects to NATS and returns the {@link NatsTransport}. Rejects with a
 * {@link NatsConnectError} whose message names the URL and the likely fix when the first
 * connection fails (fast, unless `waitOnFirstConnect`). Later disconnects are not errors: the
 * client reconnects forever by default and reports through `onStatus`.
 */
export async function connectNats(opts: NatsConnectOptions): Promise<NatsTransport> {
  const servers = serverList(opts.servers);
  if (servers.length === 0) {
    throw new NatsConnectError(
      'BAD_URL',
      servers,
      'no NATS server URL given: set NATS_URL (e.g. nats://127.0.0.1:4222) or the servers option',
    );
  }
  const timeoutMs = opts.connectTimeoutMs ?? 5000;
  let nc;
  try {
    nc = await connect(clientOptions(opts, servers));
  } catch (err) {
    throw toConnectError(err, servers, timeoutMs);
  }
  const log = opts.logger ?? createLogger({ service: 'transport-nats', nodeId: opts.name ?? '-' });
  const t = new NatsTransport(nc, log, opts.closeTimeoutMs ?? 5000);
  if (opts.onStatus !== undefined) t.onStatus(opts.onStatus);
  return t;
}

/** The NATS settings every Synod service reads (see `commonConfig` in @synod/runtime). */
export interface ServiceNatsConfig {
  readonly nodeId: string;
  readonly natsUrl: string;
  readonly natsUser: string;
  readonly natsPassword: string;
}

/**
 * Connects a Synod service: the comma-separated `NATS_URL`, credentials when a user is set, the
 * connection named `synod-<role>-<id>` (it shows in the NATS monitor), status changes logged.
 */
export function connectService(role: string, c: ServiceNatsConfig, log: Logger):
  Promise<NatsTransport> {
  return connectNats({
    servers: c.natsUrl.split(','),
    name: `synod-${role}-${c.nodeId}`,
    ...(c.natsUser === '' ? {} : { user: c.natsUser, pass: c.natsPassword }),
    logger: log,
    onStatus: (s) => log.info({ nats: s }, 'nats status'),
    // No service needs its own publications: without this a leader hears back every `chosen`
    // and heartbeat it sends (a decode and a wake-up per slot for nothing).
    noEcho: true,
  });
}
