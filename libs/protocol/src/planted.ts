/**
 * Planted bugs ("mutants") that the simulator's checkers must catch. Each is a deliberate
 * violation of one rule of Paxos, switched on only by the simulator's `--mutant` flag; a checker
 * that cannot catch them proves nothing. Production configuration has no way to set them.
 */
export const PlantedBug = {
  /** The acceptor's reply leaves before its state is durable (driver-level). */
  ReplyBeforePersist: 'reply-before-persist',
  /** The acceptor accepts a proposal below its promise. */
  AcceptBelowPromise: 'accept-below-promise',
  /** The proposer ignores the highest accepted value reported in phase 1. */
  IgnoreHighestAccepted: 'ignore-highest-accepted',
  /** Proposers and learners treat floor(n/2) acceptors as a quorum. */
  MinorityQuorum: 'minority-quorum',
  /** Every proposer uses the same ballot numbers (no proposer id in the ballot). */
  SharedBallot: 'shared-ballot',
  /** The learner counts accepted votes for a slot across different ballots. */
  LearnerAcrossBallots: 'learner-across-ballots',
  /** A learner stuck behind a missing slot delivers a no-op there instead of catching up. */
  LearnerNoopGap: 'learner-noop-gap',
  /** A new leader fills gaps with a command no client proposed instead of a no-op. */
  InventValue: 'invent-value',
  /** The leader tells the client its slot when it proposes, before a quorum accepted. */
  AckBeforeChosen: 'ack-before-chosen',
  /** A client retries a timed-out request under a new sequence number (driver-level). */
  RetryWithoutRequestId: 'retry-without-request-id',
  /**
   * A learner reports the highest slot it has heard of as its delivery point, not what it has
   * durably delivered: the leader then compacts slots that no learner holds.
   */
  LearnerProgressAhead: 'learner-progress-ahead',
  /** The leader compacts below its decided prefix without waiting for the learners to hold it. */
  CompactIgnoringLearners: 'compact-ignoring-learners',
  /**
   * The leader answers a recovery of decided slots (decision 010) from the first acceptor's
   * report instead of waiting for a quorum's: a lone acceptor's old, never chosen vote wins.
   */
  RecoverFromOneReport: 'recover-from-one-report',
  /**
   * A candidate adopts, in each slot, the first vote reported in phase 1 instead of the
   * highest-ballot one (unlike ignore-highest-accepted, it still re-proposes a reported value).
   */
  AdoptFirstReportedVote: 'adopt-first-reported-vote',
  /**
   * An acceptor leaves its compaction floor out of its promises: a candidate or a recovering
   * leader takes the missing slots below it as "no vote there".
   */
  PromiseWithoutFloor: 'promise-without-floor',
  /** The election state machine grants a campaign while another holder's lease is live. */
  ElectionGrantWhileHeld: 'election-grant-while-held',
  /** The election state machine lets a holder renew a lease that already ran out. */
  ElectionRenewAfterExpiry: 'election-renew-after-expiry',
} as const;
export type PlantedBug = (typeof PlantedBug)[keyof typeof PlantedBug];

/** Every planted bug, for CLIs and tests. */
export const PLANTED_BUGS: readonly PlantedBug[] = Object.values(PlantedBug);

/** Quorum size as a role computes it, honouring the minority-quorum planted bug. */
export function effectiveQuorum(n: number, bug: PlantedBug | undefined): number {
  const q = Math.floor(n / 2) + 1;
  return bug === PlantedBug.MinorityQuorum ? Math.max(1, q - 1) : q;
}
