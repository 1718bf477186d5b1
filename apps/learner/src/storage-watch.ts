import type { Logger } from '@synod/runtime';

/** One reading of the learner's Redis (see `RedisLearnerStore.usage`), taken at `at` (ms). */
export interface StorageSample {
  readonly usedBytes: number;
  /** 0: Redis has no `maxmemory`. */
  readonly maxBytes: number;
  readonly slots: number;
  readonly at: number;
}

/**
 * `ok` below the warning share of `maxmemory`, `warn` at or above it, `critical` at or above
 * {@link CRITICAL_SHARE}; `unbounded` when Redis has no `maxmemory` (nothing to compare with).
 */
export type StorageLevel = 'ok' | 'warn' | 'critical' | 'unbounded';

/** The share of `maxmemory` at which the watch turns critical. */
export const CRITICAL_SHARE = 0.95;

/**
 * Hysteresis: a level is left only once the share is this far below its threshold, so that a
 * Redis hovering at a threshold (used_memory jitters with client buffers) does not log at
 * every reading.
 */
export const CLEAR_MARGIN = 0.02;

/** Growth is measured over at most this much history, and reported once it covers a minute. */
const GROWTH_WINDOW_MS = 3_600_000;
const GROWTH_MIN_SPAN_MS = 60_000;

/** Options of {@link StorageWatch}. */
export interface StorageWatchOptions {
  /** Share of `maxmemory` (0 < w < {@link CRITICAL_SHARE}) from which the watch warns. */
  readonly warnShare: number;
  /** While at `warn` or `critical`, the warning is logged again this often (ms). */
  readonly repeatMs: number;
  readonly log: Logger;
}

/** What a learner's status says about its storage. */
export interface StorageStatus {
  readonly level: StorageLevel | 'unknown';
  readonly usedBytes?: number;
  readonly maxBytes?: number;
  readonly slots?: number;
  /** usedBytes / maxBytes, rounded to 0.001; absent without a bound. */
  readonly usedShare?: number;
  /** Bytes per hour the Redis grew by over the last hour (once a minute of it is known). */
  readonly growthBytesPerHour?: number;
  /** Hours until `maxmemory` at that growth; absent when unbounded or not growing. */
  readonly fullInHours?: number;
  /** ISO time of the last good reading. */
  readonly checkedAt?: string;
  /** Why the last reading failed, when it did. */
  readonly error?: string;
}

const RANK: Record<StorageLevel, number> = { unbounded: 0, ok: 0, warn: 1, critical: 2 };

/**
 * Watches how full the learner's Redis is. A learner keeps the whole decided log in Redis (it
 * is never trimmed), so a Redis with `maxmemory` fills up at the pace of the log: an election
 * group renewed every 1.3 s adds about 65,000 slots a day. When Redis is full it refuses the
 * learner's write and the learner stops; this watch says so long before, in the log (a warning
 * when the share of `maxmemory` in use reaches the warning share, an error at
 * {@link CRITICAL_SHARE}, repeated every `repeatMs` while it lasts), in the status document
 * and in the metrics, with the growth rate and the hours left at that rate.
 */
export class StorageWatch {
  private readonly o: StorageWatchOptions;
  private readonly history: StorageSample[] = [];
  private level: StorageLevel | 'unknown' = 'unknown';
  private loggedAt = 0;
  private error: string | null = null;
  private errorCode: string | null = null;

  constructor(o: StorageWatchOptions) {
    if (!(o.warnShare > 0 && o.warnShare < CRITICAL_SHARE)) {
      throw new RangeError(`warnShare must be in (0, ${CRITICAL_SHARE}), got ${o.warnShare}`);
    }
    this.o = o;
  }

  private polling = false;
  private stopped = false;

  /**
   * Takes a reading with `read` (stamped with the time it completed) unless one is still in
   * progress or the watch is stopped: while Redis stalls, readings would otherwise pile up in
   * the client and go out in a burst ahead of the learner's next writes when it answers again.
   */
  poll(read: () => Promise<Omit<StorageSample, 'at'>>, clock: () => number = Date.now): void {
    if (this.polling || this.stopped) return;
    this.polling = true;
    read().then((u) => {
      if (!this.stopped) this.note({ ...u, at: clock() });
    }, (e: unknown) => {
      if (!this.stopped) this.failed(e);
    }).finally(() => {
      this.polling = false;
    });
  }

  /** No more readings: one still in progress is dropped (the store is closing). */
  stop(): void {
    this.stopped = true;
  }

  /** The last good reading, or null before the first. */
  get last(): StorageSample | null {
    return this.history[this.history.length - 1] ?? null;
  }

  /** Takes a reading: updates the level and logs what changed (or is still wrong). */
  note(s: StorageSample): void {
    this.error = null;
    this.errorCode = null;
    this.history.push(s);
    // Keep about an hour: drop the oldest while the next one is an hour old already.
    while (this.history.length > 2 && s.at - (this.history[1]?.at ?? s.at) >= GROWTH_WINDOW_MS) {
      this.history.shift();
    }
    const before = this.level;
    const now = this.levelOf(s);
    this.level = now;
    const rankBefore = before === 'unknown' ? 0 : RANK[before];
    if (RANK[now] > rankBefore || (RANK[now] > 0 && s.at - this.loggedAt >= this.o.repeatMs)) {
      this.loggedAt = s.at;
      const fields = { storage: this.status() };
      const msg = `the learner's Redis is ${percent(s.usedBytes / s.maxBytes)} full ` +
        `(${mib(s.usedBytes)} of maxmemory ${mib(s.maxBytes)}, ${s.slots} slots` +
        `${this.fullInText()}); when it is full Redis refuses the learner's writes and the ` +
        'learner stops. The log is never trimmed: raise maxmemory (and the memory limit) ' +
        'before then, see docs/operations.md#learner-storage';
      if (now === 'critical') this.o.log.error(fields, msg);
      else this.o.log.warn(fields, msg);
    } else if (now === 'ok' && rankBefore > 0) {
      this.o.log.info({ storage: this.status() },
        `the learner's Redis is back under ${percent(this.o.warnShare)} of maxmemory`);
    }
  }

  /**
   * A reading failed (Redis down or slow): remembered for the status, logged once per cause
   * (the error's `code` when it has one: the messages of one outage vary).
   */
  failed(e: unknown): void {
    const why = e instanceof Error ? e.message : String(e);
    const code = typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code
      === 'string' ? (e as { code: string }).code : why;
    if (code !== this.errorCode) {
      this.o.log.warn({ err: e }, 'could not read how full the learner\'s Redis is');
    }
    this.error = why;
    this.errorCode = code;
  }

  /** The status document's `storage` section. */
  status(): StorageStatus {
    const s = this.last;
    const error = this.error === null ? {} : { error: this.error };
    if (s === null) return { level: 'unknown', ...error };
    const growth = this.growthPerHour();
    const fullIn = this.fullInHours();
    return {
      level: this.level, usedBytes: s.usedBytes, maxBytes: s.maxBytes, slots: s.slots,
      ...(s.maxBytes > 0
        ? { usedShare: Math.round((s.usedBytes / s.maxBytes) * 1000) / 1000 } : {}),
      ...(growth === null ? {} : { growthBytesPerHour: Math.round(growth) }),
      ...(fullIn === null ? {} : { fullInHours: Math.round(fullIn * 10) / 10 }),
      checkedAt: new Date(s.at).toISOString(), ...error,
    };
  }

  /** The level of a reading; a level already reached holds until CLEAR_MARGIN below it. */
  private levelOf(s: StorageSample): StorageLevel {
    if (s.maxBytes <= 0) return 'unbounded';
    const share = s.usedBytes / s.maxBytes;
    const held = (level: StorageLevel): number =>
      this.level === level || (level === 'warn' && this.level === 'critical') ? CLEAR_MARGIN : 0;
    if (share >= CRITICAL_SHARE - held('critical')) return 'critical';
    return share >= this.o.warnShare - held('warn') ? 'warn' : 'ok';
  }

  /** Bytes per hour over the history, or null with less than a minute of it. */
  private growthPerHour(): number | null {
    const first = this.history[0];
    const last = this.last;
    if (first === undefined || last === null) return null;
    if (last.at - first.at < GROWTH_MIN_SPAN_MS) return null;
    return ((last.usedBytes - first.usedBytes) / (last.at - first.at)) * 3_600_000;
  }

  private fullInHours(): number | null {
    const s = this.last;
    const g = this.growthPerHour();
    if (s === null || g === null || g <= 0 || s.maxBytes <= 0) return null;
    return Math.max(0, s.maxBytes - s.usedBytes) / g;
  }

  private fullInText(): string {
    const h = this.fullInHours();
    if (h === null) return '';
    return h >= 48 ? `; full in about ${Math.round(h / 24)} days at the last hour's pace`
      : `; full in about ${Math.max(0.1, Math.round(h * 10) / 10)} hours at the last hour's pace`;
  }
}

function percent(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function mib(n: number): string {
  return `${(n / 1_048_576).toFixed(1)} MiB`;
}
