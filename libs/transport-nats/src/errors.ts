import { redactCredentials } from '@synod/runtime';

/** Why {@link NatsConnectError} was raised. */
export const NatsConnectErrorCode = {
  /** No URL, or one that cannot be parsed. */
  BadUrl: 'BAD_URL',
  /** Nothing listens there (connection refused), or the host name does not resolve. */
  Unreachable: 'UNREACHABLE',
  /** The server refused the credentials. */
  Authorization: 'AUTHORIZATION',
  /** TLS is required by one side and not offered by the other, or the handshake failed. */
  Tls: 'TLS',
  /** The port accepted but no NATS handshake came in time. */
  Timeout: 'TIMEOUT',
  /** Anything else; see `cause`. */
  Other: 'OTHER',
} as const;
/** One of {@link NatsConnectErrorCode}'s values. */
export type NatsConnectErrorCode = (typeof NatsConnectErrorCode)[keyof typeof NatsConnectErrorCode];

/**
 * The first connection to NATS failed. The message names the URL(s) and the likely fix; `cause`
 * is the client library's error.
 */
export class NatsConnectError extends Error {
  override readonly name = 'NatsConnectError';
  constructor(
    readonly code: NatsConnectErrorCode,
    readonly servers: readonly string[],
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface ErrorLike {
  readonly name: string;
  readonly message: string;
  readonly code: string;
  readonly cause: { readonly code?: string };
}

const HINT_RUNNING = 'is nats-server running there, and is NATS_URL (or the servers option) right?';

/** Classifies an error of the NATS client's `connect()` into a {@link NatsConnectError}. */
export function toConnectError(
  err: unknown,
  servers: readonly string[],
  timeoutMs: number,
): NatsConnectError {
  const where = servers.map(redactCredentials).join(', ');
  // Duck-typed: errors from Node's internals may come from another realm (e.g. under Jest).
  const e = (typeof err === 'object' && err !== null ? err : {}) as Partial<ErrorLike>;
  const name = e.name ?? 'Error';
  const message = e.message ?? String(err);
  const sys = e.cause?.code ?? e.code;
  const text = `${name} ${message}`;
  const make = (code: NatsConnectErrorCode, what: string, hint: string): NatsConnectError =>
    new NatsConnectError(code, servers.map(redactCredentials),
      `cannot connect to NATS at ${where}: ${redactCredentials(what)}; ${hint}`, {
      cause: err,
    });
  if (sys === 'ERR_INVALID_URL' || (name === 'TypeError' && /url/i.test(message))) {
    return make('BAD_URL', message, 'NATS_URL should look like nats://host:4222');
  }
  if (sys === 'ECONNREFUSED' || /connection refused/i.test(text)) {
    return make('UNREACHABLE', 'connection refused', HINT_RUNNING);
  }
  if (sys === 'ENOTFOUND' || sys === 'EAI_AGAIN' || /getaddrinfo/i.test(text)) {
    return make('UNREACHABLE', `host not found (${message})`, HINT_RUNNING);
  }
  if (sys === 'EHOSTUNREACH' || sys === 'ENETUNREACH') {
    return make('UNREACHABLE', `no route (${message})`, HINT_RUNNING);
  }
  if (name === 'AuthorizationError' || /authoriz|authenticat/i.test(text)) {
    return make(
      'AUTHORIZATION',
      `the server refused the credentials (${message})`,
      'check the user/pass or token given to connectNats',
    );
  }
  if (/tls|ssl|certificate/i.test(text)) {
    return make('TLS', message, 'check that client and server agree on TLS (the tls option)');
  }
  if (name === 'TimeoutError' || /timeout/i.test(text)) {
    return make(
      'TIMEOUT',
      `no NATS handshake within ${timeoutMs} ms`,
      'is that a NATS client port (4222 by default) and is the server healthy?',
    );
  }
  return make('OTHER', message, HINT_RUNNING);
}
