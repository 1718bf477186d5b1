import { NOOP } from '@synod/protocol';
import type { AcceptedEntry } from '@synod/protocol';
import {
  acceptorKeys,
  MARKER_VERSION,
  type RedisAcceptorStoreOptions,
  StoreErrorCode,
} from '../src/index.js';
import {
  acceptorStores, ballot, cmds, entry, freshCluster, storeError, withAdmin,
} from './helpers.js';
import { type RedisServer, startRedis, stopAllRedis } from './redis-server.js';

/** Stores for acceptor `a2` of fresh clusters, closed after all tests. */
const { store, closeAll } = acceptorStores();

afterAll(async () => {
  await closeAll();
  await stopAllRedis();
});

describe('RedisAcceptorStore: state and the persist script', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });

  test('persist then load: promise and accepted entries round trip', async () => {
    const cluster = freshCluster();
    const s = store(redis.url, { cluster, init: true });
    expect(await s.load()).toEqual({ promised: null, accepted: [] });
    await s.persist({ promised: ballot(3), accepted: [] });
    await s.persist({
      promised: ballot(4, 'p2', 7),
      accepted: [entry(0, ballot(4, 'p2', 7), cmds('x', 'y')), entry(2, ballot(3), NOOP)],
    });
    expect(await store(redis.url, { cluster }).load()).toEqual({
      promised: ballot(4, 'p2', 7),
      accepted: [entry(0, ballot(4, 'p2', 7), cmds('x', 'y')), entry(2, ballot(3), NOOP)],
    });
  });

  test('init on an empty keyspace creates the marker', async () => {
    const cluster = freshCluster();
    const s = store(redis.url, { cluster, init: true, createdAt: '2026-01-02T03:04:05.000Z' });
    await s.load();
    const raw = await withAdmin(redis.url, (r) => r.get(acceptorKeys(cluster, 'a2').marker));
    expect(JSON.parse(raw ?? 'null')).toEqual({
      cluster, acceptor: 'a2', createdAt: '2026-01-02T03:04:05.000Z', version: MARKER_VERSION,
    });
    // A later start without init finds the marker and loads normally.
    expect(await store(redis.url, { cluster }).load()).toEqual({ promised: null, accepted: [] });
  });

  test('empty keyspace without init: AMNESIA, and nothing is created', async () => {
    const cluster = freshCluster();
    const e = await storeError(store(redis.url, { cluster }).load());
    expect(e.code).toBe(StoreErrorCode.Amnesia);
    expect(e.message).toContain("acceptor a2's Redis");
    expect(e.message).toContain('has no state and no marker');
    expect(e.message).toContain('docs/operations.md#readmit');
    const keys = await withAdmin(redis.url, (r) => r.keys(`synod:{${cluster}}:*`));
    expect(keys).toEqual([]);
  });

  test('init holds for a process\'s first load only: a Redis wiped empty during an outage is ' +
    'AMNESIA on the next load of the same store, not a new member', async () => {
    const cluster = freshCluster();
    const s = store(redis.url, { cluster, init: true });
    await s.load();
    await s.persist({ promised: ballot(9), accepted: [] });
    // Everything of the acceptor gone (FLUSHALL of its Redis, an emptied data dir).
    await withAdmin(redis.url, async (r) => {
      const keys = await r.keys(`synod:{${cluster}}:*`);
      if (keys.length > 0) await r.del(...keys);
    });
    const e = await storeError(s.load());
    expect(e.code).toBe(StoreErrorCode.Amnesia);
    expect(e.message).toContain('though this process loaded its marker before');
    const keys = await withAdmin(redis.url, (r) => r.keys(`synod:{${cluster}}:*`));
    expect(keys).toEqual([]);
  });

  test('marker missing but other keys present (partial wipe): AMNESIA even with init', async () => {
    const cluster = freshCluster();
    const s = store(redis.url, { cluster, init: true });
    await s.load();
    await s.persist({ promised: ballot(9), accepted: [] });
    await withAdmin(redis.url, (r) => r.del(s.keys.marker));
    const e = await storeError(store(redis.url, { cluster, init: true }).load());
    expect(e.code).toBe(StoreErrorCode.Amnesia);
    // It names a stray key: the promise, or the write counter the persist raised.
    expect([s.keys.promised, s.keys.writes].some((k) => e.message.includes(` has ${k} `)))
      .toBe(true);
  });

  test('marker of another acceptor or cluster: WRONG_KEYSPACE', async () => {
    const cluster = freshCluster();
    const keys = acceptorKeys(cluster, 'a2');
    const foreign = { cluster, acceptor: 'a9', createdAt: 'x', version: MARKER_VERSION };
    await withAdmin(redis.url, (r) => r.set(keys.marker, JSON.stringify(foreign)));
    const e = await storeError(store(redis.url, { cluster, init: true }).load());
    expect(e.code).toBe(StoreErrorCode.WrongKeyspace);
    expect(e.message).toContain('acceptor a9');
    const other = { ...foreign, acceptor: 'a2', cluster: 'elsewhere' };
    await withAdmin(redis.url, (r) => r.set(keys.marker, JSON.stringify(other)));
    const e2 = await storeError(store(redis.url, { cluster }).load());
    expect(e2.code).toBe(StoreErrorCode.WrongKeyspace);
  });

  test('corrupt JSON in promised: CORRUPT naming the key', async () => {
    const cluster = freshCluster();
    const s = store(redis.url, { cluster, init: true });
    await s.load();
    await s.persist({ promised: ballot(1), accepted: [] });
    for (const bad of ['{"round":1,', '{"round":-1,"proposer":"p1","incarnation":1}',
      '{"round":1,"proposer":"p1","incarnation":1,"x":0}', '[]']) {
      await withAdmin(redis.url, (r) => r.set(s.keys.promised, bad));
      const e = await storeError(store(redis.url, { cluster }).load());
      expect(e.code).toBe(StoreErrorCode.Corrupt);
      expect(e.message).toContain(`key ${s.keys.promised}`);
    }
    // The script, which reads the stored promise to compare, refuses too and writes nothing.
    await withAdmin(redis.url, (r) => r.set(s.keys.promised, 'not json'));
    const e = await storeError(s.persist({ promised: ballot(2), accepted: [] }));
    expect(e.code).toBe(StoreErrorCode.Corrupt);
    expect(await withAdmin(redis.url, (r) => r.get(s.keys.promised))).toBe('not json');
  });

  test('corrupt accepted entry: CORRUPT naming the key and the field', async () => {
    const cluster = freshCluster();
    const s = store(redis.url, { cluster, init: true });
    await s.load();
    await s.persist({ promised: ballot(1), accepted: [entry(5, ballot(1), NOOP)] });
    const good = await withAdmin(redis.url, (r) => r.hget(s.keys.accepted, '5'));
    const cases: [string, string][] = [
      ['5', '{"ballot":{"round":1,"proposer":"p1","incarnation":1}}'],
      ['5', '{"ballot":{"round":1,"proposer":"p1","incarnation":1},"value":{"kind":"x"}}'],
      ['05', good ?? ''],
      ['6', good?.replace('"round":1', '"round":2') ?? ''],
    ];
    for (const [field, raw] of cases) {
      await withAdmin(redis.url, async (r) => {
        await r.del(s.keys.accepted);
        await r.hset(s.keys.accepted, field, raw);
      });
      const e = await storeError(store(redis.url, { cluster }).load());
      expect(e.code).toBe(StoreErrorCode.Corrupt);
      expect(e.message).toContain(`key ${s.keys.accepted} field ${field}`);
    }
  });

  test('the script never lowers promised (round, then proposer bytes, then incarnation)',
    async () => {
      const s = store(redis.url, { init: true });
      await s.load();
      await s.persist({ promised: ballot(5, 'a', 3), accepted: [] });
      // 'B' (0x42) sorts below 'a' (0x61) byte-wise, though not in most locales' collation.
      for (const lower of [ballot(4, 'z', 9), ballot(5, 'B', 9), ballot(5, 'a', 2)]) {
        const e = await storeError(s.persist({
          promised: lower, accepted: [entry(1, lower, NOOP)],
        }));
        expect(e.code).toBe(StoreErrorCode.Refused);
        expect(e.message).toContain('nothing was written');
      }
      // The same promise again is fine (a retransmitted write), and so is a higher one.
      await s.persist({ promised: ballot(5, 'a', 3), accepted: [] });
      await s.persist({ promised: ballot(5, 'b', 0), accepted: [] });
      const raw = await withAdmin(redis.url, async (r) => ({
        promised: await r.get(s.keys.promised),
        accepted: await r.hlen(s.keys.accepted),
      }));
      expect(JSON.parse(raw.promised ?? 'null')).toEqual(ballot(5, 'b', 0));
      expect(raw.accepted).toBe(0);
      // Rounds and incarnations up to 2^53-1 compare exactly in Lua's doubles.
      const max = Number.MAX_SAFE_INTEGER;
      await s.persist({ promised: ballot(max, 'b', max), accepted: [] });
      for (const lower of [ballot(max - 1, 'z', max), ballot(max, 'b', max - 1)]) {
        const e = await storeError(s.persist({ promised: lower, accepted: [] }));
        expect(e.code).toBe(StoreErrorCode.Refused);
      }
    });

  test('an accepted entry is replaced by a higher ballot', async () => {
    const cluster = freshCluster();
    const s = store(redis.url, { cluster, init: true });
    await s.load();
    await s.persist({ promised: ballot(1), accepted: [entry(7, ballot(1), cmds('old'))] });
    await s.persist({ promised: ballot(2, 'p2'), accepted: [entry(7, ballot(2, 'p2'), NOOP)] });
    expect(await store(redis.url, { cluster }).load()).toEqual({
      promised: ballot(2, 'p2'), accepted: [entry(7, ballot(2, 'p2'), NOOP)],
    });
  });

  test('the script refuses an accepted entry above the promise', async () => {
    const s = store(redis.url, { init: true });
    await s.load();
    const e = await storeError(s.persist({
      promised: null, accepted: [entry(1, ballot(1), NOOP)],
    }));
    expect(e.code).toBe(StoreErrorCode.Refused);
    await s.persist({ promised: ballot(2), accepted: [] });
    const e2 = await storeError(s.persist({
      promised: ballot(3), accepted: [entry(1, ballot(4), NOOP)],
    }));
    expect(e2.code).toBe(StoreErrorCode.Refused);
    const promised = await withAdmin(redis.url, (r) => r.get(s.keys.promised));
    expect(JSON.parse(promised ?? 'null')).toEqual(ballot(2));
  });

  test('a record that would not read back is refused before it reaches Redis', async () => {
    const s = store(redis.url, { init: true });
    await s.load();
    const e = await storeError(s.persist({ promised: ballot(-1), accepted: [] }));
    expect(e.code).toBe(StoreErrorCode.Refused);
    expect(e.message).toContain('would not read back');
  });

  test('persist before load is a programmer error', async () => {
    await expect(store(redis.url).persist({ promised: ballot(1), accepted: [] }))
      .rejects.toThrow('load() must succeed before persist');
  });

  test('latency: median persist over 500 sequential calls (printed, not asserted)', async () => {
    const s = store(redis.url, { init: true });
    await s.load();
    const ms: number[] = [];
    for (let i = 0; i < 500; i++) {
      const b = ballot(i + 1);
      const t0 = performance.now();
      await s.persist({ promised: b, accepted: [entry(i, b, cmds(`v${i}`))] });
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    const at = (q: number): string => (ms[Math.floor(q * (ms.length - 1))] ?? NaN).toFixed(3);
    process.stdout.write(`store-redis: persist latency over 500 sequential calls ` +
      `(promise + 1 entry, AOF always): p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, ` +
      `p99 ${at(0.99)} ms\n`);
    expect(ms).toHaveLength(500);
  });
});

describe('RedisAcceptorStore: durability configuration', () => {
  test('appendfsync everysec: NOT_DURABLE, unless allowNonDurable', async () => {
    const redis = await startRedis({ appendfsync: 'everysec' });
    const e = await storeError(store(redis.url, { init: true }).load());
    expect(e.code).toBe(StoreErrorCode.NotDurable);
    expect(e.message).toContain(`redis at ${redis.url} has appendfsync=everysec`);
    expect(e.message).toContain('SYNOD_DEV_ALLOW_NONDURABLE=1');
    const dev = store(redis.url, { init: true, allowNonDurable: true });
    await dev.load();
    await dev.persist({ promised: ballot(1), accepted: [] });
  });

  test('appendonly no: NOT_DURABLE', async () => {
    const redis = await startRedis({ appendonly: 'no' });
    const e = await storeError(store(redis.url, { init: true }).load());
    expect(e.code).toBe(StoreErrorCode.NotDurable);
    expect(e.message).toContain('appendonly=no');
  });

  test('CONFIG denied by ACL: NOT_DURABLE saying why; a user and password from the URL',
    async () => {
      const redis = await startRedis();
      await withAdmin(redis.url, (r) =>
        r.call('ACL', 'SETUSER', 'synod', 'on', '>s3cret', '~*', '+@all', '-config'));
      const url = `redis://synod:s3cret@127.0.0.1:${redis.port}`;
      const e = await storeError(store(url, { init: true }).load());
      expect(e.code).toBe(StoreErrorCode.NotDurable);
      expect(e.message).toContain('CONFIG GET appendonly failed');
      expect(e.message).toContain('+config|get');
      expect(e.message).not.toContain('s3cret');
      await withAdmin(redis.url, (r) => r.call('ACL', 'SETUSER', 'synod', '+config|get'));
      await store(url, { init: true }).load();
    });
});

describe('RedisAcceptorStore: amnesia under a running acceptor', () => {
  test('FLUSHALL while open: the next persist rejects AMNESIA and writes nothing', async () => {
    const redis = await startRedis();
    const s = store(redis.url, { init: true });
    await s.load();
    await s.persist({ promised: ballot(1), accepted: [entry(0, ballot(1), NOOP)] });
    await withAdmin(redis.url, (r) => r.flushall());
    const e = await storeError(s.persist({
      promised: ballot(2), accepted: [entry(1, ballot(2), NOOP)],
    }));
    expect(e.code).toBe(StoreErrorCode.Amnesia);
    expect(e.message).toContain('nothing was written');
    expect(await withAdmin(redis.url, (r) => r.dbsize())).toBe(0);
  });

  test('marker re-created under a running acceptor: AMNESIA', async () => {
    const redis = await startRedis();
    const cluster = freshCluster();
    const s = store(redis.url, { cluster, init: true, createdAt: 'first' });
    await s.load();
    await withAdmin(redis.url, (r) => r.flushall());
    await store(redis.url, { cluster, init: true, createdAt: 'second' }).load();
    const e = await storeError(s.persist({ promised: ballot(2), accepted: [] }));
    expect(e.code).toBe(StoreErrorCode.Amnesia);
    expect(e.message).toContain('changed while it was running');
  });

  test('verifyMarker, writing nothing: passes while the marker is there, AMNESIA once it is ' +
    'gone or re-created, and before load it is a programmer error', async () => {
    const redis = await startRedis();
    const cluster = freshCluster();
    const s = store(redis.url, { cluster, init: true, createdAt: 'first' });
    await expect(s.verifyMarker()).rejects.toThrow(/load\(\) must succeed/);
    await s.load();
    await s.verifyMarker();
    const keys = await withAdmin(redis.url, (r) => r.dbsize());
    await s.verifyMarker();
    expect(await withAdmin(redis.url, (r) => r.dbsize())).toBe(keys);
    await withAdmin(redis.url, (r) => r.flushall());
    const gone = await storeError(s.verifyMarker());
    expect(gone.code).toBe(StoreErrorCode.Amnesia);
    expect(gone.message).toContain('vanished');
    expect(await withAdmin(redis.url, (r) => r.dbsize())).toBe(0);
    await store(redis.url, { cluster, init: true, createdAt: 'second' }).load();
    const changed = await storeError(s.verifyMarker());
    expect(changed.code).toBe(StoreErrorCode.Amnesia);
    expect(changed.message).toContain('changed while it was running');
  });
});

describe('RedisAcceptorStore: Redis restarts and outages', () => {
  test('SIGTERM and restart: state intact; the open store carries on after reconnecting',
    async () => {
      const redis = await startRedis();
      const cluster = freshCluster();
      const s = store(redis.url, { cluster, init: true });
      await s.load();
      await s.persist({ promised: ballot(2), accepted: [entry(0, ballot(2), cmds('a'))] });
      await redis.stop('SIGTERM');
      await redis.start();
      expect(await store(redis.url, { cluster }).load()).toEqual({
        promised: ballot(2), accepted: [entry(0, ballot(2), cmds('a'))],
      });
      // The restarted server has an empty script cache: EVALSHA falls back to EVAL.
      await s.persist({ promised: ballot(3), accepted: [entry(1, ballot(3), cmds('b'))] });
      expect((await store(redis.url, { cluster }).load()).accepted).toHaveLength(2);
    });

  /**
   * Persists until Redis is killed (-9) during the stream; returns the acknowledged slots and
   * what a store reads after the restart. A kill -9 is a process crash: the kernel's page cache
   * survives it, so this shows that each persist is in the append-only file before its reply
   * (the fsync setting itself is enforced by the NOT_DURABLE checks below).
   */
  async function persistThroughKill(redis: RedisServer,
    extra: Partial<RedisAcceptorStoreOptions> = {}) {
    const cluster = freshCluster();
    const s = store(redis.url, { cluster, init: true, commandTimeoutMs: 300, ...extra });
    await s.load();
    const acked: number[] = [];
    let killed: Promise<void> | null = null;
    for (let i = 0; i < 10_000; i++) {
      if (i === 150) killed = redis.stop('SIGKILL');
      try {
        await s.persist({ promised: ballot(i + 1), accepted: [entry(i, ballot(i + 1), NOOP)] });
        acked.push(i);
      } catch (e) {
        expect((e as { code?: string }).code).toBe(StoreErrorCode.Unavailable);
        break;
      }
    }
    await killed;
    // The kill landed mid-stream: some persists were acknowledged, and the stream then failed.
    expect(acked.length).toBeGreaterThanOrEqual(150);
    expect(acked.length).toBeLessThan(10_000);
    await redis.start();
    await s.close();
    const state = await store(redis.url, { cluster, ...extra }).load()
      .catch(() => ({ promised: null, accepted: [] as AcceptedEntry[] }));
    return { acked, state };
  }

  test('kill -9 of Redis mid-stream (a process crash): every acknowledged persist survives',
    async () => {
    const redis = await startRedis();
    const { acked, state } = await persistThroughKill(redis);
    const slots = new Set(state.accepted.map((e) => e.slot));
    for (const i of acked) expect(slots.has(i)).toBe(true);
    const last = acked[acked.length - 1] ?? 0;
    expect(state.promised?.round).toBeGreaterThanOrEqual(last + 1);
  });

  test('the same kill with no append-only file loses acknowledged persists (the test above ' +
    'can fail)', async () => {
    const redis = await startRedis({ appendonly: 'no', appendfsync: 'no' });
    const { acked, state } = await persistThroughKill(redis, { allowNonDurable: true });
    const slots = new Set(state.accepted.map((e) => e.slot));
    expect(acked.filter((i) => !slots.has(i)).length).toBeGreaterThan(0);
  });

  test('Redis restarted without appendfsync always: the open store refuses NOT_DURABLE',
    async () => {
      const redis = await startRedis();
      const s = store(redis.url, { init: true });
      await s.load();
      await redis.stop('SIGTERM');
      await redis.start(['--appendfsync', 'everysec']);
      const e = await storeError(s.persist({ promised: ballot(1), accepted: [] }));
      expect(e.code).toBe(StoreErrorCode.NotDurable);
    });

  test('Redis down: persist rejects UNAVAILABLE within commandTimeoutMs', async () => {
    const redis = await startRedis();
    const s = store(redis.url, { init: true, commandTimeoutMs: 500 });
    await s.load();
    await redis.stop('SIGKILL');
    const t0 = performance.now();
    const e = await storeError(s.persist({ promised: ballot(1), accepted: [] }));
    const elapsed = performance.now() - t0;
    expect(e.code).toBe(StoreErrorCode.Unavailable);
    expect(e.message).toContain(redis.url);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(1500);
    await s.close();
  });

  test('no Redis at the URL: load rejects UNAVAILABLE naming the URL', async () => {
    const redis = await startRedis();
    await redis.stop('SIGKILL');
    const e = await storeError(store(redis.url, { init: true, commandTimeoutMs: 500 }).load());
    expect(e.code).toBe(StoreErrorCode.Unavailable);
    expect(e.message).toContain(`redis at ${redis.url}`);
  });
});
