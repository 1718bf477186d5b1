import type { HistogramData } from './histogram.js';

/** What a load generator drives. */
export type Target =
  | {
    readonly kind: 'synod';
    readonly natsUrl: string;
    readonly cluster: string;
    /** Whether clients sharing a connection coalesce their proposals (SynodClient `batching`). */
    readonly batching: boolean;
  }
  | { readonly kind: 'etcd'; readonly endpoints: readonly string[] }
  | {
    readonly kind: 'substrate';
    readonly natsUrl: string;
    /** Subject prefix of this run's hand-made phase 2. */
    readonly prefix: string;
    /** Values per round (the batch Synod reached at this concurrency). */
    readonly batch: number;
    /** Replies awaited per round (a majority of the repliers). */
    readonly quorum: number;
  };

/** The parent's order to a load generator: one run at one concurrency. */
export interface LoadCommand {
  readonly type: 'run';
  readonly target: Target;
  /** Concurrent clients (for the substrate: values in flight). */
  readonly concurrency: number;
  /** Connections shared by the clients (NATS connections or etcd gRPC channels). */
  readonly connections: number;
  readonly valueSize: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Pause between a client's proposals (idle-latency mode); 0 for a closed loop. */
  readonly gapMs: number;
  /** Stop after this many measured operations per client (0: no limit). */
  readonly maxOps: number;
  /** Deadline of one operation. */
  readonly timeoutMs: number;
}

/** Progress, about once a second. */
export interface LoadProgress {
  readonly type: 'progress';
  readonly phase: 'warmup' | 'measure';
  readonly elapsedMs: number;
  readonly values: number;
  readonly p50Ms: number;
}

/** Sent when the warm-up ends and measuring starts (the parent snapshots CPU then). */
export interface LoadMeasuring {
  readonly type: 'measuring';
}

/** The outcome of a run. */
export interface LoadResult {
  readonly type: 'result';
  /** Length of the measured window, in milliseconds. */
  readonly windowMs: number;
  /** Operations that completed in the window (for Synod: values chosen). */
  readonly values: number;
  /** Decisions (slots for Synod and the substrate; puts for etcd) in the window. */
  readonly decisions: number;
  /** Lowest and highest slot seen in the window (Synod), to merge generators' decisions. */
  readonly slots: readonly [number, number] | null;
  readonly histogram: { buckets: HistogramData; sumMs: number; maxMs: number };
  /** Failed operations, by error name. */
  readonly errors: Readonly<Record<string, number>>;
}

/** A run that could not even start (e.g. no connection). */
export interface LoadFailure {
  readonly type: 'failure';
  readonly message: string;
}

/** Every message a load generator sends. */
export type LoadMessage = LoadProgress | LoadMeasuring | LoadResult | LoadFailure;
