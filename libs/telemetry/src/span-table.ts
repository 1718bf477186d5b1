import type { Span } from '@opentelemetry/api';
import { hrNow } from './clock.js';
import { Attr, Outcome } from './names.js';

interface Entry {
  readonly span: Span;
  readonly since: number;
}

/**
 * Open spans by key, bounded in size and age. A span whose end never comes (a client gave up,
 * a reply was lost) is ended as `abandoned` when the table is full or the span is older than
 * `maxAgeMs`, so a busy or faulty cluster cannot make telemetry grow without bound.
 */
export class SpanTable<K> {
  private readonly entries = new Map<K, Entry>();
  private sweeps = 0;

  constructor(
    private readonly maxSize: number,
    private readonly maxAgeMs: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: K): Span | undefined {
    return this.entries.get(key)?.span;
  }

  /** Adds `span` under `key`; an open span already there is ended as superseded. */
  set(key: K, span: Span): void {
    const prev = this.entries.get(key);
    if (prev !== undefined) {
      prev.span.setAttribute(Attr.Outcome, Outcome.Superseded);
      prev.span.end(hrNow());
      this.entries.delete(key);
    }
    if (this.entries.size >= this.maxSize) this.evictOldest();
    this.entries.set(key, { span, since: performance.now() });
    if (++this.sweeps >= 1024) {
      this.sweeps = 0;
      this.sweep();
    }
  }

  /** Removes and returns the span under `key`. */
  take(key: K): Span | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    this.entries.delete(key);
    return e.span;
  }

  /** Every open span, oldest first. */
  spans(): Span[] {
    return [...this.entries.values()].map((e) => e.span);
  }

  /** Ends every open span with `outcome` and forgets them. */
  endAll(outcome: string, extra?: Record<string, string>): void {
    for (const e of this.entries.values()) {
      e.span.setAttribute(Attr.Outcome, outcome);
      if (extra !== undefined) e.span.setAttributes(extra);
      e.span.end(hrNow());
    }
    this.entries.clear();
  }

  private evictOldest(): void {
    const first = this.entries.keys().next();
    if (first.done === true) return;
    const e = this.entries.get(first.value) as Entry;
    this.entries.delete(first.value);
    e.span.setAttribute(Attr.Outcome, Outcome.Abandoned);
    e.span.end(hrNow());
  }

  private sweep(): void {
    const floor = performance.now() - this.maxAgeMs;
    for (const [k, e] of this.entries) {
      // Insertion order is age order: stop at the first young entry.
      if (e.since > floor) break;
      this.entries.delete(k);
      e.span.setAttribute(Attr.Outcome, Outcome.Abandoned);
      e.span.end(hrNow());
    }
  }
}
