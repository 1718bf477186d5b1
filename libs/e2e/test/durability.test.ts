import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, truncateSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { compareMaybeBallots } from '@synod/protocol';
import { acceptorKeys } from '@synod/store-redis';
import type { SynodClient } from '@synod/client';
import type { LocalCluster } from '@synod/testing';
import { acceptorState, client, eventually, proposeAll, startCluster } from './harness.js';

function redisCli(port: number, ...args: string[]): string {
  return execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();
}

/** The file Redis 7 appends to: the last `type i` entry of the multi-part AOF's manifest. */
function incrAof(redisDir: string): string {
  const dir = join(redisDir, 'appendonlydir');
  const manifest = readFileSync(join(dir, 'appendonly.aof.manifest'), 'utf8');
  const files = [...manifest.matchAll(/^file (\S+) seq \d+ type i$/gm)].map((m) => m[1]);
  const last = files[files.length - 1];
  if (last === undefined) throw new Error(`no incr file in the AOF manifest:\n${manifest}`);
  return join(dir, last);
}

describe('durability guards of acceptors', () => {
  test('an acceptor on a Redis without appendfsync always refuses to vote and says why',
    async () => {
    const cluster = await startCluster({
      acceptors: 1, proposers: 1, redisAppendfsync: 'everysec', waitReady: false,
    });
    try {
      await eventually(async () => (await cluster.health('a1', '/readyz').catch(() => null))
        ?.status === 503, 10_000, 'a1 /readyz');
      const ready = await cluster.health('a1', '/readyz');
      expect(ready.body).toMatch(/NOT_DURABLE.*appendfsync/);
      expect(cluster.node('a1').proc?.output()).toMatch(/NOT VOTING/);
    } finally {
      await cluster.stop();
    }
  });

  describe('amnesia', () => {
    let cluster: LocalCluster;
    let cl: SynodClient;
    beforeAll(async () => {
      // Acceptors check their marker every 300 ms: a2 notices a wipe whether or not an
      // accept reaches it (with thrifty accepts, the default, it may be the idle acceptor).
      cluster = await startCluster({
        roleEnv: {
          proposer: { SYNOD_ELECTION_TICKS: '20', SYNOD_RETRY_TICKS: '10' },
          acceptor: { SYNOD_MARKER_CHECK_MS: '300' },
        },
      });
      cl = await client(cluster);
    });
    afterAll(async () => {
      await cl?.close();
      await cluster?.stop();
    });

    test("an acceptor whose Redis is wiped stops voting, says why, and the cluster goes on",
      async () => {
        expect((await proposeAll(cl, ['x1', 'x2'], 1)).every((o) => o.ok)).toBe(true);
        const port = cluster.node('a2').redis?.port as number;
        expect(redisCli(port, 'FLUSHALL')).toBe('OK');
        // With no proposal at all, its periodic check finds the marker gone: it refuses and
        // exits rather than vote (a persist would find the same, see store-redis's tests).
        await eventually(() => cluster.node('a2').proc?.running() !== true, 10_000, 'a2 to exit');
        expect(cluster.node('a2').proc?.output()).toMatch(/marker vanished/);
        expect((await proposeAll(cl, ['y1', 'y2', 'y3'], 1)).every((o) => o.ok)).toBe(true);
        expect(redisCli(port, 'DBSIZE')).toBe('0');
        // Restarted on the empty Redis (not a first start), it refuses to vote.
        await cluster.restart('a2');
        await eventually(async () => (await cluster.health('a2', '/readyz').catch(() => null))
          ?.status === 503, 10_000, 'a2 /readyz');
        const ready = await cluster.health('a2', '/readyz');
        expect(ready.body).toMatch(/AMNESIA/);
        expect(JSON.parse((await cluster.health('a2', '/status')).body).voting).toBe(false);
        const more = await proposeAll(cl, ['z1', 'z2'], 1);
        expect(more.every((o) => o.ok)).toBe(true);
      });

    test('readmission: the operator command restores a majority\'s promise and votes; the ' +
      'acceptor votes again', async () => {
      const url = (id: string): string => cluster.node(id).redis?.url as string;
      const out = execFileSync(process.execPath, [
        resolve(__dirname, '../../../tools/run.mjs'), 'admin', '--', 'readmit', '--acceptor', 'a2',
        '--cluster', cluster.cluster, '--redis', url('a2'), '--acceptors', '3',
        '--peer', `a1=${url('a1')}`, '--peer', `a3=${url('a3')}`,
      ], { encoding: 'utf8', env: { ...process.env, SYNOD_RUN_QUIET: '1' } });
      expect(out).toMatch(/done: a2 now holds promise/);
      const [a1, a2, a3] = await Promise.all(['a1', 'a2', 'a3']
        .map((id) => acceptorState(cluster, id)));
      const maxPromise = [a1, a3].map((s) => s?.promised ?? null)
        .reduce((m, b) => (compareMaybeBallots(b, m) > 0 ? b : m), null);
      expect(a2?.promised).toEqual(maxPromise);
      const most = Math.max(a1?.accepted.length ?? 0, a3?.accepted.length ?? 0);
      expect(a2?.accepted.length).toBe(most);
      await cluster.restart('a2');
      await cluster.waitReady(['a2']);
      expect(JSON.parse((await cluster.health('a2', '/status')).body).voting).toBe(true);
      // A second readmission is refused: the keyspace is no longer empty.
      expect(() => execFileSync(process.execPath, [
        resolve(__dirname, '../../../tools/run.mjs'), 'admin', '--', 'readmit', '--acceptor', 'a2',
        '--cluster', cluster.cluster, '--redis', url('a2'), '--acceptors', '3',
        '--peer', `a1=${url('a1')}`, '--peer', `a3=${url('a3')}`,
      ], { encoding: 'utf8', stdio: 'pipe' })).toThrow(/not empty/);
      // With a3 down, a2 (with its restored memory) and a1 are the majority that decides.
      await cluster.kill('a3', 'SIGKILL');
      const more = await proposeAll(cl, ['after-readmit'], 1);
      expect(more.every((o) => o.ok)).toBe(true);
    });
  });

  test('truncated AOF: an acceptor whose Redis comes back without acknowledged votes stays ' +
    'up, stops voting and says why (LOST_WRITES); the cluster goes on', async () => {
    // Every acceptor gets every accept (no thrifty phase 2), so a2 has votes to lose.
    const cluster = await startCluster({
      roleEnv: {
        proposer: { SYNOD_ELECTION_TICKS: '20', SYNOD_RETRY_TICKS: '10', SYNOD_THRIFTY: 'false' },
        acceptor: { SYNOD_MARKER_CHECK_MS: '300' },
      },
    });
    const cl = await client(cluster);
    try {
      const redis = cluster.node('a2').redis;
      if (redis === null) throw new Error('a2 has no redis-server of its own');
      const writesKey = acceptorKeys(cluster.cluster, 'a2').writes;
      const writes = (): number => Number(redisCli(redis.port, 'GET', writesKey) || '0');
      expect((await proposeAll(cl, ['x1', 'x2', 'x3'], 1)).every((o) => o.ok)).toBe(true);
      await eventually(() => writes() > 0, 10_000, 'a2 to vote');
      const aof = incrAof(redis.dir);
      const kept = { size: statSync(aof).size, writes: writes() };
      expect((await proposeAll(cl, ['y1', 'y2', 'y3'], 1)).every((o) => o.ok)).toBe(true);
      await eventually(() => writes() >= kept.writes + 3, 10_000, 'a2 to vote on y1..y3');
      // Disk damage: Redis crashes, its AOF loses its last acknowledged writes (cut where it
      // stood before y1..y3), and it comes back without a sign.
      await redis.kill('SIGKILL');
      truncateSync(aof, Math.min(kept.size, statSync(aof).size));
      await redis.restart();
      expect(writes()).toBeLessThanOrEqual(kept.writes);
      await eventually(async () => {
        const ready = await cluster.health('a2', '/readyz').catch(() => null);
        return ready?.status === 503 && /LOST_WRITES/.test(ready.body);
      }, 15_000, 'a2 /readyz LOST_WRITES');
      const status = JSON.parse((await cluster.health('a2', '/status')).body) as
        { voting: boolean; refusal: string };
      expect(status.voting).toBe(false);
      expect(status.refusal).toMatch(/write counter \d+ but this acceptor's last acknowledged/);
      expect(status.refusal).toMatch(/truncated or damaged AOF/);
      expect(cluster.node('a2').proc?.running()).toBe(true);
      expect(cluster.node('a2').proc?.output()).toMatch(/NOT VOTING: LOST_WRITES/);
      // It writes nothing on top of the older state, and a1 and a3 decide without it.
      const before = writes();
      expect((await proposeAll(cl, ['z1', 'z2'], 1)).every((o) => o.ok)).toBe(true);
      expect(writes()).toBe(before);
    } finally {
      await cl.close();
      await cluster.stop();
    }
  });
});
