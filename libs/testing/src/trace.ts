/**
 * A running 32-bit FNV-1a hash over a run's events: two runs of one seed must produce the same
 * hash, so any hidden nondeterminism (iteration order, a stray clock read) shows up at once.
 */
export class TraceHash {
  private h = 0x811c9dc5;

  /** Mixes integers (safe integers are folded to 32 bits in two halves). */
  mix(...xs: number[]): void {
    let h = this.h;
    for (const x of xs) {
      const lo = x | 0;
      const hi = Math.floor(x / 4294967296) | 0;
      for (const w of [lo, hi]) {
        for (let i = 0; i < 4; i++) {
          h ^= (w >>> (i * 8)) & 0xff;
          h = Math.imul(h, 0x01000193);
        }
      }
    }
    this.h = h;
  }

  /** Mixes a string. */
  mixString(s: string): void {
    let h = this.h;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i) & 0xff;
      h = Math.imul(h, 0x01000193);
    }
    this.h = h;
  }

  /** The hash as 8 hex digits. */
  get hex(): string {
    return (this.h >>> 0).toString(16).padStart(8, '0');
  }
}

/** One line of an NDJSON trace (`--trace-out`). */
export interface TraceEvent {
  readonly t: number;
  readonly ev: string;
  readonly [field: string]: unknown;
}

/** Receives trace events when tracing is on. */
export type TraceSink = (e: TraceEvent) => void;
