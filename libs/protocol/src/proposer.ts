import {
  type Ballot,
  ballotEquals,
  compareBallots,
  compareMaybeBallots,
  maxBallot,
} from './ballot.js';
import type {
  AcceptedEntry,
  Message,
  MsgAccepted,
  MsgCatchup,
  MsgChosen,
  MsgHeartbeat,
  MsgNack,
  MsgProgress,
  MsgPromise,
  MsgRequest,
  MsgResponse,
  Outcome,
} from './messages.js';
import { assertNever } from './messages.js';
import { effectiveQuorum, PlantedBug } from './planted.js';
import type { CoreEvent, Decision, Ready } from './ready.js';
import { chosenFromReports, type RecoveryReport } from './recovery.js';
import type { Rng } from './rng.js';
import { commandWireBytes, DEFAULT_WIRE_BUDGET_BYTES, VALUE_OVERHEAD_BYTES } from './size.js';
import { Tally } from './tally.js';
import { type Command, commandKey, NOOP, type Value, valueEquals } from './value.js';

/** Proposer settings; tick counts are logical ticks of the driver's clock. */
/** How far past its retain bounds a proposer keeps values that a live learner still lacks. */
const HOLD_FACTOR = 3;

export interface ProposerConfig {
  readonly id: string;
  /** Ids of every acceptor (the configuration; quorums are majorities of it). */
  readonly acceptors: readonly string[];
  /** Seeded randomness for election timeouts (and the incarnation when not given). */
  readonly rng: Rng;
  /**
   * This run's incarnation, part of every ballot. Must differ from every earlier run of the
   * same proposer id; when absent it is drawn from `rng` (48 random bits).
   */
  readonly incarnation?: number;
  /** Base election timeout; the actual one is uniform in [electionTicks, 2*electionTicks). */
  readonly electionTicks?: number;
  /** The leader sends a heartbeat this often. Must be well below electionTicks. */
  readonly heartbeatTicks?: number;
  /** Unanswered prepares and accepts are sent again after this many ticks. */
  readonly retryTicks?: number;
  /** Most client commands in one slot (keep it within the wire's `maxCommandsPerValue`). */
  readonly maxBatch?: number;
  /**
   * Most bytes of one slot's value by `valueWireBytes`, so that its accept, votes and
   * decision can be encoded: the driver passes `wireBudgetBytes` of its limits (default: that
   * of the default limits). A command that fills it alone still gets a slot of its own.
   */
  readonly maxValueBytes?: number;
  /** Most slots in phase 2 at once. */
  readonly maxInflight?: number;
  /** Most client commands queued; past it requests are answered `overloaded`. */
  readonly maxPending?: number;
  /**
   * Most payload characters queued in total; past it requests are answered `overloaded` too.
   * Bounds the queue's memory when commands are large (maxPending alone counts commands).
   */
  readonly maxPendingChars?: number;
  /** Decided slots kept in memory to answer catch-ups and recover. */
  readonly retainDecided?: number;
  /**
   * Most client commands held in those retained slots: with large batches a slot count alone
   * does not bound memory (20,000 slots of 16 commands are 320,000 commands).
   */
  readonly retainDecidedCommands?: number;
  /** Most payload characters held in retained slots (large commands). */
  readonly retainDecidedChars?: number;
  /**
   * Log compaction: the leader lets acceptors drop their votes below
   * `min(decided prefix, every live learner's delivery point) - retainVotes`; the margin keeps
   * recent votes for proposers and learners that catch up from acceptors.
   */
  readonly retainVotes?: number;
  /** A learner not heard from (progress) for this many ticks no longer holds compaction back. */
  readonly learnerTimeoutTicks?: number;
  /**
   * Thrifty phase 2: the leader sends each new accept only to the quorum of acceptors whose
   * votes completed its latest decision, instead of to every acceptor. Safety does not depend
   * on it (a value is chosen by whichever quorum accepts it); it spares the other acceptors a
   * durable write and a vote per slot. An accept that quorum has not decided within
   * `thriftyTimeoutTicks` is sent to the other acceptors too, and new accepts go to every
   * acceptor until a decision names a quorum again.
   */
  readonly thrifty?: boolean;
  /** Ticks a thrifty accept waits for its quorum before the other acceptors are asked. */
  readonly thriftyTimeoutTicks?: number;
  /** Simulator only: a planted bug to switch on. */
  readonly plantedBug?: PlantedBug;
}

/** The proposer's role in the leader protocol. */
export type ProposerRole = 'follower' | 'candidate' | 'leader';

/**
 * A leader's recovery of decided slots it no longer retains (see `onCatchup`): a prepare at its
 * own ballot from `fromSlot`, and the reports of the acceptors that answered.
 */
interface Recovery {
  readonly fromSlot: number;
  /** Echoed by the acceptors: reports with another number (or none) are not for it. */
  readonly nonce: number;
  /**
   * `firstUnknown` when it started: only slots below it were decided before every report was
   * taken. A slot decided while it runs may be missing from a report taken earlier.
   */
  readonly decidedBelow: number;
  /** The nodes whose catch-ups it answers, each with the first slot it asked for. */
  readonly requesters: Map<string, number>;
  readonly sentTick: number;
  readonly reports: Map<string, RecoveryReport>;
}

interface Phase1 {
  readonly fromSlot: number;
  /** Acceptors whose promise and whole report (every page) arrived. */
  readonly complete: Set<string>;
  /** Where the next page of an acceptor's paged report starts. */
  readonly reportFrom: Map<string, number>;
  readonly adopted: Map<number, AcceptedEntry>;
  /** The highest compaction floor reported: every slot below it is decided. */
  floor: number;
  lastSentTick: number;
  /** A page arrived since the last heartbeat: the candidate is making progress. */
  progressed: boolean;
}

interface Inflight {
  readonly value: Value;
  sentTick: number;
  /** The acceptors it was sent to (thrifty phase 2), or null when sent to every acceptor. */
  to: readonly string[] | null;
  /** When it was first sent to `to` (retransmissions do not move it). */
  readonly toTick: number;
}

/**
 * The proposer of Multi-Paxos, and its distinguished-proposer (leader) protocol, as a pure
 * state machine.
 *
 * A follower that hears no heartbeat for a randomized election timeout runs phase 1 with a
 * ballot above every ballot it has seen, for all slots from the first it does not know to be
 * decided. With a quorum of promises it becomes leader: it re-proposes, slot by slot, the value
 * of the highest ballot reported (P2c), fills gaps with no-ops, and from then on skips phase 1,
 * proposing client commands in batches with several slots in flight. A nack or a heartbeat with
 * a higher ballot makes it a follower again. Every proposer counts accepted votes, so it knows
 * the decided log, answers clients and serves catch-up.
 */
export class ProposerCore {
  readonly id: string;
  private readonly acceptors: readonly string[];
  private readonly quorum: number;
  private readonly rng: Rng;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly retryTicks: number;
  private readonly maxBatch: number;
  private readonly maxValueBytes: number;
  private readonly maxInflight: number;
  private readonly thrifty: boolean;
  private readonly thriftyTimeoutTicks: number;
  /** The quorum thrifty accepts go to: the voters of the latest decision at this ballot. */
  private thriftySet: readonly string[] | null = null;
  private thriftyFallbackCount = 0;
  private readonly maxPending: number;
  private readonly maxPendingChars: number;
  private pendingChars = 0;
  private readonly retainDecided: number;
  private readonly retainDecidedCommands: number;
  private readonly retainDecidedChars: number;
  /** Commands and payload characters in `decided` (what the retain bounds count). */
  private retainedCommands = 0;
  private retainedChars = 0;
  /**
   * Slots whose values were dropped but whose dedupe entries are still kept (the dedupe window
   * is bounded by slots and commands only, so that large payloads do not shorten it), oldest
   * first from `dedupeHead`; `dedupeOnlyCommands` counts their keys.
   */
  private dedupeOnly: { slot: number; keys: string[] }[] = [];
  private dedupeHead = 0;
  private dedupeOnlyCommands = 0;
  private readonly retainVotes: number;
  private readonly learnerTimeoutTicks: number;
  private readonly plantedBug: PlantedBug | undefined;
  private readonly incarnation: number;

  private now = 0;
  /** The driver's wall clock in ms ({@link setTime}); null until given: batches go unstamped. */
  private clockMs: number | null = null;
  /** The highest stamp seen on a decided or adopted value; new stamps never go below it. */
  private stampFloor = 0;
  private roleState: ProposerRole = 'follower';
  private ballotState: Ballot;
  private highestSeen: Ballot | null = null;
  private leaderHint: string | null = null;
  private electionElapsed = 0;
  private electionTimeout: number;
  private heartbeatElapsed = 0;

  private readonly tally: Tally;
  private readonly decided = new Map<number, { value: Value; ballot: Ballot }>();
  private firstUnknownSlot = 0;
  private highestDecided = -1;
  private highestKnown = -1;
  private lastProgressTick = 0;
  private lowestRetained = 0;
  private readonly dedupe = new Map<string, number>();
  /** Learners' durable delivery points and when each was last heard (leader's compaction). */
  private readonly learners = new Map<string, { next: number; tick: number }>();
  /** The compaction point this proposer last announced as leader (0: none). */
  private compactPoint = 0;

  private p1: Phase1 | null = null;
  private recovery: Recovery | null = null;
  private recoveryNonce = 0;
  private recoveredCount = 0;
  /** The highest compaction floor any acceptor reported to it: nothing to recover below. */
  private floorSeen = 0;
  private nextSlot = 0;
  private readonly inflight = new Map<number, Inflight>();
  private readonly proposedKeys = new Set<string>();
  private pending: Command[] = [];
  /** Set while {@link stepMany} steps: proposals wait until every message is in. */
  private holdProposals = false;
  private readonly pendingKeys = new Set<string>();
  /**
   * Who waits for each command's outcome, and the payload each of them sent under it (a set in
   * the rare case of several: one id reused for other payloads).
   */
  private readonly waiting = new Map<string, Map<string, string | Set<string>>>();

  private outMessages: Message[] = [];
  private outCommitted: Decision[] = [];
  private outEvents: CoreEvent[] = [];

  constructor(config: ProposerConfig) {
    this.id = config.id;
    this.acceptors = config.acceptors;
    this.quorum = effectiveQuorum(config.acceptors.length, config.plantedBug);
    this.rng = config.rng;
    this.electionTicks = config.electionTicks ?? 10;
    this.heartbeatTicks = config.heartbeatTicks ?? 2;
    this.retryTicks = config.retryTicks ?? 4;
    this.maxBatch = config.maxBatch ?? 64;
    this.maxValueBytes = config.maxValueBytes ?? DEFAULT_WIRE_BUDGET_BYTES;
    this.maxInflight = config.maxInflight ?? 16;
    this.maxPending = config.maxPending ?? 4096;
    this.maxPendingChars = config.maxPendingChars ?? 16 * 1024 * 1024;
    this.retainDecided = config.retainDecided ?? 100_000;
    this.retainDecidedCommands = config.retainDecidedCommands ?? 1_000_000;
    this.retainDecidedChars = config.retainDecidedChars ?? 256 * 1024 * 1024;
    this.retainVotes = config.retainVotes ?? 10_000;
    this.learnerTimeoutTicks = config.learnerTimeoutTicks ?? 50;
    // With a quorum of every acceptor (one or two of them) there is nobody to spare.
    this.thrifty = (config.thrifty ?? false) && this.quorum < config.acceptors.length;
    this.thriftyTimeoutTicks = config.thriftyTimeoutTicks ?? 2;
    this.plantedBug = config.plantedBug;
    this.tally = new Tally(this.quorum, false);
    this.incarnation = config.incarnation ??
      this.rng.nextInt(0x10000) * 0x100000000 + this.rng.nextInt(0x100000000);
    this.ballotState = this.makeBallot(0);
    this.electionTimeout = this.randomTimeout();
  }

  /** follower, candidate or leader. */
  get role(): ProposerRole {
    return this.roleState;
  }

  /** The ballot this proposer last used (its leadership ballot while leader). */
  get ballot(): Ballot {
    return this.ballotState;
  }

  /** The leader this proposer believes in (itself when leader), or null. */
  get leader(): string | null {
    return this.roleState === 'leader' ? this.id : this.leaderHint;
  }

  /** Every slot below this one is known to be decided. */
  get firstUnknown(): number {
    return this.firstUnknownSlot;
  }

  /** The compaction point this proposer announces as leader (0: none). */
  get compactBelow(): number {
    return this.compactPoint;
  }

  /** Learners heard from (progress) within learnerTimeoutTicks, with their delivery points. */
  learnerProgress(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, l] of this.learners) {
      if (this.now - l.tick <= this.learnerTimeoutTicks) out[id] = l.next;
    }
    return out;
  }

  /** Client commands waiting for a slot. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Slots proposed and not yet decided. */
  get inflightCount(): number {
    return this.inflight.size;
  }

  /** The acceptors new accepts go to (thrifty phase 2), or null when they go to every one. */
  get thriftyQuorum(): readonly string[] | null {
    return this.thrifty ? this.thriftySet : null;
  }

  /** Decided slots it no longer retained, recovered from a quorum's reports for a catch-up. */
  get recoveredSlots(): number {
    return this.recoveredCount;
  }

  /** Thrifty accepts that their quorum did not decide in time and went to every acceptor. */
  get thriftyFallbacks(): number {
    return this.thriftyFallbackCount;
  }

  /** The decided value of `slot`, if known and retained. */
  decidedAt(slot: number): Value | undefined {
    return this.decided.get(slot)?.value;
  }

  /** The highest stamp this proposer has seen decided or adopted (0 if none). */
  get highestStamp(): number {
    return this.stampFloor;
  }

  /**
   * Gives the proposer the time: the driver's wall clock in milliseconds, a non-negative safe
   * integer. The core never reads a clock; the driver calls this before `step()` and `tick()`
   * (the simulator feeds simulated time). Once set, every batch this proposer forms as leader
   * carries `stamp = max(nowMs, highest stamp seen decided or adopted)`, so that stamps do not
   * run backwards when leadership moves to a proposer whose clock is behind. Throws a
   * RangeError (a programmer error) on anything else.
   */
  setTime(nowMs: number): void {
    if (!Number.isSafeInteger(nowMs) || nowMs < 0) {
      throw new RangeError(`setTime: not a non-negative safe integer: ${String(nowMs)}`);
    }
    this.clockMs = nowMs;
  }

  /** Feeds one message to the proposer. */
  step(m: Message): void {
    switch (m.type) {
      case 'promise':
        this.onPromise(m);
        return;
      case 'nack':
        this.onNack(m);
        return;
      case 'accepted':
        this.onAccepted(m);
        return;
      case 'chosen':
        this.onChosen(m);
        return;
      case 'heartbeat':
        this.onHeartbeat(m);
        return;
      case 'catchup':
        this.onCatchup(m);
        return;
      case 'request':
        this.onRequest(m);
        return;
      case 'response':
        this.onResponse(m);
        return;
      case 'progress':
        this.onProgress(m);
        return;
      case 'prepare':
      case 'accept':
        this.outEvents.push({ kind: 'rejected', reason: 'wrong-role', detail: m.type });
        return;
      default:
        assertNever(m);
    }
  }

  /** Advances logical time by one tick: heartbeats, retransmissions, election timeouts. */
  tick(): void {
    this.now++;
    this.maybeCatchup();
    switch (this.roleState) {
      case 'leader':
        this.tickLeader();
        return;
      case 'candidate':
        this.tickCandidate();
        return;
      case 'follower':
        this.electionElapsed++;
        if (this.electionElapsed >= this.electionTimeout) this.startPhase1();
        return;
      default:
        assertNever(this.roleState);
    }
  }

  /** True when `ready()` has something to do. */
  hasReady(): boolean {
    return this.outMessages.length > 0 || this.outCommitted.length > 0 ||
      this.outEvents.length > 0;
  }

  /** The pending work. A proposer has no durable state: `persist` is always null. */
  ready(): Ready<never> {
    return {
      persist: null,
      messages: this.outMessages,
      committed: this.outCommitted,
      events: this.outEvents,
    };
  }

  /** Acknowledges the last `ready()`. */
  advance(): void {
    this.outMessages = [];
    this.outCommitted = [];
    this.outEvents = [];
  }

  /** Starts an election now instead of waiting for the timeout (used by tests and operators). */
  campaign(): void {
    if (this.roleState !== 'leader') this.startPhase1();
  }

  // ---- leader election and phase 1 --------------------------------------------------------

  private startPhase1(): void {
    const round = Math.max(this.ballotState.round, this.highestSeen?.round ?? 0) + 1;
    if (!Number.isSafeInteger(round)) {
      // Rounds are exhausted (a ballot at 2^53 - 1 was seen): campaigning would reuse a ballot.
      this.outEvents.push({ kind: 'rejected', reason: 'round-exhausted', detail: String(round) });
      this.resetElectionTimer();
      return;
    }
    this.ballotState = this.makeBallot(round);
    this.roleState = 'candidate';
    this.leaderHint = null;
    this.inflight.clear();
    this.thriftySet = null;
    this.recovery = null;
    this.proposedKeys.clear();
    this.p1 = {
      fromSlot: this.firstUnknownSlot,
      complete: new Set(),
      reportFrom: new Map(),
      adopted: new Map(),
      floor: 0,
      lastSentTick: this.now,
      progressed: false,
    };
    this.resetElectionTimer();
    this.outEvents.push({
      kind: 'phase1-started', ballot: this.ballotState, fromSlot: this.p1.fromSlot,
    });
    this.sendPrepare();
  }

  /** Asks for promises (and reports) from `fromSlot`; by default the first page. */
  private sendPrepare(fromSlot = (this.p1 as Phase1).fromSlot): void {
    const p1 = this.p1 as Phase1;
    p1.lastSentTick = this.now;
    this.outMessages.push({ type: 'prepare', from: this.id, ballot: this.ballotState, fromSlot });
  }

  /** Asks again for every report still missing: a first page, or the next page of one. */
  private retryPrepares(p1: Phase1): void {
    const starts = new Set<number>();
    for (const a of this.acceptors) {
      if (!p1.complete.has(a)) starts.add(p1.reportFrom.get(a) ?? p1.fromSlot);
    }
    for (const from of starts) this.sendPrepare(from);
  }

  private tickCandidate(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.startPhase1();
      return;
    }
    const p1 = this.p1 as Phase1;
    if (this.now - p1.lastSentTick >= this.retryTicks) this.retryPrepares(p1);
    this.heartbeatElapsed++;
    if (this.heartbeatElapsed >= this.heartbeatTicks && p1.progressed) {
      p1.progressed = false;
      this.sendHeartbeat();
    }
  }

  private onPromise(m: MsgPromise): void {
    this.noteBallot(m.ballot);
    if (m.floor !== undefined && this.acceptors.includes(m.from)) {
      this.floorSeen = Math.max(this.floorSeen, m.floor);
    }
    if (this.roleState === 'leader') {
      this.onRecoveryPromise(m);
      return;
    }
    const p1 = this.p1;
    if (this.roleState !== 'candidate' || p1 === null) return;
    if (!ballotEquals(m.ballot, this.ballotState)) return;
    if (p1.complete.has(m.from) || !this.acceptors.includes(m.from)) return;
    // A report may come in pages (`upTo`), taken in order: a page that does not start where the
    // last one ended (a duplicate, a late retransmission) is ignored, and the retry timer asks
    // again. Only acceptors whose whole report arrived count towards the quorum.
    if (m.fromSlot !== (p1.reportFrom.get(m.from) ?? p1.fromSlot)) return;
    if (m.upTo !== undefined && m.upTo <= m.fromSlot) return;
    if (m.floor !== undefined && m.floor > p1.floor) p1.floor = m.floor;
    for (const e of m.accepted) {
      if (e.slot < m.fromSlot || (m.upTo !== undefined && e.slot >= m.upTo)) continue;
      this.noteStamp(e.value);
      const prev = p1.adopted.get(e.slot);
      if (prev === undefined || (compareBallots(e.ballot, prev.ballot) > 0 &&
        this.plantedBug !== PlantedBug.AdoptFirstReportedVote)) {
        p1.adopted.set(e.slot, e);
      }
    }
    if (m.upTo === undefined) p1.complete.add(m.from);
    else {
      p1.reportFrom.set(m.from, m.upTo);
      this.sendPrepare(m.upTo);
      // A long report takes many pages: progress keeps the election timer from restarting
      // phase 1 (with a higher ballot, from the first page again) while pages arrive, and the
      // candidate's heartbeats (sent only while it progresses) hold off the other proposers.
      this.electionElapsed = 0;
      p1.progressed = true;
    }
    if (p1.complete.size >= this.quorum) this.becomeLeader(p1);
  }

  private becomeLeader(p1: Phase1): void {
    this.roleState = 'leader';
    this.leaderHint = this.id;
    this.p1 = null;
    // Below a reported floor every slot is decided and was durably delivered by the learners
    // (an acceptor compacted it on a leader's word): nothing may be proposed there, this
    // proposer takes the prefix as known, and its heartbeats say so from the start, so that a
    // follower lagging below the floor skips to it at once instead of catching up slots that
    // acceptors no longer hold from the learners. Learners' progress may raise it.
    this.compactPoint = p1.floor;
    this.skipTo(p1.floor);
    let maxSlot = this.highestDecided;
    for (const slot of p1.adopted.keys()) maxSlot = Math.max(maxSlot, slot);
    this.nextSlot = Math.max(this.firstUnknownSlot, maxSlot + 1);
    this.outEvents.push({
      kind: 'leader-elected', ballot: this.ballotState, nextSlot: this.nextSlot,
    });
    // P2c: in every slot that some acceptor of the quorum accepted, propose the value of the
    // highest ballot reported; in the others (gaps), a no-op. Decided slots need nothing.
    // Below firstUnknown every slot is decided, whether or not its value is still retained.
    const from = Math.max(p1.fromSlot, p1.floor, this.firstUnknownSlot);
    for (let slot = from; slot <= maxSlot; slot++) {
      if (this.decided.has(slot)) continue;
      const adopted = p1.adopted.get(slot);
      let value: Value = adopted?.value ?? NOOP;
      if (this.plantedBug === PlantedBug.InventValue && adopted === undefined) {
        value = { kind: 'cmds', cmds: [{ clientId: 'ghost', seq: slot, payload: 'ghost' }] };
      }
      if (this.plantedBug === PlantedBug.IgnoreHighestAccepted && adopted !== undefined) {
        value = this.takeBatch() ?? NOOP;
      }
      this.proposeAt(slot, value);
    }
    this.sendHeartbeat();
    this.maybePropose();
  }

  private onNack(m: MsgNack): void {
    this.noteBallot(m.promised);
    if (this.roleState === 'follower' || !ballotEquals(m.ballot, this.ballotState)) return;
    if (compareBallots(m.promised, this.ballotState) > 0) this.stepDown(m.promised);
  }

  private onHeartbeat(m: MsgHeartbeat): void {
    if (m.from === this.id) return;
    if (compareMaybeBallots(m.ballot, this.highestSeen) < 0) return;
    this.noteBallot(m.ballot);
    if (this.roleState !== 'follower') {
      if (compareBallots(m.ballot, this.ballotState) <= 0) return;
      this.stepDown(m.ballot);
    }
    this.leaderHint = m.from;
    this.electionElapsed = 0;
    if (m.compactBelow !== undefined) this.skipTo(m.compactBelow);
    this.noteKnown(m.chosenUpTo - 1);
    this.forwardPending();
  }

  private stepDown(by: Ballot): void {
    this.outEvents.push({ kind: 'preempted', ballot: this.ballotState, by });
    this.roleState = 'follower';
    this.p1 = null;
    this.leaderHint = by.proposer === this.id ? null : by.proposer;
    // Commands in flight may or may not be chosen; the next leader recovers those that were
    // accepted anywhere in its quorum and clients retry the others.
    this.inflight.clear();
    this.thriftySet = null;
    this.recovery = null;
    this.proposedKeys.clear();
    this.resetElectionTimer();
    this.forwardPending();
  }

  // ---- phase 2 ----------------------------------------------------------------------------

  private tickLeader(): void {
    this.updateCompactPoint();
    // A recovery whose quorum did not answer is dropped; the asker's next catch-up retries it.
    if (this.recovery !== null && this.now - this.recovery.sentTick >= this.retryTicks) {
      this.recovery = null;
    }
    this.heartbeatElapsed++;
    if (this.heartbeatElapsed >= this.heartbeatTicks) this.sendHeartbeat();
    for (const [slot, f] of this.inflight) {
      if (slot < this.firstUnknownSlot) {
        // Decided without this proposer hearing its votes (they arrived after the prefix
        // passed it): stop sending; whatever of it was not chosen there goes back in the queue.
        this.inflight.delete(slot);
        if (f.value.kind === 'cmds') this.requeue(f.value.cmds);
        continue;
      }
      if (f.to !== null && this.now - f.toTick >= this.thriftyTimeoutTicks) {
        // Its thrifty quorum did not decide it in time (an acceptor slow, down or cut off):
        // ask the other acceptors too, and send to every acceptor until a decision names a
        // quorum again.
        const rest = this.acceptors.filter((a) => !(f.to ?? []).includes(a));
        f.to = null;
        f.sentTick = this.now;
        this.thriftySet = null;
        this.thriftyFallbackCount++;
        this.sendAccept(slot, f.value, rest);
        continue;
      }
      if (this.now - f.sentTick >= this.retryTicks) {
        f.sentTick = this.now;
        this.sendAccept(slot, f.value, f.to);
      }
    }
  }

  private sendHeartbeat(): void {
    this.heartbeatElapsed = 0;
    this.outMessages.push({
      type: 'heartbeat', from: this.id, ballot: this.ballotState, chosenUpTo: this.firstUnknownSlot,
      ...(this.compactPoint > 0 ? { compactBelow: this.compactPoint } : {}),
    });
  }

  /**
   * Log compaction (leader only). Acceptors may forget a slot's votes once the slot is decided
   * AND durably delivered by the learners, who then hold the only copy: so the point is the
   * lowest of the decided prefix and of every live learner's delivery point, less a margin of
   * recent votes. With no live learner it does not move: nobody else would hold the prefix.
   */
  /** The lowest delivery point of the learners heard within the timeout (Infinity if none). */
  private learnersNeed(): number {
    let need = Infinity;
    for (const l of this.learners.values()) {
      if (this.now - l.tick <= this.learnerTimeoutTicks) need = Math.min(need, l.next);
    }
    return need;
  }

  private updateCompactPoint(): void {
    for (const [id, l] of this.learners) {
      if (this.now - l.tick > this.learnerTimeoutTicks) this.learners.delete(id);
    }
    if (this.learners.size === 0) return;
    const held = this.plantedBug === PlantedBug.CompactIgnoringLearners
      ? this.firstUnknownSlot : Math.min(this.firstUnknownSlot, this.learnersNeed());
    const point = held - this.retainVotes;
    if (point > this.compactPoint) this.compactPoint = point;
  }

  private onProgress(m: MsgProgress): void {
    const l = this.learners.get(m.from);
    // A delivery point does not go back unless the learner lost its store; trust the newest.
    if (l === undefined) this.learners.set(m.from, { next: m.nextSlot, tick: this.now });
    else {
      l.next = m.nextSlot;
      l.tick = this.now;
    }
  }

  /**
   * Takes every slot below `floor` as decided without holding its value: acceptors compacted
   * them (so no proposer may propose there) and learners hold them. Commands this proposer had
   * in flight there are queued again: whether they were chosen is unknown here, and a
   * duplicate is skipped when the log is applied (see Deduplicator).
   */
  private skipTo(floor: number): void {
    if (floor <= this.firstUnknownSlot) return;
    const from = this.firstUnknownSlot;
    for (const [slot, f] of this.inflight) {
      if (slot >= floor) continue;
      this.inflight.delete(slot);
      if (f.value.kind === 'cmds') this.requeue(f.value.cmds);
    }
    this.tally.forgetBelow(floor);
    this.highestDecided = Math.max(this.highestDecided, floor - 1);
    this.noteKnown(floor - 1);
    this.firstUnknownSlot = floor;
    while (this.decided.has(this.firstUnknownSlot)) this.firstUnknownSlot++;
    if (this.nextSlot < this.firstUnknownSlot) this.nextSlot = this.firstUnknownSlot;
    this.lastProgressTick = this.now;
    this.outEvents.push({ kind: 'skipped', fromSlot: from, toSlot: floor });
    for (let s = from; s < this.firstUnknownSlot; s++) this.answerSlot(s);
    this.prune();
  }

  private proposeAt(slot: number, value: Value): void {
    const to = this.thrifty ? this.thriftySet : null;
    this.inflight.set(slot, { value, sentTick: this.now, to, toTick: this.now });
    if (value.kind === 'cmds') {
      for (const c of value.cmds) {
        this.proposedKeys.add(commandKey(c));
        if (this.plantedBug === PlantedBug.AckBeforeChosen) {
          this.answer(commandKey(c), { status: 'chosen', slot });
        }
      }
    }
    this.outEvents.push({ kind: 'proposed', ballot: this.ballotState, slot, value });
    this.sendAccept(slot, value, to);
  }

  /** Sends an accept to every acceptor (`to` null, one broadcast) or to each one of `to`. */
  private sendAccept(slot: number, value: Value, to: readonly string[] | null): void {
    const compact = this.compactPoint > 0 ? { compactBelow: this.compactPoint } : {};
    if (to === null) {
      this.outMessages.push({
        type: 'accept', from: this.id, ballot: this.ballotState, slot, value, ...compact,
      });
      return;
    }
    for (const a of to) {
      this.outMessages.push({
        type: 'accept', from: this.id, to: a, ballot: this.ballotState, slot, value, ...compact,
      });
    }
  }

  /**
   * Steps several messages as one arrival: commands that come together (a client's propose
   * batch) are queued first and proposed together, in as few slots as the batch bound allows,
   * instead of the first of them taking a free slot alone. Otherwise the same as stepping
   * each in turn.
   */
  stepMany(ms: readonly Message[]): void {
    this.holdProposals = true;
    try {
      for (const m of ms) this.step(m);
    } finally {
      this.holdProposals = false;
    }
    this.maybePropose();
  }

  /** Proposes queued commands while the window has room. */
  private maybePropose(): boolean {
    if (this.holdProposals) return false;
    let proposed = false;
    while (this.roleState === 'leader' && this.inflight.size < this.maxInflight) {
      const value = this.takeBatch();
      if (value === null) break;
      this.proposeAt(this.nextSlot++, value);
      proposed = true;
    }
    return proposed;
  }

  /**
   * Removes proposable commands from the queue, up to maxBatch of them and maxValueBytes of
   * value (always at least one), or returns null if none. A slot bounded by count alone could
   * hold a value too large to encode: its accept would be dropped and retried forever.
   */
  private takeBatch(): Value | null {
    const cmds: Command[] = [];
    let bytes = VALUE_OVERHEAD_BYTES;
    while (cmds.length < this.maxBatch && this.pending.length > 0) {
      const c = this.pending[0] as Command;
      const key = commandKey(c);
      const slot = this.dedupe.get(key);
      const skip = slot !== undefined || this.proposedKeys.has(key);
      if (!skip) {
        const size = commandWireBytes(c) + 1;
        if (cmds.length > 0 && bytes + size > this.maxValueBytes) break;
        bytes += size;
      }
      this.pending.shift();
      this.pendingChars -= c.payload.length;
      this.pendingKeys.delete(key);
      if (slot !== undefined) {
        if (slot < this.firstUnknownSlot) {
          this.answer(key, { status: 'chosen', slot }, this.decidedPayload(slot, key));
        }
        continue;
      }
      if (skip) continue;
      cmds.push(c);
    }
    if (cmds.length === 0) return null;
    if (this.clockMs === null) return { kind: 'cmds', cmds };
    return { kind: 'cmds', cmds, stamp: Math.max(this.clockMs, this.stampFloor) };
  }

  /** Raises the stamp floor to a value's stamp (decided or reported in a promise). */
  private noteStamp(v: Value): void {
    if (v.kind === 'cmds' && v.stamp !== undefined && v.stamp > this.stampFloor) {
      this.stampFloor = v.stamp;
    }
  }

  // ---- learning ---------------------------------------------------------------------------

  private onAccepted(m: MsgAccepted): void {
    if (!this.acceptors.includes(m.from)) return;
    this.noteBallot(m.ballot);
    if (this.roleState !== 'follower' && compareBallots(m.ballot, this.ballotState) > 0) {
      this.stepDown(m.ballot);
    }
    if (m.slot < this.firstUnknownSlot || this.decided.has(m.slot)) return;
    const value = this.tally.add(m.slot, m.ballot, m.value, m.from);
    if (value === null) return;
    if (this.thrifty && this.roleState === 'leader' &&
      compareBallots(m.ballot, this.ballotState) === 0) {
      // The quorum that just decided one of this ballot's slots takes the next accepts.
      this.thriftySet = this.tally.voters(m.slot, m.ballot);
    }
    this.onDecided(m.slot, m.ballot, value);
  }

  private onChosen(m: MsgChosen): void {
    if (m.from === this.id) return;
    this.noteBallot(m.ballot);
    if (m.slot < this.firstUnknownSlot || this.decided.has(m.slot)) return;
    this.onDecided(m.slot, m.ballot, m.value);
  }

  private onDecided(slot: number, ballot: Ballot, value: Value): void {
    this.noteStamp(value);
    this.decided.set(slot, { value, ballot });
    if (value.kind === 'cmds') {
      this.retainedCommands += value.cmds.length;
      for (const c of value.cmds) this.retainedChars += c.payload.length;
    }
    this.tally.forget(slot);
    this.highestDecided = Math.max(this.highestDecided, slot);
    this.noteKnown(slot);
    const prefixFrom = this.firstUnknownSlot;
    while (this.decided.has(this.firstUnknownSlot)) this.firstUnknownSlot++;
    if (this.firstUnknownSlot > prefixFrom) this.lastProgressTick = this.now;
    this.outCommitted.push({ slot, value });
    this.outEvents.push({ kind: 'chosen', slot, ballot });
    if (this.roleState === 'leader') {
      this.outMessages.push({ type: 'chosen', from: this.id, ballot, slot, value });
      if (this.nextSlot <= slot) this.nextSlot = slot + 1;
    }
    if (value.kind === 'cmds') {
      for (const c of value.cmds) {
        const key = commandKey(c);
        // The lowest slot holding a command is the one that counts; a later copy (a retry that
        // raced a leader change) is skipped when the log is applied (see Deduplicator).
        const prev = this.dedupe.get(key);
        if (prev === undefined || slot < prev) this.dedupe.set(key, slot);
        this.proposedKeys.delete(key);
      }
    }
    // A command's slot is final once every slot below it is known: answer only then.
    for (let s = prefixFrom; s < this.firstUnknownSlot; s++) this.answerSlot(s);
    const mine = this.inflight.get(slot);
    if (mine !== undefined) {
      this.inflight.delete(slot);
      if (!valueEquals(mine.value, value) && mine.value.kind === 'cmds') {
        this.requeue(mine.value.cmds);
      }
    }
    this.prune();
    this.maybePropose();
  }

  private answerSlot(slot: number): void {
    const d = this.decided.get(slot);
    if (d === undefined || d.value.kind !== 'cmds') return;
    for (const c of d.value.cmds) {
      const key = commandKey(c);
      const first = this.dedupe.get(key) ?? slot;
      this.answer(key, { status: 'chosen', slot: first },
        first === slot ? c.payload : this.decidedPayload(first, key));
    }
  }

  private requeue(cmds: readonly Command[]): void {
    const back: Command[] = [];
    for (const c of cmds) {
      const key = commandKey(c);
      this.proposedKeys.delete(key);
      if (this.dedupe.has(key) || this.pendingKeys.has(key)) continue;
      this.pendingKeys.add(key);
      this.pendingChars += c.payload.length;
      back.push(c);
    }
    this.pending = back.concat(this.pending);
  }

  /**
   * Drops decided slots below `firstUnknown`, oldest first, while more than `retainDecided`
   * slots, `retainDecidedCommands` commands or `retainDecidedChars` payload characters are
   * held. A slot dropped for characters alone keeps its dedupe entries (a retry of its commands
   * is still answered with their first slot) until the slot and command bounds drop them too.
   */
  private prune(): void {
    const floor = this.firstUnknownSlot - this.retainDecided;
    const maxCmds = this.retainDecidedCommands;
    // A value is kept while a live learner still lacks its slot: the acceptors' votes for it
    // may be split across ballots (no majority at one ballot for the learner to count), and
    // then a proposer's `chosen` or another learner is the only way to learn it. Beyond
    // HOLD_FACTOR times the bounds, memory wins and the oldest go anyway.
    const held = this.learnersNeed();
    const over = (k: number): boolean => this.retainedCommands > k * maxCmds ||
      this.retainedChars > k * this.retainDecidedChars;
    while (this.lowestRetained < this.firstUnknownSlot &&
      (this.lowestRetained < held ? this.lowestRetained < floor || over(1) : over(HOLD_FACTOR))) {
      const slot = this.lowestRetained;
      const d = this.decided.get(slot);
      if (d !== undefined && d.value.kind === 'cmds') {
        const keys: string[] = [];
        for (const c of d.value.cmds) {
          keys.push(commandKey(c));
          this.retainedCommands--;
          this.retainedChars -= c.payload.length;
        }
        this.dedupeOnly.push({ slot, keys });
        this.dedupeOnlyCommands += keys.length;
      }
      this.decided.delete(slot);
      this.lowestRetained++;
    }
    while (this.dedupeHead < this.dedupeOnly.length) {
      const e = this.dedupeOnly[this.dedupeHead] as { slot: number; keys: string[] };
      if (e.slot >= floor && this.retainedCommands + this.dedupeOnlyCommands <= maxCmds) break;
      for (const key of e.keys) if (this.dedupe.get(key) === e.slot) this.dedupe.delete(key);
      this.dedupeOnlyCommands -= e.keys.length;
      this.dedupeHead++;
    }
    if (this.dedupeHead > 1024 && this.dedupeHead * 2 > this.dedupeOnly.length) {
      this.dedupeOnly = this.dedupeOnly.slice(this.dedupeHead);
      this.dedupeHead = 0;
    }
  }

  /** Asks acceptors and proposers for decided slots this proposer is missing. */
  private maybeCatchup(): void {
    if (this.highestKnown < this.firstUnknownSlot) {
      this.lastProgressTick = this.now;
      return;
    }
    if (this.now - this.lastProgressTick < this.retryTicks) return;
    this.lastProgressTick = this.now;
    const toSlot = Math.min(this.highestKnown, this.firstUnknownSlot + 255);
    this.outMessages.push({
      type: 'catchup', from: this.id, fromSlot: this.firstUnknownSlot, toSlot,
    });
    this.outEvents.push({ kind: 'catchup-requested', fromSlot: this.firstUnknownSlot, toSlot });
  }

  private noteKnown(slot: number): void {
    if (slot > this.highestKnown) this.highestKnown = slot;
  }

  private onCatchup(m: MsgCatchup): void {
    if (m.from === this.id) return;
    const hi = Math.min(m.toSlot, m.fromSlot + 255);
    for (let slot = Math.max(m.fromSlot, this.lowestRetained); slot <= hi; slot++) {
      const d = this.decided.get(slot);
      if (d === undefined) continue;
      this.outMessages.push({
        type: 'chosen', from: this.id, to: m.from, ballot: d.ballot, slot, value: d.value,
      });
    }
    // The first slot asked for is decided but no longer retained here, and above the
    // compaction point (below it the learners hold the log): other learners may answer, and
    // the acceptors' votes may be enough for the asker to count, but neither is sure (votes
    // can be split across ballots, the acceptors holding a quorum of one ballot may be gone).
    // The leader can always recover it: a prepare at its own ballot (acceptors answer a
    // repeated one without a new promise) returns a quorum's complete reports, and in a
    // decided slot the highest-ballot vote among any quorum's reports is the chosen value.
    if (this.roleState !== 'leader' || m.fromSlot >= this.firstUnknownSlot ||
      m.fromSlot < Math.max(this.compactPoint, this.floorSeen) || this.decided.has(m.fromSlot)) {
      return;
    }
    const r = this.recovery;
    if (r !== null) {
      // One recovery at a time; an asker whose range it covers is answered with it.
      if (m.fromSlot >= r.fromSlot && m.fromSlot < r.fromSlot + 256) {
        r.requesters.set(m.from, Math.min(r.requesters.get(m.from) ?? m.fromSlot, m.fromSlot));
      }
      return;
    }
    this.recoveryNonce++;
    this.recovery = {
      fromSlot: m.fromSlot, nonce: this.recoveryNonce, decidedBelow: this.firstUnknownSlot,
      requesters: new Map([[m.from, m.fromSlot]]), sentTick: this.now, reports: new Map(),
    };
    this.outMessages.push({
      type: 'prepare', from: this.id, ballot: this.ballotState, fromSlot: m.fromSlot,
      recovery: this.recoveryNonce,
    });
  }

  /**
   * A promise at the leader's ballot answering its recovery prepare. At a quorum of reports,
   * the askers get a `chosen` for each slot `chosenFromReports` vouches for, among the slots
   * below `firstUnknown` as it was when the recovery started (decided before any report was
   * taken: a slot decided later may be missing from an earlier report).
   */
  private onRecoveryPromise(m: MsgPromise): void {
    const r = this.recovery;
    // Only reports taken for this recovery: an older promise at the same ballot and slot (its
    // election's, delayed or duplicated) may predate the decisions and must not count.
    if (r === null || m.recovery !== r.nonce || !ballotEquals(m.ballot, this.ballotState) ||
      m.fromSlot !== r.fromSlot || !this.acceptors.includes(m.from) ||
      (m.upTo !== undefined && m.upTo <= m.fromSlot)) {
      return;
    }
    r.reports.set(m.from, { entries: m.accepted, upTo: m.upTo ?? Infinity, floor: m.floor ?? 0 });
    const needed = this.plantedBug === PlantedBug.RecoverFromOneReport ? 1 : this.quorum;
    if (r.reports.size < needed) return;
    this.recovery = null;
    for (const e of chosenFromReports([...r.reports.values()], r.fromSlot, r.decidedBelow, 256)) {
      this.recoveredCount++;
      for (const [to, first] of r.requesters) {
        if (e.slot < first) continue;
        this.outMessages.push({
          type: 'chosen', from: this.id, to, ballot: e.ballot, slot: e.slot, value: e.value,
        });
      }
    }
  }

  // ---- clients ----------------------------------------------------------------------------

  private onRequest(m: MsgRequest): void {
    const key = commandKey(m.cmd);
    const slot = this.dedupe.get(key);
    if (slot !== undefined) {
      // Only once every slot below is known is `slot` the copy that counts: a lower slot still
      // undecided might hold this very payload.
      if (slot < this.firstUnknownSlot) {
        const held = this.decidedPayload(slot, key);
        this.respond(m.from, m.cmd, held !== undefined && held !== m.cmd.payload
          ? { status: 'conflict', slot } : { status: 'chosen', slot });
      } else this.addWaiting(key, m.from, m.cmd.payload);
      return;
    }
    if (this.proposedKeys.has(key) || this.pendingKeys.has(key)) {
      this.addWaiting(key, m.from, m.cmd.payload);
      return;
    }
    const leader = this.leader;
    if (leader !== null && leader !== this.id) {
      if (m.to !== undefined) {
        // Already forwarded once: never forward twice, so stale leader hints cannot loop.
        this.respond(m.from, m.cmd, { status: 'redirect', leader });
        return;
      }
      if (this.waiting.size >= this.maxPending) {
        this.respond(m.from, m.cmd, { status: 'overloaded' });
        return;
      }
      this.addWaiting(key, m.from, m.cmd.payload);
      this.outMessages.push({ type: 'request', from: this.id, to: leader, cmd: m.cmd });
      return;
    }
    if (this.pending.length >= this.maxPending ||
      this.pendingChars + m.cmd.payload.length > this.maxPendingChars) {
      this.respond(m.from, m.cmd, { status: 'overloaded' });
      return;
    }
    this.pendingChars += m.cmd.payload.length;
    this.pending.push(m.cmd);
    this.pendingKeys.add(key);
    this.addWaiting(key, m.from, m.cmd.payload);
    this.maybePropose();
  }

  private onResponse(m: MsgResponse): void {
    const key = commandKey(m);
    const to = this.waiting.get(key);
    if (to === undefined) return;
    this.waiting.delete(key);
    for (const dest of to.keys()) {
      if (dest !== m.from && dest !== this.id) {
        this.outMessages.push({ ...m, from: this.id, to: dest });
      }
    }
  }

  private forwardPending(): void {
    const leader = this.leaderHint;
    if (leader === null || leader === this.id || this.pending.length === 0) return;
    for (const cmd of this.pending) {
      this.outMessages.push({ type: 'request', from: this.id, to: leader, cmd });
    }
    this.pending = [];
    this.pendingChars = 0;
    this.pendingKeys.clear();
  }

  private addWaiting(key: string, who: string, payload: string): void {
    let m = this.waiting.get(key);
    if (m === undefined) {
      m = new Map();
      this.waiting.set(key, m);
    }
    const sent = m.get(who);
    if (sent === undefined) m.set(who, payload);
    else if (typeof sent !== 'string') sent.add(payload);
    else if (sent !== payload) m.set(who, new Set([sent, payload]));
  }

  /**
   * Answers everyone waiting for `key`. With `decided` (the payload chosen for the key), a
   * waiter that sent only other payloads under the same `(clientId, seq)` is told `conflict`,
   * not `chosen`: its command was not chosen. (One answer goes to each waiter: a forwarding
   * proposer that relayed both payloads is told `chosen`, as the honest one was.)
   */
  private answer(key: string, outcome: Outcome, decided?: string): void {
    const to = this.waiting.get(key);
    if (to === undefined) return;
    this.waiting.delete(key);
    const hash = key.lastIndexOf('#');
    const cmd = { clientId: key.slice(0, hash), seq: Number(key.slice(hash + 1)) };
    for (const [dest, payloads] of to) {
      if (dest === this.id) continue;
      const differs = outcome.status === 'chosen' && decided !== undefined &&
        (typeof payloads === 'string' ? payloads !== decided : !payloads.has(decided));
      this.respond(dest, cmd, differs ? { status: 'conflict', slot: outcome.slot } : outcome);
    }
  }

  /** The payload of command `key` in decided slot `slot`, when this proposer still holds it. */
  private decidedPayload(slot: number, key: string): string | undefined {
    const d = this.decided.get(slot);
    if (d === undefined || d.value.kind !== 'cmds') return undefined;
    return d.value.cmds.find((c) => commandKey(c) === key)?.payload;
  }

  private respond(to: string, cmd: { clientId: string; seq: number }, outcome: Outcome): void {
    this.outMessages.push({
      type: 'response', from: this.id, to, clientId: cmd.clientId, seq: cmd.seq, outcome,
    });
  }

  // ---- helpers ----------------------------------------------------------------------------

  private noteBallot(b: Ballot): void {
    this.highestSeen = maxBallot(this.highestSeen, b);
  }

  private makeBallot(round: number): Ballot {
    // The shared-ballot planted bug drops everything that makes a ballot unique.
    return this.plantedBug === PlantedBug.SharedBallot
      ? { round, proposer: 'shared', incarnation: 0 }
      : { round, proposer: this.id, incarnation: this.incarnation };
  }

  private randomTimeout(): number {
    return this.electionTicks + this.rng.nextInt(this.electionTicks);
  }

  private resetElectionTimer(): void {
    this.electionElapsed = 0;
    this.electionTimeout = this.randomTimeout();
  }
}
