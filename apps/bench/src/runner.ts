/** Runs one concurrency level against a system: load generators, CPU window, progress. */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { Histogram, type Quantiles } from './histogram.js';
import type { LoadCommand, LoadMessage, LoadResult, Target } from './ipc.js';
import { CpuWindow, cpuByRole, type ProcWindow, sampleProc, type Watched } from './procstat.js';

/** The figures of one level of one system. */
export interface LevelResult {
  readonly system: string;
  readonly concurrency: number;
  readonly valueSize: number;
  readonly windowS: number;
  readonly values: number;
  readonly decisions: number;
  readonly valuesPerS: number;
  readonly decisionsPerS: number;
  /** Mean values per decision (the batch size reached). */
  readonly valuesPerDecision: number;
  readonly latency: Quantiles;
  readonly errors: Readonly<Record<string, number>>;
  /** CPU seconds in the window per role (including `loadgen`), and per process. */
  readonly cpuByRole: Readonly<Record<string, number>>;
  readonly processes: readonly ProcWindow[];
  /** Busy CPU seconds of the machine in the window that no bench process used (others' work). */
  readonly foreignCpuS: number;
  /** CPU microseconds per value, load generator excluded. */
  readonly cpuUsPerValue: number;
  /** Extra facts (e.g. the substrate's batch). */
  readonly notes: Readonly<Record<string, number | string>>;
}

/** How a level is run. */
export interface LevelOptions {
  readonly benchDir: string;
  readonly concurrency: number;
  readonly connections: number;
  readonly loadgens: number;
  readonly valueSize: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly gapMs: number;
  readonly maxOps: number;
  readonly timeoutMs: number;
  /** Processes of other systems idling meanwhile: not counted as the machine's other work. */
  readonly background: readonly Watched[];
  /** Called with a one-line progress report about once a second. */
  readonly progress: (line: string) => void;
  /** Extra environment for the load generators (the CPU profiler, `--profile loadgen`). */
  readonly loadgenEnv?: Readonly<Record<string, string>>;
}

interface Gen {
  readonly child: ChildProcess;
  readonly result: Promise<LoadResult>;
}

function spawnGen(benchDir: string, cmd: LoadCommand, on: (m: LoadMessage) => void,
  env: Readonly<Record<string, string>> = {}): Gen {
  const child = fork(join(benchDir, 'loadgen.worker.js'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: ['--enable-source-maps'],
    env: { ...process.env, ...env },
  });
  const result = new Promise<LoadResult>((resolve, reject) => {
    child.on('message', (m: LoadMessage) => {
      on(m);
      if (m.type === 'result') resolve(m);
      if (m.type === 'failure') reject(new Error(`load generator failed: ${m.message}`));
    });
    child.on('exit', (code, signal) => reject(new Error(
      `load generator exited (code ${code}, signal ${signal}) before its result`)));
    child.on('error', reject);
  });
  child.send(cmd);
  return { child, result };
}

/** Runs one level; the load generators are this call's children and end with it. */
export async function runLevel(
  system: string, target: Target, watched: readonly Watched[], o: LevelOptions,
  notes: Readonly<Record<string, number | string>> = {},
): Promise<LevelResult> {
  const k = Math.max(1, Math.min(o.loadgens, o.concurrency));
  const gens: Gen[] = [];
  let window: CpuWindow | null = null;
  const progress = new Map<number, { phase: string; s: number; values: number; p50: number }>();
  const onMessage = (i: number) => (m: LoadMessage): void => {
    if (m.type === 'measuring' && window === null) {
      window = new CpuWindow([...watched, ...gens.map((g, j) =>
        ({ id: `loadgen${j + 1}`, role: 'loadgen', pid: g.child.pid ?? -1 }))], o.background);
    }
    if (m.type === 'progress') {
      progress.set(i, { phase: m.phase, s: m.elapsedMs / 1000, values: m.values, p50: m.p50Ms });
      if (i === 0) {
        let values = 0;
        for (const p of progress.values()) values += p.values;
        const p0 = progress.get(0);
        const rate = p0 !== undefined && p0.phase === 'measure' && p0.s > 0 ? values / p0.s : 0;
        o.progress(`${system} c=${o.concurrency} ${p0?.phase ?? ''} ${p0?.s.toFixed(0) ?? 0}s` +
          `  values ${values}  ${rate === 0 ? '-' : `${Math.round(rate)}/s`}` +
          `  p50 ${p0?.p50.toFixed(2) ?? '-'} ms`);
      }
    }
  };
  try {
    for (let i = 0; i < k; i++) {
      const share = Math.floor(o.concurrency / k) + (i < o.concurrency % k ? 1 : 0);
      gens.push(spawnGen(o.benchDir, {
        type: 'run', target, concurrency: share,
        connections: Math.max(1, Math.ceil(o.connections / k)),
        valueSize: o.valueSize, warmupMs: o.warmupMs, durationMs: o.durationMs, gapMs: o.gapMs,
        maxOps: o.maxOps, timeoutMs: o.timeoutMs,
      }, onMessage(i), o.loadgenEnv));
    }
    const results = await Promise.all(gens.map((g) => g.result));
    const w = window as CpuWindow | null;
    const procs = w?.finish() ?? [];
    const foreign = w?.foreignS(procs.reduce((s, p) => s + p.cpuS, 0)) ?? 0;
    return summarize(system, o, results, procs, notes, foreign);
  } finally {
    for (const g of gens) if (g.child.exitCode === null) g.child.kill('SIGTERM');
  }
}

function summarize(
  system: string, o: LevelOptions, results: readonly LoadResult[], procs: ProcWindow[],
  notes: Readonly<Record<string, number | string>>, foreignCpuS: number,
): LevelResult {
  const hist = new Histogram();
  const errors: Record<string, number> = {};
  let values = 0;
  let decisions = 0;
  let windowMs = 0;
  for (const r of results) {
    hist.merge(r.histogram);
    values += r.values;
    decisions += r.decisions;
    windowMs = Math.max(windowMs, r.windowMs);
    for (const [name, n] of Object.entries(r.errors)) errors[name] = (errors[name] ?? 0) + n;
  }
  // Slots are shared by every generator: merge their spans rather than adding them.
  const spans = results.flatMap((r) => (r.slots === null ? [] : [r.slots]));
  if (spans.length > 0 && system === 'synod') {
    decisions = Math.max(...spans.map((s) => s[1])) - Math.min(...spans.map((s) => s[0])) + 1;
  }
  const windowS = windowMs / 1000;
  const roles = cpuByRole(procs);
  const serviceCpu = procs.filter((p) => p.role !== 'loadgen').reduce((s, p) => s + p.cpuS, 0);
  return {
    system, concurrency: o.concurrency, valueSize: o.valueSize, windowS, values, decisions,
    valuesPerS: windowS > 0 ? values / windowS : 0,
    decisionsPerS: windowS > 0 ? decisions / windowS : 0,
    valuesPerDecision: decisions > 0 ? values / decisions : 0,
    latency: hist.quantiles(), errors, cpuByRole: roles, processes: procs,
    foreignCpuS,
    cpuUsPerValue: values > 0 ? (serviceCpu * 1e6) / values : 0,
    notes,
  };
}

/** Peak RSS (VmHWM) per process right now, in MiB. */
export function peakRss(watched: readonly Watched[]): Array<Watched & { peakRssMiB: number }> {
  return watched.map((w) => ({ ...w, peakRssMiB: sampleProc(w.pid)?.peakRssMiB ?? 0 }));
}
