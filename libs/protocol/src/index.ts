/**
 * @synod/protocol: the pure, deterministic Multi-Paxos cores. No I/O, no clock, no ambient
 * randomness: drivers feed messages and ticks in and carry out each core's `Ready`.
 */
export {
  type Ballot,
  ballotEquals,
  compareBallots,
  compareMaybeBallots,
  describeBallot,
  maxBallot,
} from './ballot.js';
export { type Command, commandKey, describeValue, NOOP, type Value, valueEquals } from './value.js';
export {
  type AcceptedEntry,
  assertNever,
  BROADCAST_AUDIENCE,
  describeMessage,
  describeOutcome,
  type Message,
  messageSlot,
  messageTarget,
  MSG_TYPES,
  type MsgAccept,
  type MsgAccepted,
  type MsgCatchup,
  type MsgChosen,
  type MsgHeartbeat,
  type MsgNack,
  type MsgPrepare,
  type MsgProgress,
  type MsgPromise,
  type MsgRequest,
  type MsgResponse,
  MsgType,
  type Outcome,
  Role,
  SENDER_ROLE,
} from './messages.js';
export { faultTolerance, isQuorum, quorumSize } from './quorum.js';
export { InvariantError, invariant } from './invariants.js';
export { type Rng, Sfc32 } from './rng.js';
export { effectiveQuorum, PLANTED_BUGS, PlantedBug } from './planted.js';
export {
  type AcceptorPersist,
  type CoreEvent,
  type Decision,
  isEmptyReady,
  type LearnerPersist,
  type Ready,
} from './ready.js';
export { Tally } from './tally.js';
export {
  commandWireBytes,
  DEFAULT_WIRE_BUDGET_BYTES,
  ENTRY_OVERHEAD_BYTES,
  ENVELOPE_RESERVE_BYTES,
  entryWireBytes,
  VALUE_OVERHEAD_BYTES,
  valueWireBytes,
  wireBudgetBytes,
} from './size.js';
export { chosenFromReports, type RecoveryReport } from './recovery.js';
export {
  AcceptorCore,
  type AcceptorConfig,
  type AcceptorDurableState,
} from './acceptor.js';
export { ProposerCore, type ProposerConfig, type ProposerRole } from './proposer.js';
export { LearnerCore, type LearnerConfig, type LearnerDurableState } from './learner.js';
export {
  DEDUPE_MAX_CLIENTS, DEDUPE_MAX_SEQS, DEDUPE_WINDOW, type DedupeSnapshot, Deduplicator,
} from './dedupe.js';
