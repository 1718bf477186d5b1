/**
 * Quorum arithmetic. A quorum is any strict majority, so every two quorums intersect in at least
 * one acceptor: that intersection is what carries a chosen value into every later ballot.
 */

/** Smallest strict majority of `n` acceptors: `floor(n / 2) + 1`. */
export function quorumSize(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`acceptor count must be >= 1: ${n}`);
  return Math.floor(n / 2) + 1;
}

/** True when `count` distinct acceptors out of `n` form a quorum. */
export function isQuorum(count: number, n: number): boolean {
  return count >= quorumSize(n);
}

/** How many acceptors may fail while a quorum remains: `n - quorumSize(n)`. */
export function faultTolerance(n: number): number {
  return n - quorumSize(n);
}
