/**
 * Ballots (proposal numbers). A ballot is a pair `(round, proposer)` ordered first by round and
 * then by proposer id, so two proposers can never issue the same ballot: uniqueness comes from the
 * proposer id, not from coordination.
 */
export interface Ballot {
  /** Monotonic round number chosen by the proposer; a non-negative safe integer. */
  readonly round: number;
  /** Id of the proposer that owns this ballot. */
  readonly proposer: string;
}

/** Total order on ballots: negative when `a < b`, zero when equal, positive when `a > b`. */
export function compareBallots(a: Ballot, b: Ballot): number {
  if (a.round !== b.round) return a.round < b.round ? -1 : 1;
  if (a.proposer === b.proposer) return 0;
  // Ordinal (code unit) comparison: locale-independent, so every process agrees.
  return a.proposer < b.proposer ? -1 : 1;
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

/** `round.proposer`, the form used in logs, span attributes and map keys. */
export function describeBallot(b: Ballot | null): string {
  return b === null ? '-' : `${b.round}.${b.proposer}`;
}
