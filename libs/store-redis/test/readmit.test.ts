import { acceptorKeys, checkReadmitSet, readmitAcceptor, StoreErrorCode } from '../src/index.js';
import { acceptorStores, ballot, freshCluster, storeError, withAdmin } from './helpers.js';
import { type RedisServer, startRedis, stopAllRedis } from './redis-server.js';

/**
 * readmitAcceptor's majority is a majority of `acceptors`: the peers read must be a majority
 * of the whole cluster, whatever size it is told. A size below the acceptors named, or a peer
 * counted twice, would let a minority pass (a 3-acceptor cluster readmitting a2 from a1 alone
 * with `acceptors: 1`), missing a vote a2 gave: refused before any Redis is touched.
 */
const { store, closeAll } = acceptorStores();
let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await closeAll();
  await stopAllRedis();
});

/** Acceptors `ids` of `cluster`, each with a marker and promise `round`, in the one Redis. */
async function peersWith(cluster: string, ids: string[], round: number): Promise<void> {
  for (const id of ids) {
    const s = store(redis.url, { cluster, acceptorId: id, init: true });
    await s.load();
    await s.persist({ promised: ballot(round), accepted: [] });
  }
}

const at = (id: string): { id: string; url: string } => ({ id, url: 'redis://127.0.0.1:1' });

describe('readmitAcceptor: the peers must be a majority of the whole acceptor set', () => {
  test.each([
    ['one peer, acceptors 1', 1, [at('a1')], /fewer than the 2 named/],
    ['two peers, acceptors 2', 2, [at('a1'), at('a3')], /fewer than the 3 named/],
    ['acceptors 0', 0, [], /has 0 acceptors, fewer than the 1 named/],
    ['acceptors 2.5', 2.5, [at('a1')], /has 2.5 acceptors/],
    ['a peer twice', 3, [at('a1'), at('a1')], /peer a1 is given twice/],
    ['the target as a peer', 3, [at('a2'), at('a1')], /must not include the target a2/],
  ])('%s: RangeError', (_what, acceptors, peers, message) => {
    const o = { target: at('a2'), peers, acceptors };
    expect(() => checkReadmitSet(o)).toThrow(RangeError);
    expect(() => checkReadmitSet(o)).toThrow(message);
  });

  test('a joining acceptor (growing the set) is read from every member of the set it joins',
    () => {
      const o = { target: at('a4'), peers: [at('a1'), at('a2'), at('a3')], joining: true };
      expect(() => checkReadmitSet({ ...o, acceptors: 3 })).not.toThrow();
      expect(() => checkReadmitSet({ ...o, acceptors: 5 })).toThrow(/joins a set of 5 acceptors/);
      expect(() => checkReadmitSet({ ...o, acceptors: 3, peers: [at('a1')] }))
        .toThrow(/but 1 peers are given/);
    });

  test('a lying size is refused before anything is read or written', async () => {
    const cluster = freshCluster();
    await peersWith(cluster, ['a1'], 7);
    await expect(readmitAcceptor({
      cluster, acceptors: 1, target: { id: 'a2', url: redis.url },
      peers: [{ id: 'a1', url: redis.url }],
    })).rejects.toThrow(/the acceptor set has 1 acceptors, fewer than the 2 named/);
    const k = acceptorKeys(cluster, 'a2');
    expect(await withAdmin(redis.url, (r) => r.keys(`${k.prefix}*`))).toEqual([]);
  });

  test('fewer peers than a majority of the others: UNAVAILABLE, saying which were read',
    async () => {
      const cluster = freshCluster();
      await peersWith(cluster, ['a1'], 7);
      const e = await storeError(readmitAcceptor({
        cluster, acceptors: 5, target: { id: 'a2', url: redis.url },
        peers: [{ id: 'a1', url: redis.url }, { id: 'a3', url: redis.url }],
      }));
      expect(e.code).toBe(StoreErrorCode.Unavailable);
      expect(e.message).toMatch(new RegExp('^readmission of a2 needs the state of 3 other ' +
        'acceptors \\(a majority of 5\\); read 1 \\(a1\\); could not read a3: .+'));
      expect(e.message).not.toMatch(/: *$/);
    });

  test('a majority of the others, all read: no stray separator in the message', async () => {
    const cluster = freshCluster();
    await peersWith(cluster, ['a1', 'a3'], 7);
    const e = await storeError(readmitAcceptor({
      cluster, acceptors: 5, target: { id: 'a2', url: redis.url },
      peers: [{ id: 'a1', url: redis.url }, { id: 'a3', url: redis.url }],
    }));
    expect(e.message).toMatch(/a majority of 5\); read 2 \(a1, a3\)$/);
    const r = await readmitAcceptor({
      cluster, acceptors: 3, target: { id: 'a2', url: redis.url },
      peers: [{ id: 'a1', url: redis.url }, { id: 'a3', url: redis.url }],
    });
    expect(r).toEqual({ promised: ballot(7), entries: 0, from: ['a1', 'a3'] });
  });
});
