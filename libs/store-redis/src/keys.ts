import { isValidToken } from '@synod/codec';

/**
 * The keys of one acceptor. The cluster name sits in a hash tag (`{...}`) so that every key
 * the persist script touches hashes to one Redis Cluster slot, which a multi-key script needs.
 */
export interface AcceptorKeys {
  /** Common prefix `synod:{<cluster>}:acceptor:<id>:`; nothing else of Synod lives under it. */
  readonly prefix: string;
  /** String: JSON ballot `{round, proposer, incarnation}`, the highest promise. */
  readonly promised: string;
  /** Hash: decimal slot -> JSON `{ballot, value}`, the entry accepted there. */
  readonly accepted: string;
  /** String: JSON incarnation marker `{cluster, acceptor, createdAt, version}`. */
  readonly marker: string;
  /** String: decimal compaction floor; votes below it were dropped (absent: 0). */
  readonly floor: string;
  /**
   * String: decimal write counter, raised by one by every persist (absent: 0). A store that
   * finds it below the value of its own last acknowledged write knows that Redis lost
   * acknowledged writes (a truncated or damaged AOF): docs/decisions/012-write-counter.md.
   */
  readonly writes: string;
}

/** The keys of one learner (same hash-tag rule as {@link AcceptorKeys}). */
export interface LearnerKeys {
  /** Common prefix `synod:{<cluster>}:learner:<id>:`. */
  readonly prefix: string;
  /** Hash: decimal slot -> JSON value decided there. */
  readonly log: string;
  /** String: decimal first undelivered slot (every slot below it was delivered). */
  readonly next: string;
}

/** The key layout of acceptor `acceptor` of `cluster`; both must be tokens. */
export function acceptorKeys(cluster: string, acceptor: string): AcceptorKeys {
  const prefix = `${keyPrefix(cluster)}acceptor:${checkId(acceptor, 'acceptor id')}:`;
  return {
    prefix,
    promised: `${prefix}promised`,
    accepted: `${prefix}accepted`,
    marker: `${prefix}marker`,
    floor: `${prefix}floor`,
    writes: `${prefix}writes`,
  };
}

/** The key layout of learner `learner` of `cluster`; both must be tokens. */
export function learnerKeys(cluster: string, learner: string): LearnerKeys {
  const prefix = `${keyPrefix(cluster)}learner:${checkId(learner, 'learner id')}:`;
  return { prefix, log: `${prefix}log`, next: `${prefix}next` };
}

function keyPrefix(cluster: string): string {
  return `synod:{${checkId(cluster, 'cluster name')}}:`;
}

/**
 * Tokens only: no `{`, `}` (which would move the hash tag), no glob characters (the prefix is
 * used as a SCAN pattern), no `:`. A bad id is a configuration error, thrown at construction.
 */
function checkId(s: string, what: string): string {
  if (!isValidToken(s)) throw new RangeError(`${what} must be 1 to 64 of [A-Za-z0-9_-]: ${s}`);
  return s;
}
