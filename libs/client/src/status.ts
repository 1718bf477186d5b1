import { isValidToken } from '@synod/codec';
import { type Ballot, compareMaybeBallots } from '@synod/protocol';
import {
  type ServiceStatus,
  statusSubject,
  type Transport,
  TransportTimeoutError,
} from '@synod/runtime';

/** The order in which roles are listed: the path of a command through the cluster. */
export const ROLE_ORDER: readonly ServiceStatus['role'][] = ['proposer', 'acceptor', 'learner'];

/** What the services of a cluster said about themselves, with a summary. */
export interface ClusterStatus {
  /** One document per service that answered, sorted by role (proposer, acceptor, learner), id. */
  readonly services: readonly ServiceStatus[];
  /** The proposer whose state is `leader` (the highest ballot if several think so), or null. */
  readonly leader: string | null;
  /** Ids of the acceptors that answered. */
  readonly acceptorsAnswering: readonly string[];
  /** Ids of the acceptors that answered and say they vote (their store is durable and loaded). */
  readonly voting: readonly string[];
  /**
   * The highest slot known chosen: of what some learner has delivered (max `nextSlot` - 1) and
   * of the decided prefix some proposer knows (max `firstUnknown` - 1); null if none.
   */
  readonly lastChosenSlot: number | null;
  /** The highest slot some learner has delivered (max `nextSlot` - 1); null if none did. */
  readonly learnedUpTo: number | null;
  /** Learners that answered. */
  readonly learnersAnswering: number;
  /** Answers that were not a status document (ignored). */
  readonly malformed: number;
  /**
   * `role/id` of every service that answered more than once: distinct processes sharing one
   * node id (two clusters of one name on one NATS, or a copy started by hand), which breaks
   * the protocol's assumptions. Empty when all is well.
   */
  readonly duplicates: readonly string[];
}

const dec = new TextDecoder();

/** Parses one status answer; null unless it is an object with a known role and a valid id. */
export function parseServiceStatus(data: Uint8Array): ServiceStatus | null {
  let doc: unknown;
  try {
    doc = JSON.parse(dec.decode(data));
  } catch {
    return null;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return null;
  const o = doc as { role?: unknown; id?: unknown };
  if (!ROLE_ORDER.includes(o.role as ServiceStatus['role'])) return null;
  if (typeof o.id !== 'string' || !isValidToken(o.id)) return null;
  return doc as ServiceStatus;
}

function isBallot(x: unknown): x is Ballot {
  if (typeof x !== 'object' || x === null) return false;
  const b = x as { round?: unknown; proposer?: unknown; incarnation?: unknown };
  return typeof b.round === 'number' && typeof b.proposer === 'string' &&
    typeof b.incarnation === 'number';
}

/** Sorts answers, keeps one per (role, id), and works out the summary fields. */
export function summarizeStatus(answers: readonly ServiceStatus[], malformed = 0): ClusterStatus {
  const byKey = new Map<string, ServiceStatus>();
  const duplicates = new Set<string>();
  for (const s of answers) {
    const key = `${s.role}/${s.id}`;
    if (byKey.has(key)) duplicates.add(key);
    byKey.set(key, s);
  }
  const services = [...byKey.values()].sort((a, b) =>
    ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let leader: ServiceStatus | null = null;
  for (const s of services) {
    if (s.role !== 'proposer' || s['state'] !== 'leader') continue;
    const ballot = (x: ServiceStatus | null): Ballot | null =>
      x !== null && isBallot(x['ballot']) ? x['ballot'] : null;
    if (leader === null || compareMaybeBallots(ballot(s), ballot(leader)) > 0) leader = s;
  }
  const acceptors = services.filter((s) => s.role === 'acceptor');
  // Below a learner's nextSlot every slot is delivered, below a proposer's firstUnknown every
  // slot is known decided: the highest slot under either is chosen.
  const highestBelow = (role: ServiceStatus['role'], field: string): number | null => {
    let max: number | null = null;
    for (const s of services) {
      const next = s[field];
      if (s.role !== role || typeof next !== 'number' || !Number.isSafeInteger(next)) continue;
      if (next > 0 && (max === null || next - 1 > max)) max = next - 1;
    }
    return max;
  };
  const learnedUpTo = highestBelow('learner', 'nextSlot');
  const decidedUpTo = highestBelow('proposer', 'firstUnknown');
  const lastChosenSlot = learnedUpTo === null ? decidedUpTo
    : decidedUpTo === null ? learnedUpTo : Math.max(learnedUpTo, decidedUpTo);
  return {
    services,
    leader: leader?.id ?? null,
    acceptorsAnswering: acceptors.map((s) => s.id),
    voting: acceptors.filter((s) => s['voting'] === true).map((s) => s.id),
    lastChosenSlot,
    learnedUpTo,
    learnersAnswering: services.filter((s) => s.role === 'learner').length,
    malformed,
    duplicates: [...duplicates].sort(),
  };
}

/**
 * Asks every service of the cluster for its status (scatter-gather on
 * `synod.<cluster>.status`) and collects the answers that arrive within `waitMs`.
 * Nobody answering is not an error here: the result simply lists no service.
 */
export async function gatherStatus(
  transport: Transport,
  cluster: string,
  waitMs: number,
  maxReplies?: number,
): Promise<ClusterStatus> {
  let replies;
  try {
    replies = await transport.requestMany(statusSubject(cluster), new Uint8Array(0),
      maxReplies === undefined ? { maxWaitMs: waitMs } : { maxWaitMs: waitMs, maxReplies });
  } catch (e) {
    if (e instanceof TransportTimeoutError) return summarizeStatus([]);
    throw e;
  }
  const answers: ServiceStatus[] = [];
  let malformed = 0;
  for (const r of replies) {
    const s = parseServiceStatus(r.data);
    if (s === null) malformed++;
    else answers.push(s);
  }
  return summarizeStatus(answers, malformed);
}
