import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  findRound,
  readSpanFile,
  renderRound,
  type RoundQuery,
  type RoundView,
  startTelemetry,
  type StoredSpan,
} from '@synod/telemetry';
import { type CommandLine, UsageError } from './args.js';
import type { ClusterFile, Settings } from './config.js';
import { ExitCode } from './failure.js';

/** Where `synod trace` writes. */
export interface TraceIo {
  out(line: string): void;
  err(line: string): void;
  readonly signal: AbortSignal;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly repoRoot: string | null;
}

const REQUEST_ID = /^[A-Za-z0-9_-]{1,64}#[0-9]{1,16}$/;

/**
 * What `synod trace` was asked: a request id (`clientId#seq`, as `synod propose` prints it),
 * a slot, or nothing (the latest round that answered a request).
 */
export function parseTraceQuery(cl: CommandLine): RoundQuery | null {
  if (cl.args.length > 1) throw new UsageError('trace takes one request id or slot', 'trace');
  const [raw] = cl.args;
  if (raw === undefined) return null;
  if (/^[0-9]{1,15}$/.test(raw)) return { slot: Number(raw) };
  if (REQUEST_ID.test(raw)) return { requestId: raw };
  throw new UsageError(`'${raw}' is neither a request id (clientId#seq, as \`synod propose\` ` +
    'prints it) nor a slot number', 'trace');
}

/** The span file: --file, else $SYNOD_TRACES_FILE, else the local cluster's, else null. */
export function spanFileOf(cl: CommandLine, io: TraceIo, file: ClusterFile | null): string | null {
  if (cl.file !== undefined) return cl.file;
  const env = io.env['SYNOD_TRACES_FILE'];
  if (env !== undefined && env !== '') return env;
  if (file?.traces !== undefined) return file.traces.file;
  const dataDir = io.env['SYNOD_DATA_DIR'];
  if (dataDir !== undefined && dataDir !== '') {
    const local = join(dataDir, 'traces', 'spans.ndjson');
    return existsSync(local) ? local : null;
  }
  if (io.repoRoot !== null) {
    const local = join(io.repoRoot, '.synod', 'traces', 'spans.ndjson');
    if (existsSync(local)) return local;
  }
  return null;
}

/** The latest round that answered a client request, among `spans`. */
function latest(spans: readonly StoredSpan[]): RoundView | null {
  let best: StoredSpan | null = null;
  for (const s of spans) {
    if (s.name !== 'proposer.request' || typeof s.attributes['synod.request_id'] !== 'string') {
      continue;
    }
    if (best === null || BigInt(s.start) > BigInt(best.start)) best = s;
  }
  const id = best?.attributes['synod.request_id'];
  return typeof id === 'string' ? findRound(spans, { requestId: id }) : null;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> => new Promise((resolve) => {
  const done = (): void => {
    clearTimeout(t);
    signal.removeEventListener('abort', done);
    resolve();
  };
  const t = setTimeout(done, ms);
  signal.addEventListener('abort', done, { once: true });
});

const delivered = (v: RoundView): boolean =>
  v.lanes.some((l) => l.items.some((i) => i.label.endsWith('delivered')));

/**
 * Runs `synod trace`: reads the spans the local cluster collected and prints the round as a
 * timeline. Spans reach the file a fraction of a second after the round, so it waits up to
 * `--wait` ms (default 3000) for the round to appear and for its learner to deliver it.
 */
export async function runTrace(cl: CommandLine, io: TraceIo, file: ClusterFile | null):
  Promise<number> {
  const query = parseTraceQuery(cl);
  const path = spanFileOf(cl, io, file);
  if (path === null) {
    io.err('synod: no spans to read: `npm start` collects them in .synod/traces/spans.ndjson ' +
      '(unless OTEL_EXPORTER_OTLP_ENDPOINT sends them elsewhere); or give --file PATH');
    return ExitCode.Unavailable;
  }
  const deadline = Date.now() + (cl.waitMs ?? 3000);
  let view: RoundView | null = null;
  for (;;) {
    const spans = readSpanFile(path);
    view = query === null ? latest(spans) : findRound(spans, query);
    if ((view !== null && delivered(view)) || Date.now() >= deadline || io.signal.aborted) break;
    await sleep(view === null ? 200 : 100, io.signal);
  }
  if (view === null) {
    const what = query === null ? 'any request' : 'slot' in query ? `slot ${query.slot}`
      : `request ${query.requestId}`;
    const exists = existsSync(path);
    io.err(`synod: no round of ${what} in ${path}` + (exists ? '' : ' (the file does not exist)'));
    // As the help says: 1 when the spans hold no such round, 3 when there is no span file.
    return exists ? ExitCode.Failure : ExitCode.Unavailable;
  }
  if (cl.json) io.out(JSON.stringify(view));
  else for (const line of renderRound(view)) io.out(line);
  return ExitCode.Ok;
}

/**
 * For `synod propose` against a local cluster that collects spans (or with
 * `OTEL_EXPORTER_OTLP_ENDPOINT` set): exports the client's own `synod.propose` span there, so
 * that `synod trace` shows a client lane. Returns the function that flushes it, or null.
 */
export async function startProposeTracing(cl: CommandLine, env: TraceIo['env'], s: Settings):
  Promise<(() => Promise<void>) | null> {
  if (cl.command !== 'propose' || env['OTEL_SDK_DISABLED'] === 'true') return null;
  const given = env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  const endpoint = given !== undefined && given !== '' ? given : s.traces?.otlpEndpoint;
  if (endpoint === undefined) return null;
  const telemetry = await startTelemetry({
    serviceName: 'synod-cli', role: 'client', nodeId: 'synod-cli', cluster: s.cluster,
    env: { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_METRICS_EXPORTER: 'none' },
  });
  return () => telemetry.shutdown();
}
