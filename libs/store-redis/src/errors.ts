/**
 * Why a Redis store refused to load or to persist. Each code is an operating error the app
 * reports and acts on (usually: stop voting, exit non-zero, tell the operator what to fix).
 */
export const StoreErrorCode = {
  /** Redis does not run with `appendonly yes` and `appendfsync always`, or cannot tell. */
  NotDurable: 'NOT_DURABLE',
  /** The incarnation marker is missing: Redis was wiped or replaced; the acceptor forgot. */
  Amnesia: 'AMNESIA',
  /** The marker belongs to another cluster or node: wrong Redis, database or configuration. */
  WrongKeyspace: 'WRONG_KEYSPACE',
  /**
   * Redis holds fewer writes than this acceptor saw acknowledged (its write counter is below
   * the store's last acknowledged write): Redis came back from a truncated or damaged AOF, or
   * an older copy, and forgot votes the acceptor had told others about.
   */
  LostWrites: 'LOST_WRITES',
  /** A stored record does not parse strictly; the message names the key (and field). */
  Corrupt: 'CORRUPT',
  /** Redis did not answer in time or could not be reached. */
  Unavailable: 'UNAVAILABLE',
  /**
   * Redis answered but refused the write: the script would have lowered the promise, put an
   * accepted ballot above the promise, or changed a decided slot; the acceptor's write counter
   * is above the one its store expects (a write it never saw acknowledged); or ACL, OOM,
   * READONLY.
   */
  Refused: 'REFUSED',
} as const;
/** One of {@link StoreErrorCode}'s values. */
export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];

/** The typed error of `@synod/store-redis`: a stable `code`, a message that says what to do. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  /** Stable code, one of {@link StoreErrorCode}. */
  readonly code: StoreErrorCode;

  /** Builds an error; `cause` is the underlying driver or parser error, when there is one. */
  constructor(code: StoreErrorCode, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
  }
}
