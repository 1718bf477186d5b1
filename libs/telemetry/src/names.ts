/**
 * Every span name, attribute and event name Synod emits, in one place (docs/observability.md
 * lists them with their meaning). Names follow the OpenTelemetry conventions where one exists
 * (`messaging.*`, `db.*`) and live under `synod.*` otherwise.
 */

/** Span names. Low cardinality on purpose: slots and ballots are attributes, not names. */
export const SpanName = {
  /** The client's call, from the first attempt to the answer (kind CLIENT). */
  Propose: 'synod.propose',
  /** A proposer handling one client command until it answers (kind SERVER). */
  Request: 'proposer.request',
  /** Phase 1 of one ballot: prepare sent until a quorum promised or it was preempted. */
  Phase1: 'proposer.phase1',
  /** Phase 2 of one slot at one ballot: accept sent until chosen or preempted. */
  Round: 'proposer.round',
  /** An acceptor handling a prepare (kind CONSUMER). */
  AcceptorPrepare: 'acceptor.prepare',
  /** An acceptor handling an accept (kind CONSUMER). */
  AcceptorAccept: 'acceptor.accept',
  /** A Redis write of an acceptor's votes or a learner's decisions (kind CLIENT). */
  Persist: 'redis.persist',
  /** A learner deciding a slot, from the first vote it heard to delivery (kind CONSUMER). */
  Decide: 'learner.decide',
} as const;

/** The name of the PRODUCER span of an outgoing protocol message: `publish accept`. */
export function publishSpanName(type: string): string {
  return `publish ${type}`;
}

/** Attribute keys. */
export const Attr = {
  Slot: 'synod.slot',
  Ballot: 'synod.ballot',
  BallotRound: 'synod.ballot.round',
  Role: 'synod.role',
  NodeId: 'synod.node_id',
  Cluster: 'synod.cluster',
  Outcome: 'synod.outcome',
  RequestId: 'synod.request_id',
  ClientId: 'synod.client_id',
  FromSlot: 'synod.from_slot',
  BatchSize: 'synod.batch_size',
  ValueKind: 'synod.value.kind',
  MessageType: 'synod.message.type',
  Peer: 'synod.peer',
  Quorum: 'synod.quorum',
  Votes: 'synod.votes',
  PreemptedBy: 'synod.preempted_by',
  MessagingSystem: 'messaging.system',
  MessagingDestination: 'messaging.destination.name',
  MessagingOperationType: 'messaging.operation.type',
  MessagingOperationName: 'messaging.operation.name',
  MessagingBodySize: 'messaging.message.body.size',
  DbSystem: 'db.system.name',
  DbOperation: 'db.operation.name',
  ErrorType: 'error.type',
} as const;

/** Span event names. */
export const EventName = {
  /** A protocol message reached the span's owner (attributes: type, peer). */
  Received: 'message.received',
  /** The quorum moment: a majority promised (phase 1) or accepted (phase 2, learner). */
  Quorum: 'quorum',
  /** The learner handed the slot to the application. */
  Delivered: 'delivered',
  /** The same command arrived again while it was being handled. */
  Retry: 'retry',
} as const;

/** Values of `synod.outcome`. */
export const Outcome = {
  Promised: 'promised',
  Nacked: 'nacked',
  Accepted: 'accepted',
  Won: 'won',
  Chosen: 'chosen',
  Preempted: 'preempted',
  Superseded: 'superseded',
  Redirect: 'redirect',
  Overloaded: 'overloaded',
  Conflict: 'conflict',
  Abandoned: 'abandoned',
  Failed: 'failed',
} as const;
