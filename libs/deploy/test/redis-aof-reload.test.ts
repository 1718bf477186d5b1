import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { fillRedisAcl, randomPassword, redisUrlWithUser } from '@synod/deploy';
import { type AcceptedEntry, type Ballot, type Decision } from '@synod/protocol';
import { readmitAcceptor, RedisAcceptorStore, RedisLearnerStore } from '@synod/store-redis';
import { type RedisServer, startRedis } from '@synod/testing';

/**
 * Durability under the ACL file Synod generates: Redis propagates the effects of a script that
 * writes more than one command wrapped in MULTI/EXEC, and when it reloads the AOF, EXEC checks
 * the queued commands against the `default` user (redis/redis#14541, fixed by redis/redis#14545
 * only in newer Redis; valkey#3983). A `default` user without those permissions made Redis
 * 7.0 drop every such block on restart: acknowledged votes were lost. Each test here writes
 * multi-command effects as the store's own user, kill -9s Redis, restarts it on the same data
 * dir, and loads everything back.
 */

const CLUSTER = 'synod';

describe('multi-command writes survive kill -9 and an AOF reload under the generated ACL', () => {
  let dir: string;
  const servers: RedisServer[] = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'synod-aof-acl-'));
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  /** A Redis holding only the generated ACL file of one store, as in production. */
  async function redisFor(role: 'acceptor' | 'learner', id: string):
    Promise<{ server: RedisServer; url: string }> {
    const password = randomPassword();
    const file = join(dir, `${role}-${id}.acl`);
    writeFileSync(file, fillRedisAcl(role, CLUSTER, id, password));
    const server = await startRedis({ aclFile: file });
    servers.push(server);
    return { server, url: redisUrlWithUser(server.url, role, id, password) };
  }

  /** kill -9, then a start on the same port and data dir: the AOF is replayed. */
  async function crashAndRestart(server: RedisServer): Promise<void> {
    await server.kill('SIGKILL');
    await server.restart();
  }

  const b = (round: number): Ballot => ({ round, proposer: 'p1', incarnation: 7 });
  const vote = (slot: number, round: number): AcceptedEntry =>
    ({ slot, ballot: b(round), value: { kind: 'noop' } });

  test('acceptor: a promise with votes, then a promise, a vote and a compaction', async () => {
    const { server, url } = await redisFor('acceptor', 'a1');
    const s1 = new RedisAcceptorStore({ url, cluster: CLUSTER, acceptorId: 'a1', init: true });
    await s1.load();
    await s1.persist({ promised: b(1), accepted: [0, 1, 2, 3, 4].map((s) => vote(s, 1)) });
    await s1.persist({ promised: b(2), accepted: [vote(5, 2)],
      compact: { floor: 3, dropped: [0, 1, 2] } });
    await s1.close();
    await crashAndRestart(server);
    const s2 = new RedisAcceptorStore({ url, cluster: CLUSTER, acceptorId: 'a1' });
    try {
      expect(await s2.load()).toEqual({
        promised: b(2), accepted: [vote(3, 1), vote(4, 1), vote(5, 2)], floor: 3,
      });
      // The write counter came back too: the next persist is accepted.
      await s2.persist({ promised: b(3), accepted: [vote(6, 3)] });
    } finally {
      await s2.close();
    }
  });

  test('learner: several decisions and the delivery point', async () => {
    const { server, url } = await redisFor('learner', 'l1');
    const decisions: Decision[] = [0, 1, 2].map((slot) => ({ slot, value: { kind: 'noop' } }));
    const s1 = new RedisLearnerStore({ url, cluster: CLUSTER, learnerId: 'l1' });
    await s1.load();
    await s1.persist(decisions, 1);
    await s1.close();
    await crashAndRestart(server);
    const s2 = new RedisLearnerStore({ url, cluster: CLUSTER, learnerId: 'l1' });
    try {
      expect(await s2.load()).toEqual({ nextSlot: 1, decisions: decisions.slice(1) });
      expect(await s2.read(0, 2)).toEqual(decisions);
      // The storage check runs through the learner's ACL user too.
      expect((await s2.usage()).slots).toBe(3);
    } finally {
      await s2.close();
    }
  });

  test('acceptor: readmission (one MULTI/EXEC) of a wiped acceptor', async () => {
    const all = await Promise.all(['a1', 'a2', 'a3'].map((id) => redisFor('acceptor', id)));
    for (const [i, r] of all.entries()) {
      const s = new RedisAcceptorStore({ url: r.url, cluster: CLUSTER, acceptorId: `a${i + 1}`,
        init: true });
      await s.load();
      if (i !== 1) await s.persist({ promised: b(4), accepted: [vote(0, 4)] });
      await s.close();
    }
    const target = await redisFor('acceptor', 'a2');
    const r = await readmitAcceptor({
      cluster: CLUSTER, acceptors: 3, target: { id: 'a2', url: target.url },
      peers: [{ id: 'a1', url: all[0]?.url ?? '' }, { id: 'a3', url: all[2]?.url ?? '' }],
    });
    expect(r.promised).toEqual(b(4));
    await crashAndRestart(target.server);
    const back = new RedisAcceptorStore({ url: target.url, cluster: CLUSTER, acceptorId: 'a2' });
    try {
      expect((await back.load()).promised).toEqual(b(4));
    } finally {
      await back.close();
    }
  });

  test('the default user cannot be used by a client: every command, PING too, gets NOAUTH, ' +
    'and AUTH as default fails', async () => {
    const { server } = await redisFor('acceptor', 'a9');
    const r = new Redis(server.url, { lazyConnect: true, enableReadyCheck: false,
      maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    try {
      await r.connect();
      await expect(r.call('PING')).rejects.toThrow(/NOAUTH/);
      await expect(r.call('GET', 'synod:{synod}:acceptor:a9:promised')).rejects.toThrow(/NOAUTH/);
      await expect(r.call('AUTH', 'default', '')).rejects.toThrow(/WRONGPASS|disabled/);
      await expect(r.call('AUTH', 'default', 'x')).rejects.toThrow(/WRONGPASS|disabled/);
      await expect(r.call('AUTH', 'anything')).rejects.toThrow(/without any password/);
      await expect(r.call('SET', 'x', '1')).rejects.toThrow(/NOAUTH/);
    } finally {
      r.disconnect();
    }
  });
});
