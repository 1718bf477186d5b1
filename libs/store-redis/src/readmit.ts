import { resolveLimits } from '@synod/codec';
import {
  type AcceptedEntry,
  type AcceptorDurableState,
  type Ballot,
  compareBallots,
  compareMaybeBallots,
  quorumSize,
} from '@synod/protocol';
import { RedisAcceptorStore } from './acceptor-store.js';
import { RedisLink } from './connection.js';
import { StoreError, StoreErrorCode } from './errors.js';
import { acceptorKeys } from './keys.js';
import { encodeBallot, encodeEntry, encodeMarker, MARKER_VERSION } from './records.js';

/** One acceptor's Redis, for {@link readmitAcceptor}. */
export interface AcceptorRedis {
  readonly id: string;
  readonly url: string;
}

/** What {@link readmitAcceptor} needs. */
export interface ReadmitOptions {
  readonly cluster: string;
  /** The acceptor that lost its memory, and its (empty) Redis. */
  readonly target: AcceptorRedis;
  /** The other acceptors of the configuration (at least a majority of all must answer). */
  readonly peers: readonly AcceptorRedis[];
  /**
   * Size of the whole acceptor set, the target included: at least the target plus the peers
   * given (a smaller one is refused, since a majority of it need not be one of the cluster).
   */
  readonly acceptors: number;
  /**
   * The target joins the set (growing it, docs/deploy.md): `acceptors` is then the size of the
   * set it joins, which does not include it, and the peers must be every member of that set.
   */
  readonly joining?: boolean;
  readonly commandTimeoutMs?: number;
}

/** What a readmission restored. */
export interface ReadmitResult {
  readonly promised: Ballot | null;
  readonly entries: number;
  /** The peers whose state was merged. */
  readonly from: readonly string[];
}

/**
 * The merge: the highest promise, per slot the highest-ballot entry, and the highest
 * compaction floor (every slot below any peer's floor is decided and held by the learners).
 */
export function mergeStates(states: readonly AcceptorDurableState[]): AcceptorDurableState {
  let promised: Ballot | null = null;
  const bySlot = new Map<number, AcceptedEntry>();
  let floor = 0;
  for (const s of states) floor = Math.max(floor, s.floor ?? 0);
  for (const s of states) {
    if (compareMaybeBallots(s.promised, promised) > 0) promised = s.promised;
    for (const e of s.accepted) {
      if (e.slot < floor) continue;
      const prev = bySlot.get(e.slot);
      if (prev === undefined || compareBallots(e.ballot, prev.ballot) > 0) bySlot.set(e.slot, e);
    }
  }
  const accepted = [...bySlot.values()].sort((a, b) => a.slot - b.slot);
  return floor > 0 ? { promised, accepted, floor } : { promised, accepted };
}

/**
 * Re-admits an acceptor whose Redis lost its state (see docs/operations.md#readmit).
 *
 * It reads a majority `q` of the OTHER acceptors and gives the target the highest promise and,
 * per slot, the highest-ballot entry among them, with a new incarnation marker, in one
 * MULTI/EXEC. Why that is safe: any quorum that counted the target's lost promise or vote has
 * q - 1 other members, and q + (q - 1) > n - 1, so the q peers read include one of them; since
 * promises and accepted ballots only grow, the merged state is at least what the target had
 * told anyone. Run it while the target does not vote (it refuses to, without a marker).
 */
export async function readmitAcceptor(o: ReadmitOptions): Promise<ReadmitResult> {
  checkReadmitSet(o);
  const q = quorumSize(o.acceptors);
  const states: AcceptorDurableState[] = [];
  const from: string[] = [];
  const failures: string[] = [];
  for (const p of o.peers) {
    const store = new RedisAcceptorStore({
      url: p.url, cluster: o.cluster, acceptorId: p.id,
      ...(o.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: o.commandTimeoutMs }),
    });
    try {
      states.push(await store.load());
      from.push(p.id);
    } catch (e) {
      failures.push(`${p.id}: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      await store.close();
    }
  }
  if (states.length < q) {
    const read = states.length === 0 ? 'read none' : `read ${states.length} (${from.join(', ')})`;
    const unread = failures.length === 0 ? '' : `; could not read ${failures.join('; ')}`;
    throw new StoreError(StoreErrorCode.Unavailable, `readmission of ${o.target.id} needs ` +
      `the state of ${q} other acceptors (a majority of ${o.acceptors}); ${read}${unread}`);
  }
  const merged = mergeStates(states);
  await writeFresh(o, merged);
  return { promised: merged.promised, entries: merged.accepted.length, from };
}

/**
 * Throws a RangeError unless the peers are distinct acceptors other than the target and
 * `acceptors` counts at least the target and every peer (exactly the peers, when `joining`):
 * the majority read is a majority of `acceptors`, so a size below the acceptors named (or a
 * peer counted twice) could make a minority of the real cluster pass for a majority, and miss
 * a vote the target gave.
 */
export function checkReadmitSet(
  o: Pick<ReadmitOptions, 'target' | 'peers' | 'acceptors' | 'joining'>,
): void {
  const ids = new Set<string>();
  for (const p of o.peers) {
    if (p.id === o.target.id) {
      throw new RangeError(`peers must not include the target ${o.target.id}`);
    }
    if (ids.has(p.id)) throw new RangeError(`peer ${p.id} is given twice`);
    ids.add(p.id);
  }
  if (o.joining === true) {
    if (o.acceptors !== o.peers.length) {
      throw new RangeError(`${o.target.id} joins a set of ${String(o.acceptors)} acceptors, ` +
        `but ${o.peers.length} peers are given: a joining acceptor is readmitted from every ` +
        'member of the set it joins');
    }
    return;
  }
  const named = o.peers.length + 1;
  if (!Number.isSafeInteger(o.acceptors) || o.acceptors < named) {
    throw new RangeError(`the acceptor set has ${String(o.acceptors)} acceptors, fewer than ` +
      `the ${named} named (the target ${o.target.id} and ${o.peers.length} peers): it must ` +
      'be the size of the whole set, so that the peers read are a majority of the cluster');
  }
}

/**
 * Writes the merged state, a new marker and a write counter of 0 into the target's empty
 * keyspace, atomically.
 */
async function writeFresh(o: ReadmitOptions, s: AcceptorDurableState): Promise<void> {
  const keys = acceptorKeys(o.cluster, o.target.id);
  const lim = resolveLimits();
  const link = new RedisLink(o.target.url, o.commandTimeoutMs, `synod-readmit-${o.target.id}`);
  try {
    await link.connect();
    await link.checkDurable();
    const [cursor, found] = await link.call('SCAN', (r) =>
      r.scan('0', 'MATCH', `${keys.prefix}*`, 'COUNT', 1000));
    if (found.length > 0 || cursor !== '0') {
      throw new StoreError(StoreErrorCode.Refused, `acceptor ${o.target.id}'s keyspace at ` +
        `${link.where} is not empty (${found[0] ?? 'more keys'}): it has its memory or a part ` +
        'of it; readmission only fills an empty keyspace (see docs/operations.md#readmit)');
    }
    const marker = encodeMarker({
      cluster: o.cluster, acceptor: o.target.id, createdAt: new Date().toISOString(),
      version: MARKER_VERSION,
    });
    await link.call('MULTI readmit', async (r) => {
      const m = r.multi();
      if (s.promised !== null) m.set(keys.promised, encodeBallot(s.promised, lim));
      for (const e of s.accepted) m.hset(keys.accepted, String(e.slot), encodeEntry(e, lim));
      if ((s.floor ?? 0) > 0) m.set(keys.floor, String(s.floor));
      // A new marker starts a new write count (the acceptor's store, on loading the new
      // marker, takes the count it finds instead of comparing it with the old one).
      m.set(keys.writes, '0');
      m.set(keys.marker, marker);
      const res = await m.exec();
      const err = res?.find(([e]) => e !== null);
      if (res === null || err !== undefined) throw err?.[0] ?? new Error('transaction aborted');
    });
  } finally {
    await link.close();
  }
}
