/**
 * Invariant failures are programmer errors: the core's own state contradicts Paxos. They throw
 * and stay on in production, because continuing would risk a safety violation.
 */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
  readonly code = 'SYNOD_INVARIANT';
  constructor(message: string) {
    super(message);
  }
}

/** Throws an {@link InvariantError} with `message` unless `cond` holds. */
export function invariant(cond: boolean, message: () => string): asserts cond {
  if (!cond) throw new InvariantError(message());
}
