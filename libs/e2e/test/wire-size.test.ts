import type { SynodClient } from '@synod/client';
import type { LocalCluster } from '@synod/testing';
import {
  acceptorState,
  client,
  deliveredAll,
  eventually,
  lostAcks,
  type Outcome,
  proposeAll,
  serviceTails,
  startCluster,
} from './harness.js';

/**
 * Large values on real processes, with the default wire (NATS max_payload 1 MiB): a slot's
 * value and a promise's report are bounded by bytes, so that no message a core emits is too
 * large to send. Before, 40 concurrent commands of 60 KB made one slot of 2.4 MB whose accept
 * could never leave (the log wedged for good), and 1200 stored votes of 1 KB made a 1.4 MB
 * promise (no leader could ever be elected once both proposers restarted).
 */

/** `n` distinct payloads of `bytes` ASCII bytes each. */
const big = (prefix: string, n: number, bytes: number): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}-${i}-`.padEnd(bytes, 'x'));

describe('wire size with real processes', () => {
  let cluster: LocalCluster;
  let cl: SynodClient;
  const acked: Outcome[] = [];

  beforeAll(async () => {
    cluster = await startCluster();
    cl = await client(cluster, 20_000);
  });
  afterAll(async () => {
    await cl?.close();
    await cluster?.stop();
  });

  test('40 concurrent commands of 60 KB are all chosen (in several slots), then a small one',
    async () => {
      const out = await proposeAll(cl, big('large', 40, 60_000), 40);
      expect(out.filter((o) => !o.ok)).toEqual([]);
      acked.push(...out);
      // No slot can hold them all: more than one slot was used.
      expect(new Set(out.map((o) => (o.ok ? o.slot : -1))).size).toBeGreaterThan(1);
      const small = await proposeAll(cl, ['small-after-large'], 1);
      expect(small.filter((o) => !o.ok)).toEqual([]);
      acked.push(...small);
      expect(lostAcks(acked, await deliveredAll(cluster, acked))).toEqual([]);
    });

  test('1200 stored commands of 1 KB, kill -9 of both proposers, restart: a leader is elected ' +
    '(the promises come in pages) and a new proposal is chosen', async () => {
    const out = await proposeAll(cl, big('kb', 1200, 1024), 16);
    expect(out.filter((o) => !o.ok)).toEqual([]);
    acked.push(...out);
    // The votes at or above slot 0 are more than one message can carry.
    const votes = (await acceptorState(cluster, 'a1')).accepted;
    expect(Buffer.byteLength(JSON.stringify(votes))).toBeGreaterThan(1024 * 1024);
    const proposers = ['p1', 'p2'];
    for (const id of proposers) await cluster.kill(id, 'SIGKILL');
    for (const id of proposers) await cluster.restart(id);
    try {
      await eventually(async () => (await cl.status()).leader !== null, 30_000, 'a leader');
    } catch (e) {
      throw new Error(`${String(e)}\n${serviceTails(cluster, [...proposers, 'a1'])}`);
    }
    const after = await proposeAll(cl, ['after-restart'], 1, 30_000);
    expect(after.filter((o) => !o.ok)).toEqual([]);
    acked.push(...after);
    expect(lostAcks(acked, await deliveredAll(cluster, acked, 'l1', 30_000))).toEqual([]);
  });
});
