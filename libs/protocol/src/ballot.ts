/**
 * Ballots (proposal numbers). A ballot is `(round, proposer, incarnation)`, ordered by round,
 * then proposer id, then incarnation. Two proposers never issue the same ballot because their
 * ids differ; one proposer never reuses a ballot across restarts because each run of it has its
 * own incarnation. Without the incarnation, a proposer that restarts (and forgets its rounds)
 * could send two different values for one slot under one ballot, which breaks agreement.
 */
export interface Ballot {
  /** Round number chosen by the proposer; a non-negative safe integer. */
  readonly round: number;
  /** Node id of the proposer that owns this ballot. */
  readonly proposer: string;
  /**
   * Identifies one run (process lifetime) of that proposer: a non-negative safe integer drawn
   * at random at start-up (or given by the driver), so that restarts never reuse a ballot.
   */
  readonly incarnation: number;
}

/** Total order on ballots: negative when `a < b`, zero when equal, positive when `a > b`. */
export function compareBallots(a: Ballot, b: Ballot): number {
  if (a.round !== b.round) return a.round < b.round ? -1 : 1;
  if (a.proposer !== b.proposer) {
    // Ordinal (code unit) comparison: locale-independent, so every process agrees.
    return a.proposer < b.proposer ? -1 : 1;
  }
  if (a.incarnation === b.incarnation) return 0;
  return a.incarnation < b.incarnation ? -1 : 1;
}

/**
 * Compares ballots where `null` means "no ballot yet" and sorts below every real ballot.
 */
export function compareMaybeBallots(a: Ballot | null, b: Ballot | null): number {
  if (a === null) return b === null ? 0 : -1;
  if (b === null) return 1;
  return compareBallots(a, b);
}

/** True when both ballots are the same pair. */
export function ballotEquals(a: Ballot | null, b: Ballot | null): boolean {
  return compareMaybeBallots(a, b) === 0;
}

/** The larger of two ballots (`null` is the smallest). */
export function maxBallot(a: Ballot | null, b: Ballot | null): Ballot | null {
  return compareMaybeBallots(a, b) >= 0 ? a : b;
}

/** `round.proposer.incarnation`, the form used in logs, span attributes and map keys. */
export function describeBallot(b: Ballot | null): string {
  return b === null ? '-' : `${b.round}.${b.proposer}.${b.incarnation}`;
}
