import type { SeedResult } from '@synod/testing';

/** A failing seed, as reported. */
export interface BadSeed {
  readonly seed: number;
  readonly kinds: readonly string[];
  readonly detail: string;
}

/** Totals over a range of seeds; merged across workers. */
export interface Totals {
  seeds: number;
  steps: number;
  /** Requests stepped in bursts (stepMany). */
  burstSteps: number;
  /** Accepts sent to one acceptor of a thrifty quorum. */
  thriftyAccepts: number;
  /** Messages delivered once more 20-600 ticks later. */
  staleDups: number;
  /** Messages dropped as too large for the simulated wire (large-payload seeds); should be 0. */
  unsendable: number;
  /** Decided slots recovered by leaders for catch-ups. */
  recoveredSlots: number;
  ticks: number;
  decisions: number;
  acks: number;
  violatingSeeds: number;
  notLiveSeeds: number;
  /** First violating seeds, up to a cap, with their violations. */
  violations: BadSeed[];
  /** First seeds that were not live, up to a cap. */
  notLive: number[];
  /** recovery[t] = seeds whose decision reached every learner t ticks after healing. */
  recovery: number[];
}

const CAP = 100;

/** Empty totals. */
export function emptyTotals(): Totals {
  return {
    seeds: 0, steps: 0, burstSteps: 0, thriftyAccepts: 0, staleDups: 0, unsendable: 0,
    recoveredSlots: 0,
    ticks: 0, decisions: 0,
    acks: 0, violatingSeeds: 0, notLiveSeeds: 0, violations: [], notLive: [], recovery: [],
  };
}

/** Adds one seed's result. */
export function addResult(t: Totals, r: SeedResult): void {
  t.seeds++;
  t.steps += r.steps;
  t.burstSteps += r.burstSteps;
  t.thriftyAccepts += r.thriftyAccepts;
  t.staleDups += r.staleDups;
  t.unsendable += r.unsendable;
  t.recoveredSlots += r.recoveredSlots;
  t.ticks += r.ticks;
  t.decisions += r.decisions;
  t.acks += r.acks;
  if (r.violations.length > 0) {
    t.violatingSeeds++;
    if (t.violations.length < CAP) {
      t.violations.push({
        seed: r.seed,
        kinds: [...new Set(r.violations.map((v) => v.kind))],
        detail: (r.violations[0]?.detail ?? '').split('\n')[0] ?? '',
      });
    }
  }
  if (!r.live) {
    t.notLiveSeeds++;
    if (t.notLive.length < CAP) t.notLive.push(r.seed);
  } else if (r.recoveryTicks !== null) {
    t.recovery[r.recoveryTicks] = (t.recovery[r.recoveryTicks] ?? 0) + 1;
  }
}

/** Merges `b` into `a`. */
export function mergeTotals(a: Totals, b: Totals): void {
  a.seeds += b.seeds;
  a.steps += b.steps;
  a.burstSteps += b.burstSteps;
  a.thriftyAccepts += b.thriftyAccepts;
  a.staleDups += b.staleDups;
  a.unsendable += b.unsendable;
  a.recoveredSlots += b.recoveredSlots;
  a.ticks += b.ticks;
  a.decisions += b.decisions;
  a.acks += b.acks;
  a.violatingSeeds += b.violatingSeeds;
  a.notLiveSeeds += b.notLiveSeeds;
  a.violations.push(...b.violations.slice(0, Math.max(0, CAP - a.violations.length)));
  a.notLive.push(...b.notLive.slice(0, Math.max(0, CAP - a.notLive.length)));
  for (let i = 0; i < b.recovery.length; i++) {
    const n = b.recovery[i];
    if (n !== undefined) a.recovery[i] = (a.recovery[i] ?? 0) + n;
  }
}

/** The q-quantile (0..1) of recovery ticks, or null with no live seeds. */
export function recoveryQuantile(t: Totals, q: number): number | null {
  const total = t.recovery.reduce((s, n) => s + (n ?? 0), 0);
  if (total === 0) return null;
  const want = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < t.recovery.length; i++) {
    seen += t.recovery[i] ?? 0;
    if (seen >= want) return i;
  }
  return t.recovery.length - 1;
}

/** What `--check` looks at: the run asked for, and whether it replays a planted bug. */
export interface CheckRun {
  /** Seeds asked for (`--seeds`; 1 for `--seed`). */
  readonly seeds: number;
  /** The planted bug switched on, or null. */
  readonly mutant: string | null;
  /** Least share of live seeds, in percent. */
  readonly minLive: number;
}

/**
 * The verdict of `--check` on `t`: null when the run passes, else why it fails. Without a
 * mutant a run passes only when it ran every seed asked for, with no safety violation, no
 * message too large for the wire and at least `minLive`% of seeds live; with one, when some
 * seed caught it (the run stops at the first that does).
 */
export function checkFailure(run: CheckRun, t: Totals): string | null {
  if (run.mutant !== null) {
    return t.violatingSeeds > 0 ? null
      : `mutant ${run.mutant} was not caught in ${t.seeds} seeds`;
  }
  if (t.seeds !== run.seeds) return `ran ${t.seeds} seeds of the ${run.seeds} asked for`;
  if (t.violatingSeeds > 0) return `${t.violatingSeeds} seeds violated safety`;
  // A core put more in one message than the wire carries: its byte bounds are wrong.
  if (t.unsendable > 0) return `${t.unsendable} messages too large for the simulated wire`;
  const liveRate = t.seeds === 0 ? 0 : (100 * (t.seeds - t.notLiveSeeds)) / t.seeds;
  if (liveRate < run.minLive) {
    return `liveness in ${liveRate.toFixed(3)}% of seeds < ${run.minLive}%`;
  }
  return null;
}
