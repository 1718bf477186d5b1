import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { decodeOtlpJson, decodeOtlpProtobuf, OtlpDecodeError } from './otlp-decode.js';
import type { StoredSpan } from './stored-span.js';

/** Settings of {@link startOtlpReceiver}. */
export interface OtlpReceiverOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Append every span to this NDJSON file (one {@link StoredSpan} per line). */
  readonly file?: string;
  /** When the file grows past this, it is renamed to `<file>.1` and a new one started. */
  readonly maxFileBytes?: number;
  /** Called with the spans of every export. */
  readonly onSpans?: (spans: readonly StoredSpan[]) => void;
}

/** A running receiver. */
export interface OtlpReceiver {
  /** Base URL to give as `OTEL_EXPORTER_OTLP_ENDPOINT`, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly port: number;
  /** Spans received so far. */
  readonly received: number;
  close(): Promise<void>;
}

const MAX_BODY = 32 * 1024 * 1024;

/**
 * A small OTLP/HTTP receiver for traces: `POST /v1/traces` in protobuf
 * (`application/x-protobuf`, what exporters send by default) or JSON (`application/json`),
 * optionally gzip'd. It is what `npm start` runs so that `synod trace` needs no collector, and
 * what tests export to. Metrics and logs posts are acknowledged and dropped.
 */
export async function startOtlpReceiver(o: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  let received = 0;
  if (o.file !== undefined) mkdirSync(dirname(o.file), { recursive: true });
  const store = (spans: readonly StoredSpan[]): void => {
    received += spans.length;
    if (o.file !== undefined && spans.length > 0) {
      rotate(o.file, o.maxFileBytes ?? 64 * 1024 * 1024);
      appendFileSync(o.file, spans.map((s) => JSON.stringify(s)).join('\n') + '\n');
    }
    o.onSpans?.(spans);
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        res.writeHead(413).end();
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      const reply = handle(req, Buffer.concat(chunks), store);
      res.writeHead(reply.status, { 'content-type': reply.type });
      res.end(reply.body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => resolve());
  });
  server.unref();
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${o.host ?? '127.0.0.1'}:${port}`,
    port,
    get received() {
      return received;
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

interface Reply {
  readonly status: number;
  readonly type: string;
  readonly body: string | Uint8Array;
}

function handle(req: http.IncomingMessage, raw: Buffer,
  store: (spans: readonly StoredSpan[]) => void): Reply {
  const path = (req.url ?? '/').split('?')[0];
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
  const json = type === 'application/json';
  const ok: Reply = json
    ? { status: 200, type: 'application/json', body: '{}' }
    : { status: 200, type: 'application/x-protobuf', body: new Uint8Array(0) };
  if (req.method !== 'POST') return { status: 405, type: 'text/plain', body: 'POST only\n' };
  if (path === '/v1/metrics' || path === '/v1/logs') return ok;
  if (path !== '/v1/traces') return { status: 404, type: 'text/plain', body: 'not found\n' };
  try {
    const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
    store(json ? decodeOtlpJson(body.toString('utf8')) : decodeOtlpProtobuf(body));
    return ok;
  } catch (e) {
    if (!(e instanceof OtlpDecodeError) && !(e instanceof RangeError)) throw e;
    return { status: 400, type: 'text/plain', body: `${(e as Error).message}\n` };
  }
}

function rotate(file: string, max: number): void {
  if (!existsSync(file)) return;
  if (statSync(file).size < max) return;
  renameSync(file, `${file}.1`);
}

/**
 * Reads the spans an NDJSON file holds (and its rotated predecessor `<file>.1`), skipping
 * lines that do not parse (a line being written as it is read).
 */
export function readSpanFile(file: string): StoredSpan[] {
  const out: StoredSpan[] = [];
  for (const f of [`${file}.1`, file]) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      if (line === '') continue;
      try {
        out.push(JSON.parse(line) as StoredSpan);
      } catch {
        // A partly written last line: skip it.
      }
    }
  }
  return out;
}
