import { execFileSync } from 'node:child_process';
import type { SynodClient } from '@synod/client';
import type { LocalCluster } from '@synod/testing';
import { client, eventually, proposeAll, startCluster } from './harness.js';

function redisCli(port: number, ...args: string[]): string {
  return execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();
}

describe('durability guards of acceptors', () => {
  test('an acceptor on a Redis without appendfsync always refuses to vote and says why', async () => {
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
      cluster = await startCluster();
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
        // Its next persist finds the marker gone: it refuses and exits rather than vote.
        await proposeAll(cl, ['y1', 'y2', 'y3'], 1);
        await eventually(() => cluster.node('a2').proc?.running() !== true, 10_000, 'a2 to exit');
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
  });
});
