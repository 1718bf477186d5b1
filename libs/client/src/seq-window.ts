import { DEDUPE_WINDOW } from '@synod/protocol';
import {
  SynodAbortedError,
  SynodOutcomeUnknownError,
  SynodStaleSeqError,
  SynodTimeoutError,
} from './errors.js';

/**
 * How far ahead of its oldest outstanding proposal a {@link SynodClient} may start a seq, and
 * how far below its next seq a retry may reach: 1024.
 *
 * Why: applications apply the log through a `Deduplicator` (`@synod/protocol`) that keeps, per
 * client, a floor plus at most {@link DEDUPE_WINDOW} (4096) seqs seen above it; once more than
 * 4096 seqs above a gap are seen, the floor jumps past the gap (that seq "never comes"). A seq
 * decided after that is skipped as a duplicate by every application, although the proposer
 * answered `chosen`: a lost write acknowledged as a success. The client prevents it by
 * construction, keeping every seq it can still get acknowledged within this window, well
 * below the deduplicator's (a quarter of it, so the bound holds with room to spare).
 *
 * The argument. Let `next` be the client's next seq (every seq it ever started is below it)
 * and `W` this window. Two rules:
 * 1. a proposal of seq `t` starts only while no proposal of a seq `s` with `t >= s + W` is
 *    outstanding (else it waits);
 * 2. a proposal of an explicit seq `s` (a retry) starts only when `s >= next - W`, i.e.
 *    `next <= s + W` (else it is refused with {@link SynodStaleSeqError}).
 * Then, for every proposal of seq `s`, `next <= s + W` holds from its start until it settles:
 * at the start by rule 2 (or `next = s + 1` for a new seq), and afterwards `next` only grows
 * when a seq `t` starts, which rule 1 keeps below `s + W` while `s` is outstanding, so
 * `next = max(next, t + 1) <= s + W`. So every seq above `s` that this client ever started
 * before `s` settles lies in `(s, s + W)`: at most `W - 1` = 1023 of them. A proposer answers
 * `chosen` with the first slot holding `s`, once every slot below it is decided, and only the
 * commands in those lower slots are admitted before `s`: at most 1023 seqs above `s`, fewer
 * than the 4097 needed to move the floor past `s` (the floor passes an unseen `s` only by a
 * jump to the least seq seen above it, when more than 4096 are). So an acknowledged seq is
 * always applied. A seq whose proposal failed with an unknown outcome may still be chosen
 * later and skipped; rule 2 makes sure it is never acknowledged then: its retry is refused.
 *
 * The guarantee holds per client instance. A new instance reusing a client id must start with
 * `nextSeq` past every seq of the old one (as the `clientId` option says), and may retry an
 * old seq only while that seq is within the window of its own `nextSeq`.
 */
export const SEQ_WINDOW = 1024;

// The argument above needs SEQ_WINDOW <= DEDUPE_WINDOW; keep it far below.
if (SEQ_WINDOW * 4 > DEDUPE_WINDOW) {
  throw new Error(`SEQ_WINDOW ${SEQ_WINDOW} must stay well below the dedupe window ` +
    `${DEDUPE_WINDOW}`);
}

/** A proposal waiting for the window: its explicit seq (or none: takes the next one). */
interface Waiter {
  readonly seq: number | undefined;
  readonly start: (seq: number) => void;
  readonly fail: (e: Error) => void;
}

/**
 * The seqs of one client: the next one, the outstanding ones, and proposals waiting to start
 * (rules 1 and 2 of {@link SEQ_WINDOW}). Internal to {@link SynodClient}.
 */
export class SeqWindow {
  private next: number;
  private readonly clientId: string;
  /** Outstanding seqs with the number of proposals of each (a retry may overlap its first). */
  private readonly outstanding = new Map<number, number>();
  private readonly waiters: Waiter[] = [];

  constructor(clientId: string, nextSeq: number, readonly size = SEQ_WINDOW) {
    this.clientId = clientId;
    this.next = nextSeq;
  }

  /** The seq the next proposal without an explicit seq takes. */
  get nextSeq(): number {
    return this.next;
  }

  /** Proposals started and not settled. */
  get inFlight(): number {
    let n = 0;
    for (const c of this.outstanding.values()) n += c;
    return n;
  }

  /** Proposals waiting for the window. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Rule 2: throws {@link SynodStaleSeqError} when `seq` is more than the window below next. */
  checkNotStale(seq: number): void {
    if (seq < this.next - this.size) {
      throw new SynodStaleSeqError({ clientId: this.clientId, seq }, this.next, this.size);
    }
  }

  /**
   * Starts a proposal now (returns its seq, now outstanding) or returns undefined when the
   * window is full and it has to {@link wait}. Throws {@link SynodStaleSeqError} (rule 2).
   */
  tryStart(seq: number | undefined): number | undefined {
    if (seq !== undefined) this.checkNotStale(seq);
    // New seqs are taken in call order: behind one already waiting, wait too.
    if (seq === undefined && this.waiters.some((w) => w.seq === undefined)) return undefined;
    return this.fits(seq) ? this.take(seq) : undefined;
  }

  /**
   * Waits until the proposal may start (resolves with its seq, now outstanding), or rejects
   * when the deadline passes ({@link SynodTimeoutError} for a new command: nothing was
   * proposed; {@link SynodOutcomeUnknownError} for an explicit seq, whose earlier attempts may
   * have been chosen) or the signal aborts ({@link SynodAbortedError}).
   */
  wait(
    payload: string,
    seq: number | undefined,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const why = (): string => `${this.inFlight} proposals of this client are outstanding, ` +
        `the oldest with seq ${this.lowest() ?? '?'}, and none starts ${this.size} or more ` +
        'seqs past it';
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
      };
      const w: Waiter = {
        seq,
        start: (s) => {
          done();
          resolve(s);
        },
        fail: (e) => {
          done();
          reject(e);
        },
      };
      const onAbort = (): void => {
        const id = seq === undefined ? undefined : { clientId: this.clientId, seq };
        w.fail(new SynodAbortedError(`propose aborted while waiting for the seq window ` +
          `(${why()}); nothing of this call reached a proposer`, {
          cause: signal.reason,
          ...(id === undefined ? {} : { cmd: id }),
          // An explicit seq may be a retry whose earlier attempts reached a proposer.
          outcomeUnknown: seq !== undefined,
        }));
      };
      const timer = setTimeout(() => {
        const detail = `it could not start within ${timeoutMs} ms: ${why()}`;
        w.fail(seq === undefined
          ? new SynodTimeoutError(`propose timed out before it started (${detail}); nothing ` +
            'was proposed')
          : new SynodOutcomeUnknownError({ clientId: this.clientId, seq, payload },
            `${detail}; this call sent nothing`));
      }, Math.min(timeoutMs, 2 ** 31 - 1));
      if (signal.aborted) {
        clearTimeout(timer);
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  /** A proposal of `seq` settled: starts the waiting proposals that now fit, in order. */
  finish(seq: number): void {
    const c = this.outstanding.get(seq) ?? 0;
    if (c <= 1) this.outstanding.delete(seq);
    else this.outstanding.set(seq, c - 1);
    this.pump();
  }

  private pump(): void {
    let low = this.lowest();
    // Once a new seq does not fit, no later one does (next only grows): skip them.
    let newBlocked = false;
    for (let i = 0; i < this.waiters.length;) {
      const w = this.waiters[i] as Waiter;
      if (w.seq !== undefined && w.seq < this.next - this.size) {
        // The window moved past it while it waited (rule 2).
        w.fail(new SynodStaleSeqError({ clientId: this.clientId, seq: w.seq }, this.next,
          this.size));
        continue; // fail removed it
      }
      const s = w.seq ?? this.next;
      if ((w.seq === undefined && newBlocked) || (low !== undefined && s >= low + this.size)) {
        if (w.seq === undefined) newBlocked = true;
        i++;
        continue;
      }
      w.start(this.take(w.seq)); // start removed it
      low = low === undefined ? s : Math.min(low, s);
    }
  }

  /** Rule 1: may a proposal of `seq` (or of the next seq) start now? */
  private fits(seq: number | undefined): boolean {
    const low = this.lowest();
    return low === undefined || (seq ?? this.next) < low + this.size;
  }

  private take(seq: number | undefined): number {
    const s = seq ?? this.next;
    this.next = Math.max(this.next, s + 1);
    this.outstanding.set(s, (this.outstanding.get(s) ?? 0) + 1);
    return s;
  }

  private lowest(): number | undefined {
    let low: number | undefined;
    for (const s of this.outstanding.keys()) if (low === undefined || s < low) low = s;
    return low;
  }
}
