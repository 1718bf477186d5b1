import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { type BenchOptions, HELP, parseBenchArgs } from './args.js';
import { formatProfile, profilesIn, summarizeProfile, type ProfileSummary } from './profile.js';
import { sampleProc, type Watched } from './procstat.js';
import {
  chartSvg, comparisonTable, cpuTable, judgeTargets, resultsTable, rssTable, targetsTable,
} from './report.js';
import { type LevelResult, peakRss, runLevel } from './runner.js';
import { startEtcd, startSubstrate, startSynod, type System } from './systems.js';

/** The repository root (the bundle lives in dist/apps/bench/). */
const ROOT = resolve(__dirname, '../../..');

interface Peak {
  readonly system: string;
  readonly id: string;
  readonly role: string;
  readonly peakRssMiB: number;
  /** RSS at the first and last sample (every 5 s over the system's whole run), in MiB. */
  readonly firstRssMiB: number;
  readonly lastRssMiB: number;
  /** Seconds between those samples. */
  readonly spanS: number;
}

/** RSS of every watched process every 5 s: shows whether memory stays flat on long runs. */
class RssSampler {
  readonly series: Record<string, Array<[number, number]>> = {};
  private readonly timer: NodeJS.Timeout;
  private readonly t0 = Date.now();
  private stopped = false;

  constructor(private readonly system: string, private readonly watched: () => Watched[]) {
    this.timer = setInterval(() => this.sample(), 5000);
    this.timer.unref();
    this.sample();
  }

  sample(): void {
    const t = Math.round((Date.now() - this.t0) / 1000);
    for (const w of this.watched()) {
      const s = sampleProc(w.pid);
      if (s === null) continue;
      (this.series[`${this.system}/${w.id}`] ??= []).push([t, Math.round(s.rssMiB * 10) / 10]);
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.sample();
    clearInterval(this.timer);
  }
}

const tty = process.stderr.isTTY === true;
let lastProgress = 0;
function progress(line: string): void {
  if (tty) {
    process.stderr.write(`\r\x1b[K${line}`);
    return;
  }
  const now = Date.now();
  if (now - lastProgress < 5000) return;
  lastProgress = now;
  process.stderr.write(`${line}\n`);
}
const say = (s: string): void => {
  if (tty) process.stderr.write('\r\x1b[K');
  process.stderr.write(`${s}\n`);
};

/** The systems this run started, each with its RSS sampler; stopped at the end or on a signal. */
interface Running {
  readonly sys: System;
  readonly sampler: RssSampler;
}
let running: Running[] = [];

async function stopAll(rss: Record<string, Array<[number, number]>>): Promise<void> {
  const all = running;
  running = [];
  for (const r of all) {
    r.sampler.stop();
    Object.assign(rss, r.sampler.series);
  }
  await Promise.all(all.map((r) => r.sys.stop()));
}

/** Runs one concurrency level against one system; `background` are the other systems' processes. */
/** Where this run's CPU profiles go (set once the run's id is known). */
const profileDirs = new WeakMap<BenchOptions, string>();
function profileDirOf(o: BenchOptions): string {
  const dir = profileDirs.get(o);
  if (dir === undefined) throw new Error('profile directory asked for before the run started');
  return dir;
}

async function measure(
  sys: System, o: BenchOptions, c: number, batch: number, background: readonly Watched[],
): Promise<LevelResult> {
  say(`${sys.name}: ${c} client${c === 1 ? '' : 's'}` +
    (sys.name === 'substrate' ? ` (values in flight; ${batch} per round)` : ''));
  lastProgress = Date.now();
  const before = await sys.counters?.();
  const level = await runLevel(sys.name, sys.target(batch), sys.watched(), {
    benchDir: __dirname, concurrency: c, connections: o.connections, loadgens: o.loadgens,
    valueSize: o.valueSize, warmupMs: o.warmupS * 1000,
    durationMs: o.latency ? o.count * (o.gapMs + 1000) : o.durationS * 1000,
    gapMs: o.latency ? o.gapMs : 0, maxOps: o.latency ? o.count : 0,
    timeoutMs: o.timeoutMs, progress, background,
    ...(sys.name === 'synod' && o.profile.includes('loadgen') ? {
      loadgenEnv: {
        NODE_OPTIONS: `--require ${join(__dirname, 'profiler.worker.js')}`,
        BENCH_PROFILE_DIR: join(profileDirOf(o), 'loadgen'),
      },
    } : {}),
  }, sys.name === 'substrate' ? { batch } : {});
  const failed = sys.failures?.() ?? [];
  if (failed.length > 0) {
    throw new Error(`${sys.name}: ${failed.length} service(s) exited during the ${c}-client ` +
      `run, so its figures mean nothing:\n${failed.join('\n')}`);
  }
  const r = before === undefined ? level : withCounters(level, before, await sys.counters?.());
  say(`  ${Math.round(r.valuesPerS)} values/s, ${Math.round(r.decisionsPerS)} decisions/s, ` +
    `p50 ${r.latency.p50Ms.toFixed(2)} ms, p99 ${r.latency.p99Ms.toFixed(2)} ms` +
    (Object.keys(r.errors).length > 0 ? `, errors ${JSON.stringify(r.errors)}` : ''));
  return r;
}

/** Peak RSS and the first and last RSS samples of every process of a system. */
function peaksOf(r: Running): Peak[] {
  r.sampler.stop();
  return peakRss(r.sys.watched()).map((p) => {
    const series = r.sampler.series[`${r.sys.name}/${p.id}`] ?? [];
    const first = series[0] ?? [0, 0];
    const last = series[series.length - 1] ?? first;
    return {
      system: r.sys.name, ...p, firstRssMiB: first[1], lastRssMiB: last[1],
      spanS: last[0] - first[0],
    };
  });
}

/**
 * Starts every system, then runs each concurrency level against each system in turn (Synod
 * first: the substrate takes the batch size Synod reached). Interleaving keeps the systems'
 * runs of one level minutes closer together than running one system after another would, which
 * matters on a machine shared with other work.
 */
async function runAll(
  starters: ReadonlyArray<() => Promise<System>>, o: BenchOptions, results: LevelResult[],
  peaks: Peak[], rss: Record<string, Array<[number, number]>>,
): Promise<void> {
  try {
    for (const start of starters) {
      const sys = await start();
      running.push({ sys, sampler: new RssSampler(sys.name, () => sys.watched()) });
    }
    for (const c of o.concurrency) {
      for (const { sys } of running) {
        const synod = results.find((r) => r.system === 'synod' && r.concurrency === c);
        const batch = Math.max(1, Math.round(synod?.valuesPerDecision ?? 1));
        const background = running.filter((x) => x.sys !== sys).flatMap((x) => x.sys.watched());
        results.push(await measure(sys, o, c, batch, background));
      }
    }
    for (const r of running) peaks.push(...peaksOf(r));
  } finally {
    await stopAll(rss);
  }
}

/**
 * Adds what the services counted over the level (warm-up included, so as a ratio only): the
 * messages an acceptor steps per Redis persist, i.e. how well bursts share a round trip.
 */
function withCounters(
  r: LevelResult, before: Record<string, number>, after: Record<string, number> | undefined,
): LevelResult {
  if (after === undefined) return r;
  const d = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
  const persisted = d('acceptor.persisted');
  if (persisted <= 0) return r;
  const ratio = Math.round((d('acceptor.delivered') / persisted) * 100) / 100;
  return { ...r, notes: { ...r.notes, acceptsPerPersist: ratio } };
}

function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z');
}

/** Sanity of a smoke run: the bench ran, measured something and wrote its files. */
function smokeProblems(results: readonly LevelResult[], files: readonly string[]): string[] {
  const problems: string[] = [];
  if (results.length === 0) problems.push('no results');
  for (const r of results) {
    const where = `${r.system} c=${r.concurrency}`;
    if (!(r.values > 0)) problems.push(`${where}: no value was chosen`);
    const errors = Object.entries(r.errors);
    if (errors.length > 0) {
      problems.push(`${where}: errors ${errors.map(([k, n]) => `${k} x${n}`).join(', ')}`);
    }
    if (!(r.latency.p50Ms > 0 && r.latency.p99Ms >= r.latency.p50Ms)) {
      problems.push(`${where}: latency quantiles make no sense`);
    }
    // Decisions are the span of slots acknowledged in the window. A closed loop has at most
    // `concurrency` values straddling each edge of the window (their slots inside the span,
    // their acknowledgements outside it), so at one value per slot the span may pass the
    // acknowledged count by up to 2 x concurrency; far more means the count is wrong.
    if (!(r.decisions > 0 && r.decisions <= r.values + 2 * r.concurrency)) {
      problems.push(`${where}: decisions ${r.decisions} for ${r.values} values`);
    }
    for (const role of ['acceptor', 'proposer', 'learner', 'redis', 'nats', 'loadgen']) {
      if (r.system === 'synod' && !(role in r.cpuByRole)) {
        problems.push(`${where}: no CPU for ${role}`);
      }
    }
  }
  for (const f of files) {
    let size = 0;
    try {
      size = statSync(f).size;
    } catch {
      // missing: size stays 0
    }
    if (size === 0) problems.push(`result file missing or empty: ${f}`);
  }
  return problems;
}

async function main(): Promise<void> {
  let o: BenchOptions;
  try {
    o = parseBenchArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n` +
      'Run with --help for the options.\n');
    process.exit(2);
  }
  if (o.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  if (o.noFsync) {
    process.stderr.write('bench: --no-fsync: Redis runs WITHOUT fsync. These figures are not ' +
      'durable and not comparable with etcd or the substrate; they show what the disk costs.\n');
  }
  const outDir = resolve(o.out ?? join(ROOT, 'results'));
  const id = stamp();
  mkdirSync(outDir, { recursive: true });
  const profileDir = join(outDir, `profiles-${id}`);
  profileDirs.set(o, profileDir);
  const roleEnv: Record<string, Record<string, string>> = {};
  for (const role of o.profile) {
    if (role === 'loadgen') continue;
    roleEnv[role] = {
      NODE_OPTIONS: `--require ${join(__dirname, 'profiler.worker.js')}`,
      BENCH_PROFILE_DIR: join(profileDir, role),
    };
  }
  const results: LevelResult[] = [];
  const peaks: Peak[] = [];
  const rss: Record<string, Array<[number, number]>> = {};
  const started = Date.now();
  const starters: Array<() => Promise<System>> = [
    () => startSynod({
      root: ROOT, proposers: o.proposers, env: o.env, roleEnv, clientBatching: o.clientBatching,
      noFsync: o.noFsync,
    }),
  ];
  if (o.vs.includes('etcd')) starters.push(startEtcd);
  if (o.substrate) starters.push(() => startSubstrate(__dirname));
  await runAll(starters, o, results, peaks, rss);
  // Profiles are written when the services exit, so only now.
  const profiles: ProfileSummary[] = [];
  for (const role of o.profile) {
    for (const f of profilesIn(join(profileDir, role))) profiles.push(summarizeProfile(f));
  }
  const report = {
    startedAt: new Date(started).toISOString(), seconds: (Date.now() - started) / 1000,
    machine: { cpus: cpus().length, node: process.version },
    options: { ...o, help: undefined },
    results, peakRss: peaks, rssSeries: rss,
    targets: judgeTargets(results, peaks),
    profiles,
  };
  const jsonFile = join(outDir, `bench-${id}.json`);
  const svgFile = join(outDir, `bench-${id}.svg`);
  writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(svgFile, chartSvg(results,
    `Latency against throughput, ${o.valueSize} B values, ` +
      `${o.noFsync ? 'NOT durable (--no-fsync)' : 'durable (fsync)'} — ${id}`));
  writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(outDir, 'latest.svg'), chartSvg(results,
    `Latency against throughput, ${o.valueSize} B values, ` +
      `${o.noFsync ? 'NOT durable (--no-fsync)' : 'durable (fsync)'} — ${id}`));
  const print = (s: string): void => {
    (o.json ? process.stderr : process.stdout).write(`${s}\n`);
  };
  print('');
  print(resultsTable(results));
  print('');
  print(cpuTable(results));
  print('');
  print(rssTable(peaks));
  const cmp = comparisonTable(results);
  if (cmp !== null) print(`\n${cmp}`);
  if (!o.smoke && !o.latency && !o.noFsync) print(`\n${targetsTable(report.targets)}`);
  for (const p of profiles) print(`\n${formatProfile(p)}`);
  if (o.latency) {
    const r = results[0];
    print('\nmedian decision latency (idle cluster, 1 client, ' +
      `${r?.latency.count ?? 0} sequential ` +
      `proposals, ${o.gapMs === 0 ? 'back to back' : `${o.gapMs} ms apart`}): ` +
      `${r?.latency.p50Ms.toFixed(2) ?? '-'} ms ` +
      `(p99 ${r?.latency.p99Ms.toFixed(2) ?? '-'} ms); other work on this machine took ` +
      `${r?.foreignCpuS.toFixed(1) ?? '-'} of ${((r?.windowS ?? 0) * cpus().length).toFixed(1)} ` +
      'CPU seconds meanwhile');
  }
  if (o.noFsync) print('\nNOT durable: --no-fsync (Redis without fsync); for analysis only');
  print(`\nresults: ${relative(process.cwd(), jsonFile)}, ${relative(process.cwd(), svgFile)}`);
  if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  if (o.smoke) {
    const problems = smokeProblems(results, [jsonFile, svgFile]);
    if (problems.length > 0) {
      process.stderr.write(`bench: smoke run FAILED:\n  ${problems.join('\n  ')}\n`);
      process.exitCode = 1;
    } else {
      print('bench: smoke run ok');
      rmSync(profileDir, { recursive: true, force: true });
    }
  }
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    say(`bench: ${signal}: stopping what it started...`);
    void stopAll({}).finally(() => process.exit(130));
  });
}

main().catch((e: unknown) => {
  say(`bench: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  void stopAll({}).finally(() => process.exit(1));
});
