/**
 * A latency histogram with logarithmic buckets (1% wide) from 1 µs to about 10 minutes: constant
 * memory however long a run lasts, mergeable across load-generator processes, and quantiles
 * within 1% of the exact ones.
 */

const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
/** Buckets needed to reach 10 minutes from 1 µs at 1% per bucket. */
const BUCKETS = Math.ceil(Math.log(600e6) / LOG_GROWTH) + 1;

/** The serialisable form: `[bucket, count]` pairs of the non-empty buckets. */
export type HistogramData = ReadonlyArray<readonly [number, number]>;

/** Latency quantiles in milliseconds. */
export interface Quantiles {
  readonly count: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

/** Counts of latencies, recorded in milliseconds. */
export class Histogram {
  private readonly counts = new Float64Array(BUCKETS);
  private total = 0;
  private sumMs = 0;
  private maxMs = 0;

  /** Records one latency. */
  record(ms: number): void {
    const us = Math.max(1, ms * 1000);
    const i = Math.min(BUCKETS - 1, Math.floor(Math.log(us) / LOG_GROWTH));
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.total++;
    this.sumMs += ms;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /** How many latencies were recorded. */
  get count(): number {
    return this.total;
  }

  /** Forgets everything (the end of a warm-up). */
  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.sumMs = 0;
    this.maxMs = 0;
  }

  /** The non-empty buckets, plus the sum and the maximum, for another process to merge. */
  toData(): { buckets: HistogramData; sumMs: number; maxMs: number } {
    const buckets: Array<[number, number]> = [];
    this.counts.forEach((n, i) => {
      if (n > 0) buckets.push([i, n]);
    });
    return { buckets, sumMs: this.sumMs, maxMs: this.maxMs };
  }

  /** Adds what another histogram exported. */
  merge(d: { buckets: HistogramData; sumMs: number; maxMs: number }): void {
    for (const [i, n] of d.buckets) {
      this.counts[i] = (this.counts[i] ?? 0) + n;
      this.total += n;
    }
    this.sumMs += d.sumMs;
    this.maxMs = Math.max(this.maxMs, d.maxMs);
  }

  /** The latency below which a fraction `q` of the samples lie (bucket midpoint), in ms. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) return Math.min(this.maxMs, (GROWTH ** (i + 0.5)) / 1000);
    }
    return this.maxMs;
  }

  /** The usual summary. */
  quantiles(): Quantiles {
    return {
      count: this.total,
      meanMs: this.total === 0 ? 0 : this.sumMs / this.total,
      p50Ms: this.quantile(0.5),
      p90Ms: this.quantile(0.9),
      p99Ms: this.quantile(0.99),
      p999Ms: this.quantile(0.999),
      maxMs: this.maxMs,
    };
  }
}
