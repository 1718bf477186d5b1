import { type Ballot, compareBallots, compareMaybeBallots, describeBallot } from './ballot.js';
import { invariant } from './invariants.js';
import type {
  AcceptedEntry,
  Message,
  MsgAccept,
  MsgCatchup,
  MsgPrepare,
} from './messages.js';
import { PlantedBug } from './planted.js';
import { DEFAULT_WIRE_BUDGET_BYTES, entryWireBytes } from './size.js';
import type { AcceptorPersist, CoreEvent, Ready } from './ready.js';
import { valueEquals } from './value.js';

/** An acceptor's durable state: what survives a crash. */
export interface AcceptorDurableState {
  readonly promised: Ballot | null;
  readonly accepted: readonly AcceptedEntry[];
  /** Every slot below it is decided and compacted away (0, or absent, when never compacted). */
  readonly floor?: number;
}

/** Acceptor settings. */
export interface AcceptorConfig {
  /** This acceptor's node id, as it appears in subjects and messages. */
  readonly id: string;
  /** Most entries returned in answer to one catch-up request. */
  readonly maxCatchupEntries?: number;
  /** Most votes reported in one promise; beyond it the promise is a page (`upTo`). */
  readonly maxPromiseEntries?: number;
  /**
   * Most bytes of the votes reported in one promise, by `entryWireBytes`; beyond it the
   * promise is a page too, of at least one vote. The driver passes `wireBudgetBytes` of its
   * limits (default: that of the default limits), so that every promise can be encoded.
   */
  readonly maxPromiseBytes?: number;
  /** Simulator only: a planted bug to switch on. */
  readonly plantedBug?: PlantedBug;
}

/**
 * The acceptor of Multi-Paxos as a pure state machine. One promise covers every slot (a prepare
 * names the first slot it asks about); accepted entries are kept per slot.
 *
 * Rules (Paxos Made Simple, P1a): it promises a ballot only if it has not promised a higher
 * one, and accepts a proposal only if it has not promised a higher ballot. Everything it
 * promises or accepts appears in `Ready.persist` and must be durable before its reply is sent.
 */
export class AcceptorCore {
  readonly id: string;
  private promisedBallot: Ballot | null;
  private readonly acceptedBySlot = new Map<number, AcceptedEntry>();
  private floorSlot: number;
  private readonly maxCatchupEntries: number;
  private readonly maxPromiseEntries: number;
  private readonly maxPromiseBytes: number;
  private readonly plantedBug: PlantedBug | undefined;

  private outPromised: Ballot | null = null;
  private readonly outAccepted = new Map<number, AcceptedEntry>();
  private outCompact: { floor: number; dropped: number[] } | null = null;
  private outMessages: Message[] = [];
  private outEvents: CoreEvent[] = [];

  constructor(
    config: AcceptorConfig,
    durable: AcceptorDurableState = { promised: null, accepted: [] },
  ) {
    this.id = config.id;
    this.maxCatchupEntries = config.maxCatchupEntries ?? 256;
    this.maxPromiseEntries = config.maxPromiseEntries ?? 4096;
    this.maxPromiseBytes = config.maxPromiseBytes ?? DEFAULT_WIRE_BUDGET_BYTES;
    this.plantedBug = config.plantedBug;
    this.promisedBallot = durable.promised;
    this.floorSlot = durable.floor ?? 0;
    for (const e of durable.accepted) {
      if (e.slot >= this.floorSlot) this.acceptedBySlot.set(e.slot, e);
    }
    this.checkInvariants();
  }

  /** The highest ballot promised, or null. */
  get promised(): Ballot | null {
    return this.promisedBallot;
  }

  /** The entry accepted for `slot`, if any. */
  acceptedAt(slot: number): AcceptedEntry | undefined {
    return this.acceptedBySlot.get(slot);
  }

  /** Every slot below this one is decided and its vote compacted away. */
  get floor(): number {
    return this.floorSlot;
  }

  /** Every accepted entry, in slot order. */
  acceptedEntries(): AcceptedEntry[] {
    return [...this.acceptedBySlot.values()].sort((a, b) => a.slot - b.slot);
  }

  /** Feeds one message to the acceptor. Messages for other roles are ignored. */
  step(m: Message): void {
    switch (m.type) {
      case 'prepare':
        this.onPrepare(m);
        return;
      case 'accept':
        this.onAccept(m);
        return;
      case 'catchup':
        this.onCatchup(m);
        return;
      case 'promise':
      case 'nack':
      case 'accepted':
      case 'chosen':
      case 'heartbeat':
      case 'request':
      case 'response':
      case 'progress':
        this.outEvents.push({ kind: 'rejected', reason: 'wrong-role', detail: m.type });
        return;
      default:
        assertNeverMsg(m);
    }
  }

  /** Acceptors keep no timers; present for a uniform driver interface. */
  tick(): void {}

  /** True when `ready()` has something to do. */
  hasReady(): boolean {
    return this.outPromised !== null || this.outAccepted.size > 0 || this.outCompact !== null ||
      this.outMessages.length > 0 || this.outEvents.length > 0;
  }

  /** The pending work; see {@link Ready} for the persist-before-send contract. */
  ready(): Ready<AcceptorPersist> {
    const dirty = this.outPromised !== null || this.outAccepted.size > 0 ||
      this.outCompact !== null;
    return {
      persist: dirty
        ? {
          promised: this.outPromised,
          accepted: [...this.outAccepted.values()],
          ...(this.outCompact === null ? {} : { compact: this.outCompact }),
        }
        : null,
      messages: this.outMessages,
      committed: [],
      events: this.outEvents,
    };
  }

  /** Acknowledges the last `ready()`: it has been persisted and sent. */
  advance(): void {
    this.outPromised = null;
    this.outAccepted.clear();
    this.outCompact = null;
    this.outMessages = [];
    this.outEvents = [];
  }

  private onPrepare(m: MsgPrepare): void {
    if (compareMaybeBallots(m.ballot, this.promisedBallot) < 0) {
      this.nack(m.from, m.ballot, null);
      return;
    }
    this.raisePromise(m.ballot);
    const accepted: AcceptedEntry[] = [];
    for (const e of this.acceptedBySlot.values()) if (e.slot >= m.fromSlot) accepted.push(e);
    accepted.sort((a, b) => a.slot - b.slot);
    const base = {
      type: 'promise', from: this.id, to: m.from, ballot: m.ballot, fromSlot: m.fromSlot,
      // Votes below the floor are gone (every entry kept is at or above it): say so.
      ...(this.floorSlot > m.fromSlot && this.plantedBug !== PlantedBug.PromiseWithoutFloor
        ? { floor: this.floorSlot } : {}),
      ...(m.recovery === undefined ? {} : { recovery: m.recovery }),
    } as const;
    const n = this.pageLength(accepted);
    const cut = accepted[n];
    if (cut === undefined) {
      this.outMessages.push({ ...base, accepted });
    } else {
      // One page: the votes below `cut.slot`; the proposer asks again from there.
      this.outMessages.push({ ...base, accepted: accepted.slice(0, n), upTo: cut.slot });
    }
    this.outEvents.push({ kind: 'promised', ballot: m.ballot, to: m.from });
  }

  /**
   * How many of `entries` (in slot order) the first page reports: at most maxPromiseEntries
   * and maxPromiseBytes of them, and at least one, so that every page makes progress. A
   * report bounded by count alone can be too large to encode (a thousand large commands),
   * and a promise that cannot be sent leaves every candidate without a quorum, for good.
   */
  private pageLength(entries: readonly AcceptedEntry[]): number {
    const max = Math.min(entries.length, Math.max(1, this.maxPromiseEntries));
    let bytes = 0;
    for (let n = 0; n < max; n++) {
      bytes += entryWireBytes(entries[n] as AcceptedEntry);
      if (n > 0 && bytes > this.maxPromiseBytes) return n;
    }
    return max;
  }

  private onAccept(m: MsgAccept): void {
    if (m.to !== undefined && m.to !== this.id) {
      // Addressed to another acceptor (thrifty phase 2): not this one's to vote on.
      this.outEvents.push({ kind: 'rejected', reason: 'misaddressed', detail: m.to });
      return;
    }
    const belowPromise = compareMaybeBallots(m.ballot, this.promisedBallot) < 0;
    if (belowPromise && this.plantedBug !== PlantedBug.AcceptBelowPromise) {
      this.nack(m.from, m.ballot, m.slot);
      return;
    }
    if (m.slot < this.floorSlot) {
      // The slot is decided and its vote compacted away: a stale proposer's retransmission.
      // Taking it would re-grow the log; the proposer learns the slot from a catch-up.
      this.outEvents.push({ kind: 'rejected', reason: 'compacted', detail: String(m.slot) });
      return;
    }
    if (!belowPromise) this.raisePromise(m.ballot);
    const prev = this.acceptedBySlot.get(m.slot);
    const same = prev !== undefined && compareBallots(prev.ballot, m.ballot) === 0;
    if (same) {
      // A retransmission at the same ballot must carry the same value: a proposer never
      // proposes two values in one slot at one ballot.
      invariant(valueEquals(prev.value, m.value) || this.plantedBug !== undefined,
        () => `two values at slot ${m.slot} ballot ${describeBallot(m.ballot)}`);
    } else {
      const entry: AcceptedEntry = { slot: m.slot, ballot: m.ballot, value: m.value };
      this.acceptedBySlot.set(m.slot, entry);
      this.outAccepted.set(m.slot, entry);
    }
    this.outMessages.push({
      type: 'accepted', from: this.id, ballot: m.ballot, slot: m.slot, value: m.value,
    });
    this.outEvents.push({ kind: 'accepted', ballot: m.ballot, slot: m.slot });
    if (this.plantedBug === undefined) this.checkEntry(m.slot);
    if (m.compactBelow !== undefined && !belowPromise) this.compact(m.compactBelow, m.slot);
  }

  /**
   * Drops the votes below `floor`, which the leader (holding a ballot this acceptor has not
   * promised to refuse) says are decided and held by the learners. A correct leader never
   * proposes below its own compaction point, so a floor above the accept's slot is refused.
   */
  private compact(floor: number, slot: number): void {
    if (floor <= this.floorSlot) return;
    if (floor > slot) {
      this.outEvents.push({ kind: 'rejected', reason: 'bad-compact', detail: `${floor}>${slot}` });
      return;
    }
    const dropped: number[] = [];
    if (floor - this.floorSlot <= this.acceptedBySlot.size) {
      for (let s = this.floorSlot; s < floor; s++) {
        if (this.acceptedBySlot.delete(s)) dropped.push(s);
      }
    } else {
      for (const s of this.acceptedBySlot.keys()) if (s < floor) dropped.push(s);
      for (const s of dropped) this.acceptedBySlot.delete(s);
    }
    // An entry accepted earlier in this Ready and dropped now is still written (then deleted)
    // by the same atomic persist, so its reply never leaves ahead of a durable vote.
    this.floorSlot = floor;
    const prev = this.outCompact;
    this.outCompact = { floor, dropped: prev === null ? dropped : prev.dropped.concat(dropped) };
    this.outEvents.push({ kind: 'compacted', floor, dropped: dropped.length });
  }

  private onCatchup(m: MsgCatchup): void {
    let sent = 0;
    const hi = Math.min(m.toSlot, m.fromSlot + this.maxCatchupEntries - 1);
    for (let s = m.fromSlot; s <= hi && sent < this.maxCatchupEntries; s++) {
      const e = this.acceptedBySlot.get(s);
      if (e === undefined) continue;
      this.outMessages.push({
        type: 'accepted', from: this.id, to: m.from, ballot: e.ballot, slot: e.slot, value: e.value,
      });
      sent++;
    }
  }

  private raisePromise(b: Ballot): void {
    if (compareMaybeBallots(b, this.promisedBallot) > 0) {
      this.promisedBallot = b;
      this.outPromised = b;
    }
  }

  private nack(to: string, ballot: Ballot, slot: number | null): void {
    const promised = this.promisedBallot as Ballot;
    this.outMessages.push({ type: 'nack', from: this.id, to, ballot, promised, slot });
    this.outEvents.push({ kind: 'nacked', ballot, promised, slot });
  }

  /** promised >= accepted, for one slot. */
  private checkEntry(slot: number): void {
    const e = this.acceptedBySlot.get(slot);
    if (e === undefined) return;
    invariant(compareMaybeBallots(e.ballot, this.promisedBallot) <= 0,
      () => `acceptor ${this.id}: accepted ${describeBallot(e.ballot)} at slot ${slot} above ` +
        `promise ${describeBallot(this.promisedBallot)}`);
  }

  private checkInvariants(): void {
    if (this.plantedBug !== undefined) return;
    for (const slot of this.acceptedBySlot.keys()) this.checkEntry(slot);
  }
}

function assertNeverMsg(m: never): never {
  throw new Error(`unreachable message: ${JSON.stringify(m)}`);
}
