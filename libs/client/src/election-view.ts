import type { LogEntry } from '@synod/codec';
import {
  type Applied,
  ElectionMachine,
  type ElectionOutcome,
  type Lease,
} from '@synod/election';
import { commandKey } from '@synod/protocol';
import { SynodAbortedError, SynodError, SynodProtocolError } from './errors.js';
import type { SnapshotResult } from './snapshot.js';

/**
 * What the view needs from the client: a watch of the decided log, and (optionally) a
 * learner's election snapshot to start from instead of slot 0.
 */
export interface ViewSource {
  readonly clientId: string;
  watch(fromSlot: number, opts: {
    signal: AbortSignal;
    onCaughtUp: (cursor: number) => void;
    onError: (e: SynodError) => boolean;
  }): AsyncIterable<LogEntry>;
  electionSnapshot?(signal: AbortSignal): Promise<SnapshotResult>;
}

/** Where a view started: a learner's snapshot, or slot 0 (and why not a snapshot). */
export type ViewStart =
  | { readonly from: 'snapshot'; readonly slot: number; readonly learner: string }
  | { readonly from: 'replay'; readonly reason: string };

interface SlotWaiter {
  readonly slot: number;
  readonly resolve: () => void;
}

/**
 * A client's replica of the election state machine: it applies every slot of the decided log
 * in order, exactly as learners' applications do, so it knows who holds each group at the
 * log's current point and what each of this client's election commands did. It starts from a
 * learner's election snapshot when one is to be had (the state after every slot the learner
 * delivered, checked field by field as it is restored), else from slot 0, and watches the log
 * from there. One view per client, shared by its `elect` and `observe` calls; it runs while
 * someone uses it, and a view stopped and started again resumes where it was.
 */
export class ElectionView {
  private m = new ElectionMachine();
  /** Where this view started; null until it has. */
  started: ViewStart | null = null;
  /** Slots applied from the log (not counting those a snapshot stood for). */
  applied = 0;
  private readonly results = new Map<string, ElectionOutcome>();
  private readonly listeners = new Set<(a: Applied) => void>();
  private waiters: SlotWaiter[] = [];
  private users = 0;
  private stopper: AbortController | null = null;
  private caughtUp = false;
  private readonly readyWaiters = new Set<() => void>();
  /** The last failure of the watch, for error messages while it keeps retrying. */
  lastError: SynodError | null = null;

  constructor(private readonly source: ViewSource) {}

  /** The replica of the election machine (replaced once, by a snapshot, before any slot). */
  get machine(): ElectionMachine {
    return this.m;
  }

  /** True once the view has applied every slot a learner had when it started. */
  get isCaughtUp(): boolean {
    return this.caughtUp;
  }

  /** Starts the view if needed; pair with {@link release}. */
  acquire(): void {
    this.users++;
    if (this.stopper === null) this.run();
  }

  /** Stops the view when nobody uses it any more. */
  release(): void {
    this.users = Math.max(0, this.users - 1);
    if (this.users > 0) return;
    this.stopper?.abort();
    this.stopper = null;
    // Stopped, it falls behind the log: whoever starts it again waits for it to catch up anew
    // (observe() would otherwise call a replica minutes old "current").
    this.caughtUp = false;
  }

  /** The live lease of `group` at the view's point of the log. */
  lease(group: string): Lease | null {
    return this.machine.lease(group);
  }

  /** Calls `f` with every slot applied from now on; returns the unsubscribe function. */
  subscribe(f: (a: Applied) => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** Resolves once caught up; rejects with SynodAbortedError when `signal` aborts first. */
  ready(signal: AbortSignal): Promise<void> {
    if (this.caughtUp) return Promise.resolve();
    return this.until(signal, (done) => {
      this.readyWaiters.add(done);
      return () => this.readyWaiters.delete(done);
    }, 'waiting for the election view to catch up');
  }

  /**
   * What this client's election command `(clientId, seq)`, decided at `slot`, did: waits
   * until the view has applied that slot. Rejects with SynodAbortedError when `signal` aborts
   * first, and with SynodProtocolError when the slot holds no result for the command.
   */
  async outcomeOf(cmd: { clientId: string; seq: number }, slot: number,
    signal: AbortSignal): Promise<ElectionOutcome> {
    if (this.machine.nextSlot <= slot) {
      await this.until(signal, (done) => {
        const w = { slot, resolve: done };
        this.waiters.push(w);
        return () => {
          this.waiters = this.waiters.filter((x) => x !== w);
        };
      }, `waiting for slot ${slot} to be applied`);
    }
    const key = commandKey(cmd);
    const r = this.results.get(key);
    if (r === undefined) {
      throw new SynodProtocolError(`slot ${slot} was reported for ${key}, but applying the log ` +
        'gave that command no election result');
    }
    this.results.delete(key);
    return r;
  }

  private until(signal: AbortSignal, register: (done: () => void) => () => void,
    what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new SynodAbortedError(`${what}: aborted`, { cause: signal.reason }));
        return;
      }
      const onAbort = (): void => {
        unregister();
        const why = this.lastError === null ? '' : ` (last error: ${this.lastError.message})`;
        reject(new SynodAbortedError(`${what}: aborted${why}`, { cause: signal.reason }));
      };
      const unregister = register(() => {
        signal.removeEventListener('abort', onAbort);
        unregister();
        resolve();
      });
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private run(): void {
    const stopper = new AbortController();
    this.stopper = stopper;
    if (this.m.nextSlot !== 0 || this.source.electionSnapshot === undefined) {
      // A view stopped and started again goes on from where it was: the machine keeps its
      // state. A watch that cannot start (the client is closed) throws to whoever acquired.
      this.started ??= { from: 'replay', reason: this.source.electionSnapshot === undefined
        ? 'no snapshot source' : 'resumed' };
      void this.follow(this.open(stopper), stopper);
      return;
    }
    // Nothing applied yet: start from a learner's state rather than replay the whole log.
    void (async () => {
      let r: SnapshotResult;
      try {
        r = await this.source.electionSnapshot?.(stopper.signal) ?? { failed: 'no source' };
      } catch (e) {
        // Never fatal: the replay from slot 0 is always correct.
        r = { failed: e instanceof Error ? e.message : String(e) };
      }
      if (stopper.signal.aborted) return;
      if ('machine' in r && this.m.nextSlot === 0) {
        this.m = r.machine;
        this.started = { from: 'snapshot', slot: r.machine.nextSlot, learner: r.learner };
        this.settleWaiters();
      } else {
        this.started = { from: 'replay', reason: 'failed' in r ? r.failed : 'already started' };
      }
      let entries: AsyncIterable<LogEntry>;
      try {
        entries = this.open(stopper);
      } catch (e) {
        // The client closed meanwhile: whoever waits on the view has its own deadline, and
        // the client's close aborts it.
        if (e instanceof SynodError) this.lastError = e;
        return;
      }
      await this.follow(entries, stopper);
    })();
  }

  /** The watch of the log from the machine's next slot. */
  private open(stopper: AbortController): AsyncIterable<LogEntry> {
    return this.source.watch(this.m.nextSlot, {
      signal: stopper.signal,
      onCaughtUp: () => this.markCaughtUp(),
      // Learners restart and networks fail: the view keeps following the log regardless, and
      // whoever waits on it has a deadline of its own.
      onError: (e) => {
        this.lastError = e;
        return true;
      },
    });
  }

  /** Applies the watched entries until the view stops. */
  private async follow(entries: AsyncIterable<LogEntry>, stopper: AbortController):
    Promise<void> {
    try {
      for await (const e of entries) {
        // Entries buffered before a stop are not applied: a restarted view reads on from the
        // machine's next slot with a watch of its own.
        if (stopper.signal.aborted) break;
        this.apply(e);
      }
    } catch (e) {
      if (e instanceof SynodError) this.lastError = e;
    }
  }

  private apply(e: LogEntry): void {
    const a = this.m.apply(e.slot, e.value);
    this.applied++;
    for (const r of a.results) {
      if (r.clientId === this.source.clientId) this.results.set(commandKey(r), r.outcome);
    }
    for (const f of [...this.listeners]) f(a);
    this.settleWaiters();
  }

  /** Wakes whoever waits for a slot the machine has passed (applied, or in a snapshot). */
  private settleWaiters(): void {
    const next = this.m.nextSlot;
    const due = this.waiters.filter((w) => w.slot < next);
    if (due.length > 0) {
      this.waiters = this.waiters.filter((w) => w.slot >= next);
      for (const w of due) w.resolve();
    }
  }

  private markCaughtUp(): void {
    this.caughtUp = true;
    for (const f of [...this.readyWaiters]) f();
    this.readyWaiters.clear();
  }
}
