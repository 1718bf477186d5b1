import {
  type AcceptedEntry,
  type Ballot,
  type Command,
  commandKey,
  compareBallots,
  compareMaybeBallots,
  describeBallot,
  describeValue,
  quorumSize,
  type Value,
  valueEquals,
} from '@synod/protocol';
import { type ElectionViolationKind, isElectionPayload } from './election-checker.js';

/** The property a violation breaks. */
export type ViolationKind =
  | 'validity'
  | 'agreement'
  | 'ballot-reuse'
  | 'promise-broken'
  | 'durability'
  | 'integrity'
  | 'prefix'
  | 'acknowledged-lost'
  | 'duplicate-effect'
  /** An acceptor compacted away a slot that was not chosen, or that no learner held. */
  | 'compaction'
  /** A core threw: its own invariants caught a contradiction. */
  | 'invariant'
  | ElectionViolationKind;

/** A safety violation, with the simulated time it was seen. */
export interface Violation {
  readonly kind: ViolationKind;
  readonly tick: number;
  readonly detail: string;
}

interface Votes {
  readonly value: Value;
  readonly voters: Set<string>;
}

interface AcceptorView {
  promised: Ballot | null;
  readonly accepted: Map<number, Ballot>;
}

/**
 * Watches a run and judges it. It only observes, never steers: the simulator reports what
 * acceptors' states became, what learners delivered and what clients were told.
 *
 * - validity: every chosen command was proposed by a client, with that payload;
 * - agreement: at most one value is chosen per slot, where "chosen" is judged from acceptors'
 *   states (a majority accepted the same ballot), not from what learners say;
 * - ballot-reuse: two values accepted at one (slot, ballot);
 * - promise-broken: an acceptor accepted below its own promise;
 * - durability: an acceptor restarted without a promise or vote it had already sent;
 * - integrity: a learner delivered a value that was not chosen (yet) for that slot;
 * - prefix: two learners delivered different values for one slot;
 * - acknowledged-lost: a client was told a slot that does not hold its command;
 * - duplicate-effect: one client operation took effect twice in a learner's applied stream;
 * - compaction: an acceptor dropped its votes below a floor above a slot that was not chosen,
 *   or above what any learner had durably delivered (the log below would be lost).
 */
export class SafetyChecker {
  readonly violations: Violation[] = [];
  private readonly majority: number;
  private readonly votes = new Map<number, Map<string, Votes>>();
  private readonly chosenBySlot = new Map<number, Value>();
  private readonly proposed = new Map<string, string>();
  private readonly views = new Map<string, AcceptorView>();
  private readonly sentPromise = new Map<string, Ballot>();
  private readonly sentVotes = new Map<string, Map<number, Ballot>>();
  private readonly learned = new Map<number, Value>();
  private readonly floors = new Map<string, number>();
  private now = 0;

  constructor(acceptors: number) {
    this.majority = quorumSize(acceptors);
  }

  /** Sets the simulated time stamped on violations. */
  setTime(tick: number): void {
    this.now = tick;
  }

  /** Slots judged chosen from acceptors' states. */
  get chosen(): ReadonlyMap<number, Value> {
    return this.chosenBySlot;
  }

  /** A client submitted `cmd` (every attempt, including retries). */
  onProposed(cmd: Command): void {
    this.proposed.set(commandKey(cmd), cmd.payload);
  }

  /** An acceptor's state changed: a raised promise and/or new accepted entries. */
  onAcceptorState(
    acceptor: string,
    promised: Ballot | null,
    entries: readonly AcceptedEntry[],
  ): void {
    const view = this.view(acceptor);
    if (promised !== null && compareMaybeBallots(promised, view.promised) > 0) {
      view.promised = promised;
    }
    for (const e of entries) {
      if (compareMaybeBallots(e.ballot, view.promised) < 0) {
        this.fail('promise-broken', `${acceptor} accepted ${describeBallot(e.ballot)} at slot ` +
          `${e.slot} below its promise ${describeBallot(view.promised)}`);
      }
      view.accepted.set(e.slot, e.ballot);
      this.onVote(acceptor, e);
    }
  }

  /** An acceptor sent a promise or an accepted message at `ballot` (for `slot`). */
  onAcceptorSent(acceptor: string, ballot: Ballot, slot: number | null): void {
    const prev = this.sentPromise.get(acceptor);
    if (prev === undefined || compareBallots(ballot, prev) > 0) {
      this.sentPromise.set(acceptor, ballot);
    }
    if (slot === null) return;
    let votes = this.sentVotes.get(acceptor);
    if (votes === undefined) {
      votes = new Map();
      this.sentVotes.set(acceptor, votes);
    }
    const pv = votes.get(slot);
    if (pv === undefined || compareBallots(ballot, pv) > 0) votes.set(slot, ballot);
  }

  /**
   * An acceptor raised its compaction floor: every slot below it must be chosen, and held by
   * at least one learner (`learnedUpTo`: the longest delivered log), or the log is lost.
   */
  onCompacted(acceptor: string, floor: number, learnedUpTo: number): void {
    const prev = this.floors.get(acceptor) ?? 0;
    if (floor <= prev) return;
    this.floors.set(acceptor, floor);
    for (let s = prev; s < floor; s++) {
      if (!this.chosenBySlot.has(s)) {
        this.fail('compaction', `${acceptor} compacted below ${floor}; slot ${s} is not chosen`);
        return;
      }
    }
    if (floor > learnedUpTo) {
      this.fail('compaction', `${acceptor} compacted below ${floor}; learners hold only ` +
        `${learnedUpTo} slots`);
    }
  }

  /** An acceptor restarted from durable state: it must remember all it ever told anyone. */
  onAcceptorRestart(
    acceptor: string,
    promised: Ballot | null,
    accepted: ReadonlyMap<number, AcceptedEntry>,
    floor = 0,
  ): void {
    const sent = this.sentPromise.get(acceptor);
    if (sent !== undefined && compareMaybeBallots(promised, sent) < 0) {
      this.fail('durability', `${acceptor} restarted with promise ${describeBallot(promised)} ` +
        `after sending ${describeBallot(sent)}`);
    }
    for (const [slot, b] of this.sentVotes.get(acceptor) ?? []) {
      if (slot < floor) continue; // compacted: decided, and held by the learners
      const have = accepted.get(slot)?.ballot ?? null;
      if (compareMaybeBallots(have, b) < 0) {
        this.fail('durability', `${acceptor} restarted with slot ${slot} at ` +
          `${describeBallot(have)} after voting ${describeBallot(b)}`);
      }
    }
    const view = this.view(acceptor);
    view.promised = promised;
  }

  /** A learner delivered `value` for `slot`. */
  onLearned(learner: string, slot: number, value: Value): void {
    const c = this.chosenBySlot.get(slot);
    if (c === undefined || !valueEquals(c, value)) {
      this.fail('integrity', `${learner} learned ${describeValue(value)} at slot ${slot}; ` +
        'chosen: ' +
        `${c === undefined ? 'nothing' : describeValue(c)}`);
    }
    const l = this.learned.get(slot);
    if (l === undefined) this.learned.set(slot, value);
    else if (!valueEquals(l, value)) {
      this.fail('prefix', `learners disagree at slot ${slot}: ${describeValue(l)} vs ` +
        `${describeValue(value)} (${learner})`);
    }
  }

  /**
   * A node claimed `value` decided at `slot`: a proposer's or learner's `chosen` message, or a
   * proposer's own decision. Every such claim must match what acceptors' states chose, whether
   * or not a receiver acts on it (a wrong claim that happens to be ignored is still a bug).
   */
  onDecisionClaim(node: string, slot: number, value: Value, what: string): void {
    const c = this.chosenBySlot.get(slot);
    if (c === undefined || !valueEquals(c, value)) {
      this.fail('integrity', `${node} ${what} ${describeValue(value)} at slot ${slot}; chosen: ` +
        `${c === undefined ? 'nothing' : describeValue(c)}`);
    }
  }

  /** A client was told that its command was chosen at `slot`. */
  onAcknowledged(cmd: Command, slot: number): void {
    const c = this.chosenBySlot.get(slot);
    const key = commandKey(cmd);
    if (c === undefined || c.kind !== 'cmds' || !c.cmds.some((x) => commandKey(x) === key)) {
      this.fail('acknowledged-lost', `${key} acknowledged at slot ${slot}, which holds ` +
        `${c === undefined ? 'nothing chosen' : describeValue(c)}`);
    }
  }

  /**
   * A client was told `conflict`: its `(clientId, seq)` chosen with another payload. Simulated
   * clients send one payload per seq, so that is never true.
   */
  onConflict(cmd: Command, slot: number): void {
    this.fail('acknowledged-lost', `${commandKey(cmd)} told conflict at slot ${slot}, though ` +
      'its client sent only one payload under that id');
  }

  /**
   * Checks one learner's delivered log as the application applies it: skipping later copies of
   * a (clientId, seq), every client operation (its payload) must take effect once. Election
   * commands are left to the election checker: two renewals of one term are distinct commands
   * with equal payloads.
   */
  checkApplied(learner: string, log: readonly Value[]): void {
    const seen = new Set<string>();
    const effects = new Map<string, string>();
    for (let slot = 0; slot < log.length; slot++) {
      const v = log[slot] as Value;
      if (v.kind !== 'cmds') continue;
      for (const c of v.cmds) {
        const key = commandKey(c);
        if (seen.has(key)) continue;
        seen.add(key);
        if (isElectionPayload(c.payload)) continue;
        const prev = effects.get(c.payload);
        if (prev !== undefined) {
          this.fail('duplicate-effect', `${learner}: operation ${c.payload} applied as ${prev} ` +
            `and again as ${key} at slot ${slot}`);
        }
        effects.set(c.payload, key);
      }
    }
  }

  private onVote(acceptor: string, e: AcceptedEntry): void {
    let perBallot = this.votes.get(e.slot);
    if (perBallot === undefined) {
      perBallot = new Map();
      this.votes.set(e.slot, perBallot);
    }
    const key = describeBallot(e.ballot);
    let v = perBallot.get(key);
    if (v === undefined) {
      v = { value: e.value, voters: new Set() };
      perBallot.set(key, v);
    } else if (!valueEquals(v.value, e.value)) {
      this.fail('ballot-reuse', `slot ${e.slot} ballot ${key}: ${describeValue(v.value)} and ` +
        `${describeValue(e.value)} (${acceptor})`);
      return;
    }
    v.voters.add(acceptor);
    if (v.voters.size >= this.majority) this.onChosen(e.slot, v.value);
  }

  private onChosen(slot: number, value: Value): void {
    const prev = this.chosenBySlot.get(slot);
    if (prev !== undefined) {
      if (!valueEquals(prev, value)) {
        this.fail('agreement', `slot ${slot}: ${describeValue(prev)} and ${describeValue(value)} ` +
          'both chosen');
      }
      return;
    }
    this.chosenBySlot.set(slot, value);
    if (value.kind !== 'cmds') return;
    for (const c of value.cmds) {
      const payload = this.proposed.get(commandKey(c));
      if (payload !== c.payload) {
        this.fail('validity', `slot ${slot}: ${commandKey(c)} was chosen but never proposed` +
          (payload === undefined ? '' : ' with that payload'));
      }
    }
  }

  private view(acceptor: string): AcceptorView {
    let v = this.views.get(acceptor);
    if (v === undefined) {
      v = { promised: null, accepted: new Map() };
      this.views.set(acceptor, v);
    }
    return v;
  }

  private fail(kind: ViolationKind, detail: string): void {
    this.violations.push({ kind, tick: this.now, detail });
  }
}
