import { createServer, Socket } from 'node:net';

/**
 * A TCP port that was free on 127.0.0.1 a moment ago (the kernel picks it). Another process may
 * take it before the caller binds it: the server starters retry on "address already in use".
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close((err) => (err || port === 0 ? reject(err ?? new Error('no port')) : resolve(port)));
    });
  });
}

/**
 * Opens a TCP connection, optionally writes `send`, and resolves with the first chunk the peer
 * sends back (or `''` when it accepted but said nothing before `timeoutMs`). Resolves
 * `undefined` when the connection failed. Never rejects; the socket is always destroyed.
 */
export function probeTcp(
  host: string,
  port: number,
  opts: { readonly send?: string; readonly timeoutMs?: number } = {},
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = new Socket();
    let connected = false;
    const done = (v: string | undefined): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(connected ? '' : undefined), opts.timeoutMs ?? 1000);
    sock.once('error', () => done(undefined));
    sock.once('data', (b: Buffer) => done(b.toString('utf8')));
    sock.once('close', () => done(connected ? '' : undefined));
    sock.connect(port, host, () => {
      connected = true;
      if (opts.send !== undefined) sock.write(opts.send);
    });
  });
}

/** Host and port of the first address in a URL list such as `nats://a:4222,nats://b:4222`. */
export function firstHostPort(
  urls: string,
  defaultPort: number,
): { host: string; port: number } | undefined {
  const first = urls.split(',')[0]?.trim() ?? '';
  if (first === '') return undefined;
  try {
    const u = new URL(first.includes('://') ? first : `tcp://${first}`);
    const port = u.port === '' ? defaultPort : Number(u.port);
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    return Number.isInteger(port) && host !== '' ? { host, port } : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
