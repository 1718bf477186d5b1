import { type Ballot, describeBallot } from './ballot.js';
import { type Command, commandKey, describeValue, type Value } from './value.js';

/**
 * Every message kind, as a const object so that `MsgType.Prepare` and the literal `'prepare'`
 * are the same thing (the wire form uses the literal).
 */
export const MsgType = {
  Prepare: 'prepare',
  Promise: 'promise',
  Nack: 'nack',
  Accept: 'accept',
  Accepted: 'accepted',
  Chosen: 'chosen',
  Heartbeat: 'heartbeat',
  Catchup: 'catchup',
  Request: 'request',
  Response: 'response',
  Progress: 'progress',
} as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];

/** All message types, in protocol order. */
export const MSG_TYPES: readonly MsgType[] = Object.values(MsgType);

/** One acceptor's vote for a slot: the highest-ballot proposal it has accepted there. */
export interface AcceptedEntry {
  readonly slot: number;
  readonly ballot: Ballot;
  readonly value: Value;
}

/** Phase 1a. Proposer -> all acceptors: "promise me `ballot` for every slot >= `fromSlot`". */
export interface MsgPrepare {
  readonly type: 'prepare';
  readonly from: string;
  readonly ballot: Ballot;
  readonly fromSlot: number;
  /**
   * Set by a leader recovering decided slots it no longer holds (at its own ballot): a number
   * the acceptor echoes in its promise, so that the leader tells the reports taken for this
   * recovery from older promises at the same ballot and slot (its election's, which may predate
   * the decisions).
   */
  readonly recovery?: number;
}

/**
 * Phase 1b. Acceptor -> the preparing proposer: the promise, with every entry it has accepted at
 * slots >= `fromSlot`, so the proposer can adopt the highest-ballot value of each slot.
 */
export interface MsgPromise {
  readonly type: 'promise';
  readonly from: string;
  readonly to: string;
  readonly ballot: Ballot;
  readonly fromSlot: number;
  readonly accepted: readonly AcceptedEntry[];
  /**
   * Present when the report is one page: it covers slots in `[fromSlot, upTo)` only, and the
   * proposer asks again (a prepare at the same ballot from `upTo`) for the rest. Absent: the
   * report covers every slot from `fromSlot` on.
   */
  readonly upTo?: number;
  /**
   * Present when this acceptor has compacted its log below `floor` (> `fromSlot`): every slot
   * below it is decided and its vote there is gone, so the report starts at `floor`. The
   * proposer must not propose below it; learners hold those slots.
   */
  readonly floor?: number;
  /** The prepare's `recovery`, echoed. */
  readonly recovery?: number;
}

/**
 * Refusal. Acceptor -> proposer: `ballot` (the proposer's) is below `promised` (the acceptor's).
 * A stale ballot is an ordinary answer, not an error: it tells the proposer whom to defer to.
 */
export interface MsgNack {
  readonly type: 'nack';
  readonly from: string;
  readonly to: string;
  readonly ballot: Ballot;
  readonly promised: Ballot;
  /** The slot of the refused accept, or null when a prepare was refused. */
  readonly slot: number | null;
}

/**
 * Phase 2a. Proposer -> all acceptors: "accept `value` for `slot` at `ballot`". `compactBelow`
 * (leader only) says that every slot below it is decided and durably delivered by every learner
 * the leader hears from: an acceptor that takes the accept may drop its votes there. With `to`
 * it goes to that one acceptor only (thrifty phase 2 sends one to each acceptor of a quorum).
 */
export interface MsgAccept {
  readonly type: 'accept';
  readonly from: string;
  readonly to?: string;
  readonly ballot: Ballot;
  readonly slot: number;
  readonly value: Value;
  readonly compactBelow?: number;
}

/**
 * Phase 2b. Acceptor -> proposers and learners: "I accepted `value` for `slot` at `ballot`".
 * Broadcast when `to` is absent; addressed to one node when it answers a catch-up.
 */
export interface MsgAccepted {
  readonly type: 'accepted';
  readonly from: string;
  readonly to?: string;
  readonly ballot: Ballot;
  readonly slot: number;
  readonly value: Value;
}

/**
 * Decision. Proposer -> learners and proposers: a quorum accepted `value` for `slot` at `ballot`.
 * Sent by the proposer that saw the quorum (the distinguished learner of Paxos Made Simple), and
 * to one learner in answer to a catch-up.
 */
export interface MsgChosen {
  readonly type: 'chosen';
  readonly from: string;
  readonly to?: string;
  readonly ballot: Ballot;
  readonly slot: number;
  readonly value: Value;
}

/**
 * Leadership beacon. Leader -> proposers and learners, every few ticks: it holds `ballot`, and
 * every slot below `chosenUpTo` is decided. Followers hold off elections while it arrives.
 */
export interface MsgHeartbeat {
  readonly type: 'heartbeat';
  readonly from: string;
  readonly ballot: Ballot;
  readonly chosenUpTo: number;
  /** The leader's compaction point (see MsgAccept): followers skip the slots below it. */
  readonly compactBelow?: number;
}

/**
 * Learner -> proposers, every few ticks: every slot below `nextSlot` is durably delivered
 * here. The leader compacts the acceptors' logs only below what every live learner holds.
 */
export interface MsgProgress {
  readonly type: 'progress';
  readonly from: string;
  readonly nextSlot: number;
}

/** Catch-up. Learner -> acceptors and proposers: "send me what you know of slots in the range". */
export interface MsgCatchup {
  readonly type: 'catchup';
  readonly from: string;
  readonly fromSlot: number;
  /** Inclusive upper bound. */
  readonly toSlot: number;
}

/**
 * A client's command. Client -> any proposer (`to` absent), or follower -> leader when forwarded
 * (`to` is the leader, `from` the forwarding proposer).
 */
export interface MsgRequest {
  readonly type: 'request';
  readonly from: string;
  readonly to?: string;
  readonly cmd: Command;
}

/** How a request ended, from the proposer's point of view. */
export type Outcome =
  | { readonly status: 'chosen'; readonly slot: number }
  | { readonly status: 'redirect'; readonly leader: string | null }
  | { readonly status: 'overloaded' }
  /**
   * The request's `(clientId, seq)` was chosen at `slot` with another payload: a retry must
   * resend the same command, a new command needs a new seq. Nothing was proposed.
   */
  | { readonly status: 'conflict'; readonly slot: number };

/** Proposer -> whoever sent the request (a client, or the proposer that forwarded it). */
export interface MsgResponse {
  readonly type: 'response';
  readonly from: string;
  readonly to: string;
  readonly clientId: string;
  readonly seq: number;
  readonly outcome: Outcome;
}

/** Every protocol message. */
export type Message =
  | MsgPrepare
  | MsgPromise
  | MsgNack
  | MsgAccept
  | MsgAccepted
  | MsgChosen
  | MsgHeartbeat
  | MsgCatchup
  | MsgRequest
  | MsgResponse
  | MsgProgress;

/** Roles of the participants; a message's audience is a set of roles or one node. */
export const Role = {
  Proposer: 'proposer',
  Acceptor: 'acceptor',
  Learner: 'learner',
  Client: 'client',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

/** Which role sends each message type (the subject's sender segment is a node of this role). */
export const SENDER_ROLE: Readonly<Record<MsgType, readonly Role[]>> = {
  prepare: ['proposer'],
  promise: ['acceptor'],
  nack: ['acceptor'],
  accept: ['proposer'],
  accepted: ['acceptor'],
  chosen: ['proposer', 'learner'],
  heartbeat: ['proposer'],
  catchup: ['learner', 'proposer'],
  request: ['client', 'proposer'],
  response: ['proposer'],
  progress: ['learner'],
};

/** Who receives a broadcast (a message without `to`) of each type. */
export const BROADCAST_AUDIENCE: Readonly<Record<MsgType, readonly Role[]>> = {
  prepare: ['acceptor'],
  promise: [],
  nack: [],
  accept: ['acceptor'],
  accepted: ['proposer', 'learner'],
  chosen: ['proposer', 'learner'],
  heartbeat: ['proposer', 'learner'],
  catchup: ['acceptor', 'proposer', 'learner'],
  request: ['proposer'],
  response: [],
  progress: ['proposer'],
};

/** The addressee of a message, or null for a broadcast. */
export function messageTarget(m: Message): string | null {
  return 'to' in m && m.to !== undefined ? m.to : null;
}

/** The slot a message is about, when it is about exactly one. */
export function messageSlot(m: Message): number | null {
  switch (m.type) {
    case 'accept':
    case 'accepted':
    case 'chosen':
      return m.slot;
    case 'nack':
      return m.slot;
    case 'prepare':
    case 'promise':
    case 'heartbeat':
    case 'catchup':
    case 'request':
    case 'response':
    case 'progress':
      return null;
    default:
      return assertNever(m);
  }
}

/** One-line description of a message, used by logs, golden transcripts and span names. */
export function describeMessage(m: Message): string {
  const head = `${m.type} ${m.from}->${messageTarget(m) ?? '*'}`;
  switch (m.type) {
    case 'prepare':
      return `${head} b=${describeBallot(m.ballot)} from=${m.fromSlot}` +
        (m.recovery === undefined ? '' : ` recovery=${m.recovery}`);
    case 'promise':
      return `${head} b=${describeBallot(m.ballot)} from=${m.fromSlot} n=${m.accepted.length}` +
        (m.upTo === undefined ? '' : ` upTo=${m.upTo}`) +
        (m.floor === undefined ? '' : ` floor=${m.floor}`) +
        (m.recovery === undefined ? '' : ` recovery=${m.recovery}`);
    case 'nack':
      return `${head} b=${describeBallot(m.ballot)} promised=${describeBallot(m.promised)}` +
        ` slot=${m.slot ?? '-'}`;
    case 'accept':
      return `${head} b=${describeBallot(m.ballot)} slot=${m.slot} v=${describeValue(m.value)}` +
        (m.compactBelow === undefined ? '' : ` compactBelow=${m.compactBelow}`);
    case 'accepted':
    case 'chosen':
      return `${head} b=${describeBallot(m.ballot)} slot=${m.slot} v=${describeValue(m.value)}`;
    case 'heartbeat':
      return `${head} b=${describeBallot(m.ballot)} chosenUpTo=${m.chosenUpTo}` +
        (m.compactBelow === undefined ? '' : ` compactBelow=${m.compactBelow}`);
    case 'progress':
      return `${head} nextSlot=${m.nextSlot}`;
    case 'catchup':
      return `${head} slots=${m.fromSlot}..${m.toSlot}`;
    case 'request':
      return `${head} cmd=${commandKey(m.cmd)}`;
    case 'response':
      return `${head} cmd=${commandKey(m)} ${describeOutcome(m.outcome)}`;
    default:
      return assertNever(m);
  }
}

/** `chosen@12`, `redirect->p2`, `overloaded`. */
export function describeOutcome(o: Outcome): string {
  switch (o.status) {
    case 'chosen':
      return `chosen@${o.slot}`;
    case 'redirect':
      return `redirect->${o.leader ?? '?'}`;
    case 'overloaded':
      return 'overloaded';
    case 'conflict':
      return `conflict@${o.slot}`;
    default:
      return assertNever(o);
  }
}

/** Exhaustiveness guard for switches over unions: reaching it is a programmer error. */
export function assertNever(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
