import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { PLANTED_BUGS, type PlantedBug } from '@synod/protocol';
import { describeSwarm, runSeed, type TraceEvent } from '@synod/testing';
import { type Chunk, runChunk } from './sim.worker.js';
import {
  checkFailure, emptyTotals, mergeTotals, recoveryQuantile, type Totals,
} from './stats.js';

const HELP = `synod sim: run the Paxos cores in a seeded, fault-injecting simulator

Usage:
  npm run sim -- [options]

Each seed draws a cluster (3 or 5 acceptors, 2-3 proposers, 1-3 learners, clients) and a swarm
of faults (loss, duplication, stale duplicates up to 600 ticks late, reordering, delay,
symmetric and asymmetric partitions, crashes and restarts, pauses, skewed timers), runs a safety
phase with faults on, heals everything (in about half the seeds a minority of acceptors then
dies for good) and runs a liveness phase. Checkers judge validity, agreement (from acceptors'
states), integrity, learners' prefix consistency, durability and exactly-once effects; an
election checker applies every learner's log to the lease state machine (fencing tokens, leases
in log time).

Options:
  --seeds N         run seeds FROM..FROM+N-1 (default 1000)
  --from S          first seed (default 1)
  --seed S          run one seed and print its options, events count and trace hash
                    (not with --seeds or --from, which run a range)
  --mutant NAME     switch on a planted bug; the run stops at the first seed that catches it
                    (${PLANTED_BUGS.join(', ')})
  --trace-out FILE  with --seed: write every event of the run as NDJSON
  --workers K       worker threads (default: number of CPUs)
  --check           exit 1 unless 0 safety violations and liveness in >= --min-live of seeds
                    (with --mutant: exit 1 unless the mutant is caught)
  --min-live P      liveness threshold for --check, in percent (default 99.9)
  --json            print only the JSON summary
  -h, --help        show this help

Examples:
  npm run sim -- --seeds 20000 --check          # the CI budget
  npm run sim -- --seeds 1000000                # nightly size
  npm run sim -- --seed 1827 --trace-out t.ndjson
  npm run sim -- --mutant accept-below-promise --seeds 20000 --check`;

interface Args {
  seeds: number;
  from: number;
  seed: number | null;
  mutant: PlantedBug | null;
  traceOut: string | null;
  workers: number;
  check: boolean;
  minLive: number;
  json: boolean;
}

class UsageError extends Error {
  override readonly name = 'UsageError';
}

function intArg(name: string, v: string | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${name} must be an integer >= ${min}, got '${v}'`);
  }
  return n;
}

function parse(argv: string[]): Args | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      seeds: { type: 'string' }, from: { type: 'string' }, seed: { type: 'string' },
      mutant: { type: 'string' }, 'trace-out': { type: 'string' }, workers: { type: 'string' },
      check: { type: 'boolean' }, 'min-live': { type: 'string' }, json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) return null;
  const mutant = values.mutant ?? null;
  if (mutant !== null && !(PLANTED_BUGS as readonly string[]).includes(mutant)) {
    throw new UsageError(`unknown --mutant '${mutant}'; one of: ${PLANTED_BUGS.join(', ')}`);
  }
  const minLive = Number(values['min-live'] ?? '99.9');
  if (!(minLive >= 0 && minLive <= 100)) throw new UsageError('--min-live must be 0..100');
  if (values.seed !== undefined && (values.seeds !== undefined || values.from !== undefined)) {
    const with_ = values.seeds !== undefined ? '--seeds' : '--from';
    throw new UsageError(`--seed S runs one seed and ${with_} belongs to a range: give ` +
      '--seed S alone, or --from S --seeds N for N seeds from S');
  }
  const traceOut = values['trace-out'] ?? null;
  if (traceOut !== null && values.seed === undefined) {
    throw new UsageError('--trace-out needs --seed S (one run)');
  }
  return {
    seeds: intArg('seeds', values.seeds, 1000, 1),
    from: intArg('from', values.from, 1, 0),
    seed: values.seed === undefined ? null : intArg('seed', values.seed, 0, 0),
    mutant: mutant as PlantedBug | null,
    traceOut,
    workers: intArg('workers', values.workers, Math.max(1, os.cpus().length), 1),
    check: values.check === true,
    minLive,
    json: values.json === true,
  };
}

function replayCommand(seed: number, mutant: PlantedBug | null): string {
  const m = mutant === null ? '' : ` --mutant ${mutant}`;
  return `npm run sim -- --seed ${seed}${m} --trace-out seed-${seed}.ndjson`;
}

function runOne(a: Args): number {
  const seed = a.seed as number;
  const events: string[] = [];
  const trace = a.traceOut === null ? undefined : (e: TraceEvent): void => {
    events.push(JSON.stringify(e));
  };
  const r = runSeed(seed, { plantedBug: a.mutant, ...(trace === undefined ? {} : { trace }) });
  if (a.traceOut !== null) writeFileSync(a.traceOut, events.join('\n') + '\n');
  const summary = {
    seed, traceHash: r.traceHash, live: r.live, recoveryTicks: r.recoveryTicks, ticks: r.ticks,
    steps: r.steps, decisions: r.decisions, acks: r.acks, violations: r.violations,
    ...(a.traceOut === null ? {} : { traceOut: a.traceOut, events: events.length }),
  };
  if (!a.json) process.stderr.write(`seed=${seed} ${describeSwarm(r.options)}\n`);
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  if (!a.check) return 0;
  if (a.mutant !== null) return r.violations.length > 0 ? 0 : 1;
  return r.violations.length === 0 && r.live ? 0 : 1;
}

async function runMany(a: Args): Promise<Totals> {
  const total = emptyTotals();
  const chunkSize = Math.max(1, Math.min(250, Math.ceil(a.seeds / (a.workers * 8))));
  let next = a.from;
  const end = a.from + a.seeds;
  const started = Date.now();
  let lastPrint = 0;
  const progress = (final: boolean): void => {
    if (a.json) return;
    const now = Date.now();
    const tty = process.stderr.isTTY === true;
    if (!final && now - lastPrint < (tty ? 500 : 5000)) return;
    lastPrint = now;
    const secs = (now - started) / 1000;
    const rate = total.seeds / Math.max(secs, 1e-3);
    const left = (a.seeds - total.seeds) / Math.max(rate, 1e-9);
    const pct = ((100 * total.seeds) / a.seeds).toFixed(1);
    const line = `seeds ${total.seeds}/${a.seeds} (${pct}%) ${rate.toFixed(0)} seeds/s  ` +
      `violations ${total.violatingSeeds}  not-live ${total.notLiveSeeds}  ` +
      `eta ${final ? 0 : Math.ceil(left)}s`;
    process.stderr.write(tty ? `\r${line}   ${final ? '\n' : ''}` : `${line}\n`);
  };
  const stopEarly = (): boolean => a.mutant !== null && total.violatingSeeds > 0;
  const take = (): Chunk | null => {
    if (next >= end || stopEarly()) return null;
    const count = Math.min(a.mutant === null ? chunkSize : 1, end - next);
    const c = { from: next, count, mutant: a.mutant };
    next += count;
    return c;
  };
  const workers = Math.min(a.workers, Math.ceil(a.seeds / chunkSize));
  if (workers <= 1) {
    for (let c = take(); c !== null; c = take()) {
      mergeTotals(total, runChunk(c));
      progress(false);
    }
  } else {
    const file = path.join(__dirname, 'sim.worker.js');
    await Promise.all(Array.from({ length: workers }, () => new Promise<void>((resolve, reject) => {
      const w = new Worker(file);
      const feed = (): void => {
        const c = take();
        if (c === null) {
          void w.terminate().then(() => resolve());
          return;
        }
        w.postMessage(c);
      };
      w.on('message', (t: Totals) => {
        mergeTotals(total, t);
        progress(false);
        feed();
      });
      w.on('error', reject);
      feed();
    })));
  }
  progress(true);
  total.violations.sort((x, y) => x.seed - y.seed);
  total.notLive.sort((x, y) => x - y);
  return total;
}

function report(a: Args, t: Totals, secs: number): number {
  const liveRate = t.seeds === 0 ? 0 : (100 * (t.seeds - t.notLiveSeeds)) / t.seeds;
  const summary = {
    seeds: t.seeds,
    firstSeed: a.from,
    mutant: a.mutant,
    steps: t.steps,
    burstSteps: t.burstSteps,
    thriftyAccepts: t.thriftyAccepts,
    staleDups: t.staleDups,
    unsendable: t.unsendable,
    recoveredSlots: t.recoveredSlots,
    ticks: t.ticks,
    decisions: t.decisions,
    acknowledged: t.acks,
    violations: t.violatingSeeds,
    notLive: t.notLiveSeeds,
    livePercent: Number(liveRate.toFixed(4)),
    recoveryTicks: {
      p50: recoveryQuantile(t, 0.5), p99: recoveryQuantile(t, 0.99),
      p999: recoveryQuantile(t, 0.999), max: recoveryQuantile(t, 1),
    },
    elapsedSeconds: Number(secs.toFixed(2)),
    seedsPerSecond: Number((t.seeds / Math.max(secs, 1e-3)).toFixed(1)),
    workers: a.workers,
    violatingSeeds: t.violations,
    notLiveSeeds: t.notLive,
  };
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  if (!a.json) {
    for (const v of t.violations.slice(0, 5)) {
      process.stderr.write(`${a.mutant === null ? 'VIOLATION' : 'caught'} seed=${v.seed} ` +
        `[${v.kinds.join(',')}] ${v.detail}\n  replay: ${replayCommand(v.seed, a.mutant)}\n`);
    }
    for (const s of t.notLive.slice(0, 5)) {
      process.stderr.write(`not live: seed=${s}\n  replay: ${replayCommand(s, a.mutant)}\n`);
    }
  }
  if (!a.check) return 0;
  const failure = checkFailure(
    { seeds: a.seeds, mutant: a.mutant, minLive: a.minLive }, t);
  if (failure === null) return 0;
  process.stderr.write(`FAIL: ${failure}\n`);
  return 1;
}

async function main(): Promise<number> {
  let a: Args | null;
  try {
    a = parse(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`sim: ${e instanceof Error ? e.message : String(e)}\n` +
      'Run `npm run sim -- --help` for usage.\n');
    return 2;
  }
  if (a === null) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (a.seed !== null) return runOne(a);
  const started = Date.now();
  const t = await runMany(a);
  return report(a, t, (Date.now() - started) / 1000);
}

main().then((code) => {
  process.exitCode = code;
}, (e: unknown) => {
  process.stderr.write(`sim: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 1;
});
