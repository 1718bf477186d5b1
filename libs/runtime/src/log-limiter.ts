/** Options of {@link LogLimiter}. */
export interface LogLimiterOptions {
  /** Lines logged per key within one window; 0 logs none individually (summaries only). */
  readonly burst: number;
  /** Length of a window, from the first occurrence of a key, in milliseconds. */
  readonly windowMs: number;
  /** Monotonic clock; default `performance.now`. */
  readonly now?: () => number;
}

/** What a window that ended did not log: `suppressed` occurrences of `key` over `windowMs`. */
export interface Suppressed {
  readonly key: string;
  readonly suppressed: number;
  readonly windowMs: number;
}

interface Window {
  start: number;
  logged: number;
  suppressed: number;
}

/**
 * Bounds the log lines of one kind of event (a rejected delivery, a refused read) without
 * bounding its count: the first `burst` occurrences of a key in a window are logged one by one,
 * the rest only counted, and {@link flush} reports each window that ended with occurrences not
 * logged, so that the log says how many it left out. A flood of hostile messages (thousands a
 * second) then costs a few lines per window rather than a line each, which would otherwise fill
 * the disk of whoever collects the logs and stall the service on a slow stdout.
 */
export class LogLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly ended: Suppressed[] = [];
  private readonly now: () => number;

  constructor(private readonly o: LogLimiterOptions) {
    if (!Number.isInteger(o.burst) || o.burst < 0) {
      throw new RangeError(`LogLimiter: burst must be a whole number >= 0, got ${o.burst}`);
    }
    if (!(o.windowMs > 0)) {
      throw new RangeError(`LogLimiter: windowMs must be > 0, got ${o.windowMs}`);
    }
    this.now = o.now ?? (() => performance.now());
  }

  /** Records one occurrence of `key`; true when it is to be logged individually. */
  admit(key: string): boolean {
    const now = this.now();
    let w = this.windows.get(key);
    if (w !== undefined && now - w.start >= this.o.windowMs) {
      this.end(key, w);
      w = undefined;
    }
    if (w === undefined) {
      w = { start: now, logged: 0, suppressed: 0 };
      this.windows.set(key, w);
    }
    if (w.logged < this.o.burst) {
      w.logged++;
      return true;
    }
    w.suppressed++;
    return false;
  }

  /**
   * The windows that ended (by time, or by a new occurrence after their end) with occurrences
   * not logged; each is reported once. Call it periodically (a service's tick).
   */
  flush(): Suppressed[] {
    const now = this.now();
    for (const [key, w] of this.windows) {
      if (now - w.start >= this.o.windowMs) this.end(key, w);
    }
    return this.ended.splice(0, this.ended.length);
  }

  private end(key: string, w: Window): void {
    this.windows.delete(key);
    if (w.suppressed > 0) {
      this.ended.push({ key, suppressed: w.suppressed, windowMs: this.o.windowMs });
    }
  }
}
