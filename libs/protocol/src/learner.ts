import type { Ballot } from './ballot.js';
import type { Message, MsgAccepted, MsgChosen } from './messages.js';
import { effectiveQuorum, PlantedBug } from './planted.js';
import type { CoreEvent, Decision, LearnerPersist, Ready } from './ready.js';
import { Tally } from './tally.js';
import { NOOP, type Value } from './value.js';

const NO_BALLOT: Ballot = { round: 0, proposer: '', incarnation: 0 };

/** Learner settings. */
export interface LearnerConfig {
  readonly id: string;
  /** Ids of every acceptor; a decision needs a majority of them at one ballot. */
  readonly acceptors: readonly string[];
  /** Ticks without delivery progress, while behind, before asking for a catch-up. */
  readonly catchupTicks?: number;
  /** Most slots asked for in one catch-up request. */
  readonly maxCatchupSlots?: number;
  /** Ticks between progress reports (MsgProgress) to the proposers. */
  readonly progressTicks?: number;
  /** Simulator only: a planted bug to switch on. */
  readonly plantedBug?: PlantedBug;
}

/** A learner's durable state: the first slot not yet delivered and decisions beyond it. */
export interface LearnerDurableState {
  readonly nextSlot: number;
  readonly decisions: readonly Decision[];
}

/**
 * The learner as a pure state machine. It decides a slot when a majority of acceptors accepted
 * one ballot there, or when a proposer that saw such a majority says so (MsgChosen), and
 * delivers decisions strictly in slot order. When it knows of slots beyond what it can deliver
 * and makes no progress, it asks acceptors, proposers and other learners to send them again.
 *
 * Every few ticks it reports its durable delivery point (MsgProgress) so that the leader may
 * compact the acceptors' logs below what the learners hold. Below that point only learners
 * keep the log, so a learner's driver answers catch-ups from its durable log with addressed
 * MsgChosen (ballot round 0: the learner does not keep the deciding ballot).
 */
export class LearnerCore {
  readonly id: string;
  private readonly acceptors: readonly string[];
  private readonly tally: Tally;
  private readonly catchupTicks: number;
  private readonly maxCatchupSlots: number;
  private readonly progressTicks: number;
  private readonly plantedBug: PlantedBug | undefined;

  private now = 0;
  private next: number;
  private readonly undelivered = new Map<number, Value>();
  private highestKnown: number;
  private lastProgressTick = 0;
  /**
   * Catch-ups sent since the last delivery progress. Each waits twice as long as the one
   * before (up to 8x catchupTicks): one catch-up draws up to 256 answers from every acceptor,
   * proposer and learner, and a learner slowed by load must not ask again before they land.
   */
  private catchupsWithoutProgress = 0;

  private outPersist: Decision[] = [];
  private outMessages: Message[] = [];
  private outCommitted: Decision[] = [];
  private outEvents: CoreEvent[] = [];

  constructor(
    config: LearnerConfig,
    durable: LearnerDurableState = { nextSlot: 0, decisions: [] },
  ) {
    this.id = config.id;
    this.acceptors = config.acceptors;
    const q = effectiveQuorum(config.acceptors.length, config.plantedBug);
    this.tally = new Tally(q, config.plantedBug === PlantedBug.LearnerAcrossBallots);
    this.catchupTicks = config.catchupTicks ?? 6;
    this.maxCatchupSlots = config.maxCatchupSlots ?? 256;
    this.progressTicks = config.progressTicks ?? 5;
    this.plantedBug = config.plantedBug;
    this.next = durable.nextSlot;
    this.highestKnown = durable.nextSlot - 1;
    for (const d of durable.decisions) {
      if (d.slot >= this.next) this.undelivered.set(d.slot, d.value);
      this.highestKnown = Math.max(this.highestKnown, d.slot);
    }
    this.deliver();
  }

  /** The next slot to deliver: every slot below it has been delivered. */
  get nextSlot(): number {
    return this.next;
  }

  /** The highest slot this learner has heard of. */
  get highestSlotKnown(): number {
    return this.highestKnown;
  }

  /** Feeds one message to the learner. */
  step(m: Message): void {
    switch (m.type) {
      case 'accepted':
        this.onAccepted(m);
        return;
      case 'chosen':
        this.onChosen(m);
        return;
      case 'heartbeat':
        this.noteSlot(m.chosenUpTo - 1);
        return;
      case 'catchup':
        // Answered by the learner's driver from its durable log (the core keeps no delivered
        // values): see LearnerCore's class comment.
        return;
      case 'prepare':
      case 'promise':
      case 'nack':
      case 'accept':
      case 'request':
      case 'response':
      case 'progress':
        this.outEvents.push({ kind: 'rejected', reason: 'wrong-role', detail: m.type });
        return;
      default: {
        const never: never = m;
        throw new Error(`unreachable message: ${JSON.stringify(never)}`);
      }
    }
  }

  /** Advances logical time; asks for a catch-up when stuck behind known decisions. */
  tick(): void {
    this.now++;
    // Messages leave after the Ready's persist, so `next` here is durable when it is read.
    if (this.now % this.progressTicks === 0) {
      const nextSlot = this.plantedBug === PlantedBug.LearnerProgressAhead
        ? Math.max(this.next, this.highestKnown + 1) : this.next;
      this.outMessages.push({ type: 'progress', from: this.id, nextSlot });
    }
    if (this.highestKnown < this.next) {
      this.lastProgressTick = this.now;
      return;
    }
    const wait = this.catchupTicks * Math.min(8, 2 ** this.catchupsWithoutProgress);
    if (this.now - this.lastProgressTick < wait) return;
    this.lastProgressTick = this.now;
    this.catchupsWithoutProgress++;
    if (this.plantedBug === PlantedBug.LearnerNoopGap && !this.undelivered.has(this.next)) {
      this.decide(this.next, NO_BALLOT, NOOP);
      return;
    }
    const toSlot = Math.min(this.highestKnown, this.next + this.maxCatchupSlots - 1);
    this.outMessages.push({ type: 'catchup', from: this.id, fromSlot: this.next, toSlot });
    this.outEvents.push({ kind: 'catchup-requested', fromSlot: this.next, toSlot });
  }

  /** True when `ready()` has something to do. */
  hasReady(): boolean {
    return this.outPersist.length > 0 || this.outMessages.length > 0 ||
      this.outCommitted.length > 0 || this.outEvents.length > 0;
  }

  /**
   * The pending work: persist the decisions, then send, then hand `committed` (in slot order)
   * to the application.
   */
  ready(): Ready<LearnerPersist> {
    return {
      persist: this.outPersist.length > 0
        ? { decisions: this.outPersist, nextSlot: this.next } : null,
      messages: this.outMessages,
      committed: this.outCommitted,
      events: this.outEvents,
    };
  }

  /** Acknowledges the last `ready()`. */
  advance(): void {
    this.outPersist = [];
    this.outMessages = [];
    this.outCommitted = [];
    this.outEvents = [];
  }

  private onAccepted(m: MsgAccepted): void {
    if (!this.acceptors.includes(m.from)) {
      this.outEvents.push({ kind: 'rejected', reason: 'unknown-acceptor', detail: m.from });
      return;
    }
    this.noteSlot(m.slot);
    if (m.slot < this.next || this.undelivered.has(m.slot)) return;
    const v = this.tally.add(m.slot, m.ballot, m.value, m.from);
    if (v !== null) this.decide(m.slot, m.ballot, v);
  }

  private onChosen(m: MsgChosen): void {
    this.noteSlot(m.slot);
    if (m.slot < this.next || this.undelivered.has(m.slot)) return;
    this.decide(m.slot, m.ballot, m.value);
  }

  private decide(slot: number, ballot: Ballot, value: Value): void {
    this.tally.forget(slot);
    this.undelivered.set(slot, value);
    this.outPersist.push({ slot, value });
    this.outEvents.push({ kind: 'chosen', slot, ballot });
    this.deliver();
  }

  private deliver(): void {
    let v = this.undelivered.get(this.next);
    while (v !== undefined) {
      this.undelivered.delete(this.next);
      this.outCommitted.push({ slot: this.next, value: v });
      this.next++;
      this.lastProgressTick = this.now;
      this.catchupsWithoutProgress = 0;
      v = this.undelivered.get(this.next);
    }
  }

  private noteSlot(slot: number): void {
    if (slot > this.highestKnown) this.highestKnown = slot;
  }
}
