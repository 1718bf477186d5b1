import { type Decision, NOOP } from '@synod/protocol';
import {
  learnerKeys,
  RedisLearnerStore,
  type RedisLearnerStoreOptions,
  StoreErrorCode,
} from '../src/index.js';
import { cmds, freshCluster, storeError, withAdmin } from './helpers.js';
import { type RedisServer, startRedis, stopAllRedis } from './redis-server.js';

const open: RedisLearnerStore[] = [];

/** A store for learner `l1` of a fresh cluster (unless given), closed after all tests. */
function store(url: string, over: Partial<RedisLearnerStoreOptions> = {}): RedisLearnerStore {
  const s = new RedisLearnerStore({ url, cluster: freshCluster(), learnerId: 'l1', ...over });
  open.push(s);
  return s;
}

function decision(slot: number): Decision {
  return { slot, value: slot % 3 === 0 ? NOOP : cmds(`v${slot}`) };
}

afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
  await stopAllRedis();
});

describe('RedisLearnerStore', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });

  test('an empty keyspace loads as slot 0 with no decisions', async () => {
    expect(await store(redis.url).load()).toEqual({ nextSlot: 0, decisions: [] });
  });

  test('persist, load and read round trip', async () => {
    const cluster = freshCluster();
    const s = store(redis.url, { cluster });
    await s.load();
    await s.persist([decision(0), decision(1), decision(2)], 3);
    await s.persist([decision(5), decision(4)], 3);
    expect(await store(redis.url, { cluster }).load()).toEqual({
      nextSlot: 3, decisions: [decision(4), decision(5)],
    });
    expect(await s.read(0, 10)).toEqual([0, 1, 2, 4, 5].map(decision));
    expect(await s.read(2, 4)).toEqual([decision(2), decision(4)]);
    expect(await s.read(7, 9)).toEqual([]);
    expect(await s.read(5, 4)).toEqual([]);
  });

  test('the delivery point only moves forward', async () => {
    const cluster = freshCluster();
    const s = store(redis.url, { cluster });
    await s.persist([decision(0), decision(1)], 2);
    await s.persist([], 1);
    expect((await store(redis.url, { cluster }).load()).nextSlot).toBe(2);
  });

  test('a slot that holds another value is refused (REFUSED), and nothing is written',
    async () => {
      const s = store(redis.url);
      await s.persist([decision(0)], 1);
      await s.persist([decision(0)], 1);
      const e = await storeError(s.persist([decision(1), { slot: 0, value: cmds('other') }], 2));
      expect(e.code).toBe(StoreErrorCode.Refused);
      expect(e.message).toContain('slot 0');
      expect(await s.read(0, 5)).toEqual([decision(0)]);
      expect((await withAdmin(redis.url, (r) => r.get(s.keys.next)))).toBe('1');
    });

  test('read spans many HMGET chunks, and a huge range scans instead', async () => {
    const s = store(redis.url);
    const all = Array.from({ length: 2500 }, (_, i) => decision(i * 2));
    for (let i = 0; i < all.length; i += 500) await s.persist(all.slice(i, i + 500), 0);
    expect(await s.read(0, 4999)).toEqual(all);
    expect(await s.read(1001, 3001)).toEqual(all.filter((d) => d.slot >= 1001 && d.slot <= 3001));
    expect(await s.read(100, Number.MAX_SAFE_INTEGER)).toEqual(all.filter((d) => d.slot >= 100));
  });

  test('corrupt records: CORRUPT naming the key (and field)', async () => {
    const cluster = freshCluster();
    const keys = learnerKeys(cluster, 'l1');
    await withAdmin(redis.url, (r) => r.set(keys.next, '-1'));
    const e = await storeError(store(redis.url, { cluster }).load());
    expect(e.code).toBe(StoreErrorCode.Corrupt);
    expect(e.message).toContain(`key ${keys.next}`);
    await withAdmin(redis.url, async (r) => {
      await r.set(keys.next, '0');
      await r.hset(keys.log, '3', '{"kind":"cmds","cmds":[]}');
    });
    const e2 = await storeError(store(redis.url, { cluster }).read(0, 5));
    expect(e2.code).toBe(StoreErrorCode.Corrupt);
    expect(e2.message).toContain(`key ${keys.log} field 3`);
  });

  test('appendfsync everysec: NOT_DURABLE, unless allowNonDurable', async () => {
    const loose = await startRedis({ appendfsync: 'everysec' });
    const e = await storeError(store(loose.url).load());
    expect(e.code).toBe(StoreErrorCode.NotDurable);
    expect(await store(loose.url, { allowNonDurable: true }).load())
      .toEqual({ nextSlot: 0, decisions: [] });
  });

  test('usage: Redis memory in use, its maxmemory (0 when unbounded) and the slots held',
    async () => {
      const own = await startRedis();
      const s = store(own.url);
      await s.load();
      const empty = await s.usage();
      expect(empty.slots).toBe(0);
      expect(empty.maxBytes).toBe(0);
      expect(empty.usedBytes).toBeGreaterThan(100_000);
      await s.persist(Array.from({ length: 300 }, (_, i) => decision(i)), 300);
      await withAdmin(own.url, (r) => r.config('SET', 'maxmemory', '64mb'));
      const full = await s.usage();
      expect(full.slots).toBe(300);
      expect(full.maxBytes).toBe(64 * 1024 * 1024);
      expect(full.usedBytes).toBeGreaterThan(empty.usedBytes);
      // Another learner's keys in the same Redis are not this learner's log.
      expect((await store(own.url, { learnerId: 'l2' }).usage()).slots).toBe(0);
      await own.stop('SIGKILL');
      const e = await storeError(store(own.url, { commandTimeoutMs: 300 }).usage());
      expect(e.code).toBe(StoreErrorCode.Unavailable);
    });

  test('kill -9 and restart of Redis: the log and the delivery point are intact', async () => {
    const own = await startRedis();
    const cluster = freshCluster();
    const s = store(own.url, { cluster });
    await s.persist([0, 1, 2, 3].map(decision), 2);
    await own.stop('SIGKILL');
    await own.start();
    expect(await store(own.url, { cluster }).load()).toEqual({
      nextSlot: 2, decisions: [decision(2), decision(3)],
    });
    // The open store reconnects by itself and carries on.
    await s.persist([decision(4)], 5);
    expect(await s.read(0, 10)).toEqual([0, 1, 2, 3, 4].map(decision));
  });
});
