import {
  decodeLogEvent,
  type LogEntry,
  logPattern,
  MAX_READ_ENTRIES,
  type ReadReply,
} from '@synod/codec';
import type { Transport, TransportMessage } from '@synod/runtime';
import { SynodError } from './errors.js';
import { backoffMs, sleep } from './time.js';

/** Options of {@link SynodClient.watch}. */
export interface WatchOptions {
  /** Ends the watch (the iteration simply finishes). */
  readonly signal?: AbortSignal;
  /**
   * Called when a read fails (no learner, a timeout, a bad reply). Return true to keep
   * watching (the read is retried after a back-off), false to end the iteration with the
   * error. Without it, the first failed read ends the iteration with its error.
   */
  readonly onError?: (error: SynodError, info: { readonly failures: number;
    readonly cursor: number }) => boolean;
  /**
   * Called once, the first time the watch has read every slot a learner had delivered: what
   * follows is live. Useful to tell history from new entries.
   */
  readonly onCaughtUp?: (cursor: number) => void;
  /** Most live entries held while catching up (later ones are read instead); default 10 000. */
  readonly maxBufferedEntries?: number;
  /** Entries asked per read, 1..1000 (`MAX_READ_ENTRIES`); default 1000. */
  readonly pageSize?: number;
  /** With no live event for this long, read anyway, in case events were lost; default 5000. */
  readonly idlePollMs?: number;
}

/** What a watch needs from the client. */
export interface WatchContext {
  readonly transport: Transport;
  readonly cluster: string;
  /** Reads entries from a learner (retrying as the client does). */
  readonly read: (fromSlot: number, limit: number, signal: AbortSignal) => Promise<ReadReply>;
}

/**
 * Follows the decided log from a slot on. Subscribes to every learner's log events first, then
 * pages through history with reads until it reaches the live events, holding those meanwhile;
 * any gap between its cursor and the slots it knows are decided (from events or from a
 * learner's `nextSlot`) is filled by reads. Several learners publish the same slots: the
 * cursor only moves forward, so each slot is yielded exactly once, in order.
 */
export class LogWatcher {
  private cursor: number;
  /** Highest slot known to be decided (from live events and read replies), -1 if none. */
  private knownEnd = -1;
  private readonly buffer = new Map<number, LogEntry>();
  private wake: (() => void) | null = null;
  private needRead = true;
  private caughtUp = false;
  private readonly maxBuffered: number;
  private readonly pageSize: number;
  private readonly idlePollMs: number;
  /** Log events that did not decode (ignored). */
  malformedEvents = 0;

  constructor(
    private readonly ctx: WatchContext,
    fromSlot: number,
    private readonly signal: AbortSignal,
    private readonly opts: WatchOptions = {},
  ) {
    this.cursor = fromSlot;
    this.maxBuffered = opts.maxBufferedEntries ?? 10_000;
    this.pageSize = Math.min(MAX_READ_ENTRIES, Math.max(1, opts.pageSize ?? MAX_READ_ENTRIES));
    this.idlePollMs = opts.idlePollMs ?? 5000;
  }

  /** Yields decided entries from `fromSlot` on, in slot order, until the signal aborts. */
  async *entries(): AsyncGenerator<LogEntry, void, undefined> {
    const sub = this.ctx.transport.subscribe(logPattern(this.ctx.cluster), (m) => this.onEvent(m));
    const onAbort = (): void => this.notify();
    this.signal.addEventListener('abort', onAbort);
    try {
      // Subscribed at the server before the first read: no delivery falls between the two.
      await this.ctx.transport.flush();
      let failures = 0;
      while (!this.signal.aborted) {
        const live = this.buffer.get(this.cursor);
        if (live !== undefined) {
          yield this.advance(live);
          continue;
        }
        if (!this.needRead && this.knownEnd < this.cursor) {
          this.maybeCaughtUp();
          if (!(await this.waitForEvent(this.idlePollMs))) this.needRead = true;
          continue;
        }
        let page: LogEntry[];
        try {
          page = await this.readPage();
          failures = 0;
        } catch (e) {
          if (this.signal.aborted) return;
          if (!(e instanceof SynodError) || !this.keepGoing(e, ++failures)) throw e;
          await sleep(backoffMs(failures, 100, 2000), this.signal);
          continue;
        }
        for (const e of page) {
          if (e.slot !== this.cursor) continue; // yielded from a live event meanwhile
          yield this.advance(e);
          if (this.signal.aborted) return;
        }
        // A slot is known decided but the learner that answered has not delivered it yet.
        if (page.length === 0 && this.knownEnd >= this.cursor) await this.waitForEvent(50);
      }
    } finally {
      sub.unsubscribe();
      this.signal.removeEventListener('abort', onAbort);
      this.notify();
    }
  }

  private maybeCaughtUp(): void {
    if (this.caughtUp) return;
    this.caughtUp = true;
    this.opts.onCaughtUp?.(this.cursor);
  }

  private keepGoing(e: SynodError, failures: number): boolean {
    return this.opts.onError?.(e, { failures, cursor: this.cursor }) ?? false;
  }

  private advance(e: LogEntry): LogEntry {
    this.buffer.delete(e.slot);
    this.cursor = e.slot + 1;
    return e;
  }

  /** Reads the next page; returns its entries that continue the cursor without a gap. */
  private async readPage(): Promise<LogEntry[]> {
    const from = this.cursor;
    const reply = await this.ctx.read(from, this.pageSize, this.signal);
    this.needRead = false;
    this.knownEnd = Math.max(this.knownEnd, reply.nextSlot - 1);
    const out: LogEntry[] = [];
    let expected = from;
    for (const e of reply.entries) {
      if (e.slot !== expected) break;
      out.push(e);
      expected++;
    }
    return out;
  }

  private onEvent(m: TransportMessage): void {
    let ev;
    try {
      ev = decodeLogEvent(m.data);
    } catch {
      this.malformedEvents++;
      return;
    }
    for (const e of ev.entries) {
      if (e.slot < this.cursor) continue;
      if (e.slot > this.knownEnd) this.knownEnd = e.slot;
      // When full, later entries are dropped: knownEnd still says they exist, so they are read.
      if (!this.buffer.has(e.slot) && this.buffer.size < this.maxBuffered) {
        this.buffer.set(e.slot, e);
      }
    }
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Waits for a live event (true), the signal, or `ms` to pass (false). */
  private waitForEvent(ms: number): Promise<boolean> {
    if (this.signal.aborted) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve(false);
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }
}
