import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { compareMaybeBallots } from '@synod/protocol';
import type { SynodClient } from '@synod/client';
import type { LocalCluster } from '@synod/testing';
import { acceptorState, client, eventually, proposeAll, startCluster } from './harness.js';

function redisCli(port: number, ...args: string[]): string {
  return execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();
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
        '--cluster', cluster.cluster, '--redis', url('a2'), '--peer', `a1=${url('a1')}`,
        '--peer', `a3=${url('a3')}`,
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
        '--cluster', cluster.cluster, '--redis', url('a2'), '--peer', `a1=${url('a1')}`,
        '--peer', `a3=${url('a3')}`,
      ], { encoding: 'utf8', stdio: 'pipe' })).toThrow(/not empty/);
      // With a3 down, a2 (with its restored memory) and a1 are the majority that decides.
      await cluster.kill('a3', 'SIGKILL');
      const more = await proposeAll(cl, ['after-readmit'], 1);
      expect(more.every((o) => o.ok)).toBe(true);
    });
  });
});
