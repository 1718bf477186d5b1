// `npm run bench:tracing`: what tracing costs. Runs the real services as processes (local
// cluster: nats-server, a redis-server with appendfsync always per acceptor and learner) in
// each telemetry mode, drives them with the client, and prints throughput and latency.
//
//   off      OTEL_SDK_DISABLED=true: no OpenTelemetry at all
//   metrics  the default: metrics on /metrics, no OTLP endpoint, so no span is ever made
//   traced   OTEL_EXPORTER_OTLP_ENDPOINT set, every round sampled, spans exported (protobuf)
//            to an HTTP sink in this process that counts the bytes (decoding them here would
//            take CPU from the client being measured)
//   sampled  as traced with OTEL_TRACES_SAMPLER=parentbased_traceidratio at 0.1
//   unsampled  as traced with OTEL_TRACES_SAMPLER=always_off: the tracing hooks run, no round
//            is sampled (what tracing costs before a single span is recorded)
//
// Options: --seconds N (each measurement, default 5), --rounds N (repeats, median kept,
// default 1), --modes a,b (default all five), --inflight N (default 64).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SynodClient } from '@synod/client';
import { LocalCluster } from '@synod/testing';

type Mode = 'off' | 'metrics' | 'traced' | 'sampled' | 'unsampled';
const MODES: readonly Mode[] = ['off', 'metrics', 'traced', 'sampled', 'unsampled'];

interface Figures {
  readonly perSec: number;
  readonly p50: number;
  readonly p99: number;
  /** CPU time of the six service processes per decision, in microseconds. */
  readonly cpuUs: number;
}

interface Result {
  readonly mode: Mode;
  readonly serial: Figures;
  readonly parallel: Figures;
  readonly exportedKiB: number;
}

const root = resolve(process.env['SYNOD_ROOT'] ?? join(__dirname, '../../..'));

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

const TICK_US = 1e6 / 100;

/** User + system CPU time of a process so far, in microseconds (Linux /proc, 100 Hz ticks). */
function cpuUs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_US;
  } catch {
    return 0;
  }
}

const servicesCpuUs = (pids: readonly number[]): number =>
  pids.reduce((sum, pid) => sum + cpuUs(pid), 0);

/** An OTLP/HTTP endpoint that answers every export and only counts its bytes. */
async function startSink(): Promise<{ url: string; bytes: () => number; close(): void }> {
  let bytes = 0;
  const server = http.createServer((req, res) => {
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bytes: () => bytes,
    close: () => server.close(),
  };
}

/** Proposes with `inflight` workers for `seconds`; throughput, latency, CPU per decision. */
async function measure(cl: SynodClient, inflight: number, seconds: number, tag: string,
  pids: readonly number[] = []): Promise<Figures> {
  const cpu0 = servicesCpuUs(pids);
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  let n = 0;
  const worker = async (w: number): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await cl.propose(`${tag}-${w}-${n++}`);
      lat.push(performance.now() - t0);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inflight }, (_, w) => worker(w)));
  const took = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const cpu = (servicesCpuUs(pids) - cpu0) / Math.max(1, lat.length);
  return { perSec: lat.length / took, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99),
    cpuUs: cpu };
}

async function runMode(mode: Mode, seconds: number, inflight: number): Promise<Result> {
  const receiver = mode === 'off' || mode === 'metrics' ? null : await startSink();
  const env: Record<string, string> = { SYNOD_LOG_LEVEL: 'warn' };
  if (mode === 'off') env['OTEL_SDK_DISABLED'] = 'true';
  if (receiver !== null) {
    env['OTEL_EXPORTER_OTLP_ENDPOINT'] = receiver.url;
    env['OTEL_BSP_MAX_QUEUE_SIZE'] = '65536';
  }
  if (mode === 'sampled') {
    env['OTEL_TRACES_SAMPLER'] = 'parentbased_traceidratio';
    env['OTEL_TRACES_SAMPLER_ARG'] = '0.1';
  }
  if (mode === 'unsampled') env['OTEL_TRACES_SAMPLER'] = 'always_off';
  const dist = join(root, 'dist/apps');
  const cluster = await LocalCluster.start({
    mains: {
      acceptor: join(dist, 'acceptor/main.js'),
      proposer: join(dist, 'proposer/main.js'),
      learner: join(dist, 'learner/main.js'),
    },
    env,
  });
  const cl = await SynodClient.connect({ servers: cluster.natsUrl, timeoutMs: 30_000 });
  const pids = [...cluster.nodes.values()].flatMap((n) => (n.proc === null ? [] : [n.proc.pid]));
  try {
    await measure(cl, 8, 1, 'warmup');
    const serial = await measure(cl, 1, seconds, 'serial', pids);
    const parallel = await measure(cl, inflight, seconds, 'parallel', pids);
    return { mode, serial, parallel, exportedKiB: (receiver?.bytes() ?? 0) / 1024 };
  } finally {
    await cl.close();
    await cluster.stop();
    await receiver?.close();
  }
}

function median(rs: readonly Result[]): Result {
  const pick = (f: (r: Result) => number): number => {
    const v = rs.map(f).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)] as number;
  };
  const fig = (g: (r: Result) => Figures): Figures => ({
    perSec: pick((r) => g(r).perSec), p50: pick((r) => g(r).p50), p99: pick((r) => g(r).p99),
    cpuUs: pick((r) => g(r).cpuUs),
  });
  return {
    mode: (rs[0] as Result).mode, serial: fig((r) => r.serial),
    parallel: fig((r) => r.parallel), exportedKiB: pick((r) => r.exportedKiB),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    seconds: { type: 'string' }, rounds: { type: 'string' }, modes: { type: 'string' },
    inflight: { type: 'string' },
  } });
  const seconds = Number(values.seconds ?? 5);
  const rounds = Number(values.rounds ?? 1);
  const inflight = Number(values.inflight ?? 64);
  const modes = (values.modes?.split(',') ?? [...MODES]) as Mode[];
  for (const m of modes) if (!MODES.includes(m)) throw new Error(`unknown mode ${m}`);
  execFileSync(process.execPath, [join(root, 'tools/build-apps.mjs'), 'acceptor', 'proposer',
    'learner'], { cwd: root, stdio: 'inherit' });
  process.stdout.write(`tracing cost: 3 acceptors, 2 proposers, 1 learner (real processes, ` +
    `Redis appendfsync always); ${seconds} s per measurement, ${rounds} round(s), median\n`);
  const all = new Map<Mode, Result[]>();
  for (let r = 0; r < rounds; r++) {
    for (const m of modes) {
      const res = await runMode(m, seconds, inflight);
      all.set(m, [...(all.get(m) ?? []), res]);
      process.stdout.write(`  round ${r + 1} ${m.padEnd(8)} 1 in flight ${res.serial.perSec
        .toFixed(0)}/s, ${inflight} in flight ${res.parallel.perSec.toFixed(0)}/s\n`);
    }
  }
  const results = modes.map((m) => median(all.get(m) as Result[]));
  const base = results.find((r) => r.mode === 'metrics') ?? results[0] as Result;
  const pct = (x: number, y: number): string =>
    `${x >= y ? '+' : ''}${(((x - y) / y) * 100).toFixed(0)}%`;
  const fig = (f: Figures, b: Figures): string[] => [f.perSec.toFixed(0), f.p50.toFixed(2),
    f.p99.toFixed(2), f.cpuUs.toFixed(0), pct(f.cpuUs, b.cpuUs)];
  const rows = [
    ['', '1 in flight', '', '', '', '', `${inflight} in flight`, '', '', '', '', ''],
    ['mode', 'ops/s', 'p50 ms', 'p99 ms', 'CPU us/op', 'CPU vs metrics', 'ops/s', 'p50 ms',
      'p99 ms', 'CPU us/op', 'CPU vs metrics', 'exported KiB'],
    ...results.map((r) => [r.mode, ...fig(r.serial, base.serial), ...fig(r.parallel,
      base.parallel), r.exportedKiB.toFixed(0)]),
  ];
  const widths = rows[1]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  const lines = rows.map((row) => row.map((c, i) => i === 0 ? c.padEnd(widths?.[i] ?? 0)
    : c.padStart(widths?.[i] ?? 0)).join('  '));
  process.stdout.write(`\n${lines.join('\n')}\n(CPU: user+system time of the six service ` +
    'processes per decision; throughput and latency also depend on what else runs here)\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:tracing: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
