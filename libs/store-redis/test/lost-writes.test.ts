import { appendFileSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import {
  acceptorKeys,
  readmitAcceptor,
  type RedisAcceptorStore,
  StoreErrorCode,
} from '../src/index.js';
import {
  acceptorStores, ballot, cmds, entry, freshCluster, storeError, withAdmin,
} from './helpers.js';
import { type RedisServer, startRedis, stopAllRedis } from './redis-server.js';

/**
 * T3, truncated AOF: a Redis that comes back from its append-only file without some writes it
 * had acknowledged (the file cut at a command boundary: disk, filesystem or operator damage)
 * loads an older state without a sign. The acceptor's write counter must notice: the store
 * that saw those writes acknowledged refuses to write on top of the older state, and says so.
 */

/** Stores for acceptor `a2` of fresh clusters, closed after all tests. */
const { store, closeAll } = acceptorStores();

afterAll(async () => {
  await closeAll();
  await stopAllRedis();
});

/** Votes written before the kill, and how many of them the damaged file keeps. */
const VOTES = 6;
const KEPT = 4;

/**
 * The file Redis 7 appends to: the `type i` (incremental) entry of the multi-part AOF's
 * manifest under `appendonlydir/`, the last one when there are several.
 */
function incrAof(redis: RedisServer): string {
  const dir = join(redis.dir, 'appendonlydir');
  const manifest = readFileSync(join(dir, 'appendonly.aof.manifest'), 'utf8');
  const files = [...manifest.matchAll(/^file (\S+) seq \d+ type i$/gm)].map((m) => m[1]);
  const last = files[files.length - 1];
  if (last === undefined) throw new Error(`no incr file in the AOF manifest:\n${manifest}`);
  return join(dir, last);
}

/** The raw Redis view of acceptor a2: write counter, promise JSON, number of votes. */
async function raw(url: string, cluster: string):
  Promise<{ writes: string | null; promised: string | null; votes: number }> {
  const k = acceptorKeys(cluster, 'a2');
  return withAdmin(url, async (r) => ({
    writes: await r.get(`${k.prefix}writes`),
    promised: await r.get(k.promised),
    votes: await r.hlen(k.accepted),
  }));
}

interface Voted {
  readonly redis: RedisServer;
  readonly cluster: string;
  readonly s: RedisAcceptorStore;
  readonly aof: string;
  /** Size of the incr file after each acknowledged persist (index i: after vote i). */
  readonly sizes: readonly number[];
}

/**
 * Acceptor a2 on its own Redis persists {@link VOTES} votes (vote i: promise and entry at slot
 * i, ballot i + 1), recording the AOF's size after each acknowledgement (under `appendfsync
 * always` the write is in the file before the reply); then Redis is killed with SIGKILL.
 */
async function voteThenKill(): Promise<Voted> {
  const redis = await startRedis();
  const cluster = freshCluster();
  const s = store(redis.url, { cluster, init: true, commandTimeoutMs: 5000 });
  await s.load();
  const aof = incrAof(redis);
  const sizes: number[] = [];
  for (let i = 0; i < VOTES; i++) {
    const b = ballot(i + 1);
    await s.persist({ promised: b, accepted: [entry(i, b, cmds(`v${i}`))] });
    sizes.push(statSync(aof).size);
  }
  await redis.stop('SIGKILL');
  return { redis, cluster, s, aof, sizes };
}

describe('RedisAcceptorStore: acknowledged writes lost from the AOF (LOST_WRITES)', () => {
  test('AOF cut at a command boundary, losing the last 2 acknowledged votes: persist refuses ' +
    'LOST_WRITES and writes nothing; verifyMarker and load() of the same store refuse too',
    async () => {
      const v = await voteThenKill();
      truncateSync(v.aof, v.sizes[KEPT - 1]);
      await v.redis.start();
      // Redis loaded the older state without a sign: what the guard is for.
      const before = await raw(v.redis.url, v.cluster);
      expect(before).toEqual({
        writes: String(KEPT), promised: JSON.stringify(ballot(KEPT)), votes: KEPT,
      });
      const e = await storeError(v.s.persist({
        promised: ballot(VOTES + 1), accepted: [entry(VOTES, ballot(VOTES + 1), cmds('late'))],
      }));
      expect(e.code).toBe(StoreErrorCode.LostWrites);
      expect(e.message).toContain(`write counter ${KEPT}`);
      expect(e.message).toContain(`last acknowledged write was ${VOTES}`);
      expect(e.message).toContain(v.redis.url);
      expect(e.message).toMatch(/truncated or damaged AOF/);
      expect(e.message).toContain('nothing was written');
      expect(e.message).toContain('docs/operations.md#lost-writes');
      expect(await raw(v.redis.url, v.cluster)).toEqual(before);
      // A promise alone (no entry) is refused the same way: no write is small enough.
      const e2 = await storeError(v.s.persist({ promised: ballot(VOTES + 2), accepted: [] }));
      expect(e2.code).toBe(StoreErrorCode.LostWrites);
      expect(await raw(v.redis.url, v.cluster)).toEqual(before);
      const idle = await storeError(v.s.verifyMarker());
      expect(idle.code).toBe(StoreErrorCode.LostWrites);
      expect(idle.message).toContain(`write counter ${KEPT}`);
      const again = await storeError(v.s.load());
      expect(again.code).toBe(StoreErrorCode.LostWrites);
      expect(await raw(v.redis.url, v.cluster)).toEqual(before);
    });

  test('AOF cut in the middle of the last acknowledged vote (Redis loads the prefix): ' +
    'LOST_WRITES', async () => {
    const v = await voteThenKill();
    const last = v.sizes[VOTES - 1] as number;
    const prev = v.sizes[VOTES - 2] as number;
    truncateSync(v.aof, prev + Math.floor((last - prev) / 2));
    await v.redis.start();
    expect((await raw(v.redis.url, v.cluster)).writes).toBe(String(VOTES - 1));
    const e = await storeError(v.s.persist({ promised: ballot(VOTES + 1), accepted: [] }));
    expect(e.code).toBe(StoreErrorCode.LostWrites);
    expect((await raw(v.redis.url, v.cluster)).writes).toBe(String(VOTES - 1));
  });

  test('idle acceptor: verifyMarker notices the lost writes without any persist', async () => {
    const v = await voteThenKill();
    truncateSync(v.aof, v.sizes[0]);
    await v.redis.start();
    const e = await storeError(v.s.verifyMarker());
    expect(e.code).toBe(StoreErrorCode.LostWrites);
    expect(e.message).toContain('write counter 1');
    expect(e.message).toContain(`last acknowledged write was ${VOTES}`);
  });

  test('what cannot be detected: a store that never saw the lost writes (the acceptor ' +
    'restarted as well) loads the older state', async () => {
    const v = await voteThenKill();
    truncateSync(v.aof, v.sizes[KEPT - 1]);
    await v.redis.start();
    const fresh = store(v.redis.url, { cluster: v.cluster });
    expect((await fresh.load()).promised).toEqual(ballot(KEPT));
    await fresh.persist({ promised: ballot(KEPT + 1), accepted: [] });
    expect((await raw(v.redis.url, v.cluster)).writes).toBe(String(KEPT + 1));
  });

  test('readmission is the way back: the emptied keyspace is refilled from a majority, and ' +
    'the same store loads the new marker and votes again', async () => {
    const v = await voteThenKill();
    truncateSync(v.aof, v.sizes[KEPT - 1]);
    await v.redis.start();
    expect((await storeError(v.s.load())).code).toBe(StoreErrorCode.LostWrites);
    for (const id of ['a1', 'a3']) {
      const peer = store(v.redis.url, { cluster: v.cluster, acceptorId: id, init: true });
      await peer.load();
      await peer.persist({
        promised: ballot(VOTES), accepted: [entry(VOTES - 1, ballot(VOTES), cmds('v5'))],
      });
    }
    const k = acceptorKeys(v.cluster, 'a2');
    // The operator's step before readmitting: delete the damaged keyspace.
    await withAdmin(v.redis.url, async (r) => r.del(...await r.keys(`${k.prefix}*`)));
    await readmitAcceptor({
      cluster: v.cluster, acceptors: 3, target: { id: 'a2', url: v.redis.url },
      peers: [{ id: 'a1', url: v.redis.url }, { id: 'a3', url: v.redis.url }],
    });
    expect((await raw(v.redis.url, v.cluster)).writes).toBe('0');
    expect((await v.s.load()).promised).toEqual(ballot(VOTES));
    await v.s.verifyMarker();
    await v.s.persist({ promised: ballot(VOTES + 1), accepted: [] });
    expect((await raw(v.redis.url, v.cluster)).writes).toBe('1');
  });
});

describe('RedisAcceptorStore: restarts that lose no acknowledged write keep voting', () => {
  test('kill -9 and restart on the intact AOF: persist and verifyMarker pass', async () => {
    const v = await voteThenKill();
    await v.redis.start();
    await v.s.verifyMarker();
    await v.s.persist({ promised: ballot(VOTES + 1), accepted: [] });
    expect((await raw(v.redis.url, v.cluster)).writes).toBe(String(VOTES + 1));
    expect(await v.s.load()).toMatchObject({ promised: ballot(VOTES + 1) });
  });

  test('torn tail (a partial, never acknowledged command after the last vote): Redis loads ' +
    'the prefix (aof-load-truncated yes) and the acceptor keeps voting', async () => {
    const v = await voteThenKill();
    appendFileSync(v.aof, '*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$10\r\npart');
    await v.redis.start();
    expect(statSync(v.aof).size).toBe(v.sizes[VOTES - 1]);
    await v.s.verifyMarker();
    await v.s.persist({ promised: ballot(VOTES + 1), accepted: [] });
    expect((await raw(v.redis.url, v.cluster)).writes).toBe(String(VOTES + 1));
  });
});

describe('RedisAcceptorStore: a write counter above the expected one', () => {
  test('writes this store never saw acknowledged (another writer): persist is REFUSED and ' +
    'writes nothing; verifyMarker passes (a persist may be in flight)', async () => {
    const redis = await startRedis();
    const cluster = freshCluster();
    const s = store(redis.url, { cluster, init: true });
    await s.load();
    await s.persist({ promised: ballot(1), accepted: [] });
    const k = acceptorKeys(cluster, 'a2');
    await withAdmin(redis.url, (r) => r.set(`${k.prefix}writes`, '5'));
    const before = await raw(redis.url, cluster);
    const e = await storeError(s.persist({ promised: ballot(2), accepted: [] }));
    expect(e.code).toBe(StoreErrorCode.Refused);
    expect(e.message).toContain('write counter 5');
    expect(e.message).toContain('nothing was written');
    expect(await raw(redis.url, cluster)).toEqual(before);
    await s.verifyMarker();
    // Loaded again, the store takes the counter it finds and writes on.
    await s.load();
    await s.persist({ promised: ballot(2), accepted: [] });
    expect((await raw(redis.url, cluster)).writes).toBe('6');
  });

  test('a corrupt write counter: CORRUPT naming the key, nothing written', async () => {
    const redis = await startRedis();
    const cluster = freshCluster();
    const s = store(redis.url, { cluster, init: true });
    await s.load();
    const k = acceptorKeys(cluster, 'a2');
    await withAdmin(redis.url, (r) => r.set(`${k.prefix}writes`, 'x'));
    const e = await storeError(s.persist({ promised: ballot(1), accepted: [] }));
    expect(e.code).toBe(StoreErrorCode.Corrupt);
    expect(e.message).toContain(`${k.prefix}writes`);
    expect((await raw(redis.url, cluster)).promised).toBeNull();
    const l = await storeError(store(redis.url, { cluster }).load());
    expect(l.code).toBe(StoreErrorCode.Corrupt);
    expect(l.message).toContain(`${k.prefix}writes`);
  });
});
