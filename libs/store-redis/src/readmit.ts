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
  /** Size of the acceptor set, the target included. */
  readonly acceptors: number;
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
  const q = quorumSize(o.acceptors);
  if (o.peers.some((p) => p.id === o.target.id)) {
    throw new RangeError(`peers must not include the target ${o.target.id}`);
  }
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
    throw new StoreError(StoreErrorCode.Unavailable, `readmission of ${o.target.id} needs ` +
      `the state of ${q} other acceptors (a majority of ${o.acceptors}); got ${states.length}: ` +
      failures.join('; '));
  }
  const merged = mergeStates(states);
  await writeFresh(o, merged);
  return { promised: merged.promised, entries: merged.accepted.length, from };
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
