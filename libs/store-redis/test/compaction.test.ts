import { type AcceptedEntry, type AcceptorDurableState, NOOP } from '@synod/protocol';
import {
  acceptorKeys,
  mergeStates,
  readmitAcceptor,
  RedisAcceptorStore,
  redisAclUser,
  StoreErrorCode,
} from '../src/index.js';
import { resolveLimits } from '@synod/codec';
import { encodeEntry } from '../src/records.js';
import {
  acceptorStores, ballot, cmds, entry, freshCluster, storeError, withAdmin,
} from './helpers.js';
import { type RedisServer, startRedis, stopAllRedis } from './redis-server.js';

/**
 * Log compaction in the acceptor's Redis: the persist script HDELs the dropped votes and
 * raises the `floor` key in the same atomic step; load() and readmission honour the floor.
 */

/** Stores for acceptor `a2` of fresh clusters, closed after all tests. */
const { store, closeAll } = acceptorStores();

/** Entries at `slots`, all at ballot `b` (round 1 unless given). */
function entries(slots: readonly number[], round = 1, proposer = 'p1'): AcceptedEntry[] {
  const b = ballot(round, proposer);
  return slots.map((s) => entry(s, b, s % 4 === 0 ? NOOP : cmds(`v${s}`)));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

/** The raw Redis view of an acceptor: hash fields (sorted numerically) and the floor key. */
async function raw(url: string, cluster: string, id = 'a2'):
  Promise<{ fields: number[]; floor: string | null }> {
  const k = acceptorKeys(cluster, id);
  return withAdmin(url, async (r) => ({
    fields: (await r.hkeys(k.accepted)).map(Number).sort((a, b) => a - b),
    floor: await r.get(k.floor),
  }));
}

afterAll(async () => {
  await closeAll();
  await stopAllRedis();
});

describe('RedisAcceptorStore: log compaction', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });

  test('persist with compact deletes exactly the dropped fields and sets the floor',
    async () => {
      const cluster = freshCluster();
      const s = store(redis.url, { cluster, init: true });
      await s.load();
      await s.persist({ promised: ballot(1), accepted: entries(range(0, 10)) });
      expect((await raw(redis.url, cluster)).fields).toEqual(range(0, 10));
      // Slot 3 is not named as dropped (say the core had no vote there): it stays in the
      // hash; the script deletes what it is told, nothing more.
      await s.persist({
        promised: null, accepted: entries([10]),
        compact: { floor: 6, dropped: [0, 1, 2, 4, 5] },
      });
      expect(await raw(redis.url, cluster)).toEqual({ fields: [3, ...range(6, 11)], floor: '6' });
      // The stray field 3 is below the floor: load() does not return it.
      expect(await store(redis.url, { cluster }).load()).toEqual({
        promised: ballot(1), accepted: entries(range(6, 11)), floor: 6,
      });
    });

  test('an entry accepted and compacted away in the same persist is written, then deleted',
    async () => {
      const cluster = freshCluster();
      const s = store(redis.url, { cluster, init: true });
      await s.load();
      await s.persist({ promised: ballot(1), accepted: entries([0, 1]) });
      await s.persist({
        promised: ballot(2), accepted: entries([2, 5], 2),
        compact: { floor: 3, dropped: [0, 1, 2] },
      });
      expect(await raw(redis.url, cluster)).toEqual({ fields: [5], floor: '3' });
    });

  test('a later compaction with a lower floor never lowers it (its drops still apply)',
    async () => {
      const cluster = freshCluster();
      const s = store(redis.url, { cluster, init: true });
      await s.load();
      await s.persist({ promised: ballot(1), accepted: entries(range(0, 20)) });
      const compact = (floor: number, dropped: number[], accepted: AcceptedEntry[] = []) =>
        s.persist({ promised: null, accepted, compact: { floor, dropped } });
      await compact(12, range(0, 12));
      expect(await raw(redis.url, cluster)).toEqual({ fields: range(12, 20), floor: '12' });
      // A stray write below the floor (e.g. by hand) and a compaction that names a lower floor.
      await withAdmin(redis.url, (r) => r.hset(acceptorKeys(cluster, 'a2').accepted, '2',
        encodeEntry(entry(2, ballot(1), NOOP), resolveLimits())));
      await compact(5, [2], entries([20]));
      expect(await raw(redis.url, cluster)).toEqual({ fields: range(12, 21), floor: '12' });
      // The same floor again is a no-op for the key; a higher one raises it.
      await compact(12, []);
      expect((await raw(redis.url, cluster)).floor).toBe('12');
      await compact(15, [12, 13, 14]);
      expect(await raw(redis.url, cluster)).toEqual({ fields: range(15, 21), floor: '15' });
      expect(await store(redis.url, { cluster }).load()).toEqual({
        promised: ballot(1), accepted: entries(range(15, 21)), floor: 15,
      });
    });

  test('a persist without compact leaves the floor and the old votes alone', async () => {
    const cluster = freshCluster();
    const s = store(redis.url, { cluster, init: true });
    await s.load();
    await s.persist({ promised: ballot(1), accepted: entries(range(0, 4)) });
    expect(await raw(redis.url, cluster)).toEqual({ fields: range(0, 4), floor: null });
    expect(await store(redis.url, { cluster }).load()).toEqual({
      promised: ballot(1), accepted: entries(range(0, 4)),
    });
  });

  test('a refused persist (promise lowered) compacts nothing', async () => {
    const cluster = freshCluster();
    const s = store(redis.url, { cluster, init: true });
    await s.load();
    await s.persist({ promised: ballot(5), accepted: entries(range(0, 6), 5) });
    const e = await storeError(s.persist({
      promised: ballot(4), accepted: [], compact: { floor: 4, dropped: range(0, 4) },
    }));
    expect(e.code).toBe(StoreErrorCode.Refused);
    expect(await raw(redis.url, cluster)).toEqual({ fields: range(0, 6), floor: null });
  });

  test('load(): the floor, and no entry below it even when strays sit in the hash',
    async () => {
      const cluster = freshCluster();
      const k = acceptorKeys(cluster, 'a2');
      const s = store(redis.url, { cluster, init: true });
      await s.load();
      await s.persist({ promised: ballot(3), accepted: entries(range(0, 300), 3) });
      // A floor set by hand above 250 fields that are still in the hash: strays below it.
      await withAdmin(redis.url, (r) => r.set(k.floor, '250'));
      const loaded = await store(redis.url, { cluster }).load();
      expect(loaded.floor).toBe(250);
      expect(loaded.accepted.map((e) => e.slot)).toEqual(range(250, 300));
      expect(loaded.promised).toEqual(ballot(3));
      // Loaded more than one HSCAN page (300 fields) and still no entry below the floor.
      expect((await raw(redis.url, cluster)).fields).toHaveLength(300);
    });

  test('load(): a corrupt floor key is CORRUPT naming the key', async () => {
    const cluster = freshCluster();
    const k = acceptorKeys(cluster, 'a2');
    await store(redis.url, { cluster, init: true }).load();
    for (const bad of ['-1', 'x', '1.5']) {
      await withAdmin(redis.url, (r) => r.set(k.floor, bad));
      const e = await storeError(store(redis.url, { cluster }).load());
      expect(e.code).toBe(StoreErrorCode.Corrupt);
      expect(e.message).toContain(k.floor);
    }
  });

  test("compaction through the acceptor's own ACL user (HDEL and the floor key allowed)",
    async () => {
      const cluster = freshCluster();
      const acl = redisAclUser({ role: 'acceptor', cluster, id: 'a2', password: 'pw1compact' });
      const tokens = acl.split(' ');
      expect(tokens.slice(0, 2)).toEqual(['user', 'acceptor-a2']);
      expect(tokens).toContain('+hdel');
      await withAdmin(redis.url, (r) => r.call('ACL', 'SETUSER', ...tokens.slice(1)));
      const url = `redis://acceptor-a2:pw1compact@127.0.0.1:${redis.port}`;
      const s = store(url, { cluster, init: true });
      await s.load();
      await s.persist({ promised: ballot(1), accepted: entries(range(0, 8)) });
      await s.persist({ promised: null, accepted: entries([8]), compact: {
        floor: 5, dropped: range(0, 5) } });
      expect(await raw(redis.url, cluster)).toEqual({ fields: range(5, 9), floor: '5' });
      expect(await store(url, { cluster }).load()).toEqual({
        promised: ballot(1), accepted: entries(range(5, 9)), floor: 5,
      });
      // The same user cannot HDEL another acceptor's votes.
      await withAdmin(url, async (r) => {
        await expect(r.hdel(acceptorKeys(cluster, 'a1').accepted, '0')).rejects.toThrow(/NOPERM/);
      });
    });
});

describe('readmission honours the compaction floor', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });

  test('mergeStates: the max floor; entries below it dropped; per slot the highest ballot',
    () => {
      const a: AcceptorDurableState = {
        promised: ballot(3), accepted: entries(range(0, 10), 2), floor: 0,
      };
      const b: AcceptorDurableState = {
        promised: ballot(4), accepted: entries(range(6, 12), 4), floor: 6,
      };
      const c: AcceptorDurableState = { promised: ballot(2), accepted: entries(range(3, 8), 1),
        floor: 3 };
      const m = mergeStates([a, b, c]);
      expect(m.floor).toBe(6);
      expect(m.promised).toEqual(ballot(4));
      expect(m.accepted).toEqual(entries(range(6, 12), 4));
      // Order does not matter; no floor anywhere gives no floor field.
      expect(mergeStates([c, b, a])).toEqual(m);
      expect(mergeStates([{ promised: null, accepted: entries([1]) }])).toEqual({
        promised: null, accepted: entries([1]),
      });
    });

  test('readmitAcceptor writes the max floor and only entries at or above it', async () => {
    const cluster = freshCluster();
    const acceptor = (id: string, init = true): RedisAcceptorStore =>
      store(redis.url, { cluster, acceptorId: id, init });
    // a1 compacted below 7; a3 lagged and compacted only below 2 (it still holds 2..6).
    const a1 = acceptor('a1');
    await a1.load();
    await a1.persist({ promised: ballot(2), accepted: entries(range(0, 12), 2) });
    await a1.persist({ promised: null, accepted: [], compact: { floor: 7, dropped: range(0, 7) } });
    const a3 = acceptor('a3');
    await a3.load();
    await a3.persist({ promised: ballot(2), accepted: entries(range(0, 9), 1) });
    await a3.persist({ promised: null, accepted: [], compact: { floor: 2, dropped: [0, 1] } });
    const r = await readmitAcceptor({
      cluster, acceptors: 3, target: { id: 'a2', url: redis.url },
      peers: [{ id: 'a1', url: redis.url }, { id: 'a3', url: redis.url }],
    });
    expect(r.entries).toBe(5);
    expect(await raw(redis.url, cluster, 'a2')).toEqual({ fields: range(7, 12), floor: '7' });
    expect(await acceptor('a2', false).load()).toEqual({
      promised: ballot(2), accepted: entries(range(7, 12), 2), floor: 7,
    });
  });
});
