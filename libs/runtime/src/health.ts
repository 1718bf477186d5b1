import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A response of an extra route: its content type and body. */
export interface ExtraRoute {
  readonly type: string;
  readonly body: string;
}

/** What a service reports on its health endpoints. */
export interface HealthSource {
  /** Alive: the process works (event loop turns, not wedged). */
  live(): boolean;
  /** Ready: connected and able to do its job (for an acceptor: voting). */
  ready(): { ok: boolean; reason?: string };
  /** Free-form status document for `/status`. */
  status(): Record<string, unknown>;
  /** Extra routes (e.g. `/metrics`), answered before the built-in ones. */
  extra?(path: string): ExtraRoute | Promise<ExtraRoute> | null;
}

/** A running health server. */
export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves `GET /healthz` (liveness), `GET /readyz` (readiness, 503 with the reason when not
 * ready) and `GET /status` (JSON) on `host:port` (port 0 picks a free one).
 */
export async function startHealthServer(
  source: HealthSource,
  port: number,
  host = '0.0.0.0',
): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    void respond(source, req.url ?? '/', res).catch((e: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(e instanceof Error ? e.message : String(e));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  server.unref();
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function respond(source: HealthSource, url: string, res: http.ServerResponse): Promise<void> {
  const path = url.split('?')[0] ?? '/';
  const extra = await source.extra?.(path);
  if (extra !== null && extra !== undefined) {
    res.writeHead(200, { 'content-type': extra.type });
    res.end(extra.body);
    return;
  }
  switch (path) {
    case '/healthz': {
      const ok = source.live();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ok\n' : 'not live\n');
      return;
    }
    case '/readyz': {
      const r = source.ready();
      res.writeHead(r.ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(r.ok ? 'ready\n' : `not ready: ${r.reason ?? 'unknown'}\n`);
      return;
    }
    case '/status':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(source.status(), null, 2) + '\n');
      return;
    default:
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /healthz, /readyz, /status\n');
  }
}
