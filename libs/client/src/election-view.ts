import type { LogEntry } from '@synod/codec';
import {
  type Applied,
  ElectionMachine,
  type ElectionOutcome,
  type Lease,
} from '@synod/election';
import { commandKey } from '@synod/protocol';
import { SynodAbortedError, SynodError, SynodProtocolError } from './errors.js';

/** What the view needs from the client: a watch of the decided log from slot 0. */
export interface ViewSource {
  readonly clientId: string;
  watch(fromSlot: number, opts: {
    signal: AbortSignal;
    onCaughtUp: (cursor: number) => void;
    onError: (e: SynodError) => boolean;
  }): AsyncIterable<LogEntry>;
}

interface SlotWaiter {
  readonly slot: number;
  readonly resolve: () => void;
}

/**
 * A client's replica of the election state machine: it watches the decided log from slot 0
 * and applies every slot in order, exactly as learners' applications do, so it knows who holds
 * each group at the log's current point and what each of this client's election commands did.
 * One view per client, shared by its `elect` and `observe` calls; it runs while someone uses
 * it, and a view stopped and started again resumes where it was.
 */
export class ElectionView {
  readonly machine = new ElectionMachine();
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
    // A view stopped and started again goes on from where it was: the machine keeps its state.
    const entries = this.source.watch(this.machine.nextSlot, {
      signal: stopper.signal,
      onCaughtUp: () => this.markCaughtUp(),
      // Learners restart and networks fail: the view keeps following the log regardless, and
      // whoever waits on it has a deadline of its own.
      onError: (e) => {
        this.lastError = e;
        return true;
      },
    });
    void (async () => {
      try {
        for await (const e of entries) {
          // Entries buffered before a stop are not applied: a restarted view reads on from
          // the machine's next slot with a watch of its own.
          if (stopper.signal.aborted) break;
          this.apply(e);
        }
      } catch (e) {
        if (e instanceof SynodError) this.lastError = e;
      }
    })();
  }

  private apply(e: LogEntry): void {
    const a = this.machine.apply(e.slot, e.value);
    for (const r of a.results) {
      if (r.clientId === this.source.clientId) this.results.set(commandKey(r), r.outcome);
    }
    for (const f of [...this.listeners]) f(a);
    const next = this.machine.nextSlot;
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
