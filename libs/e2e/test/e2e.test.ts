import type { SynodClient } from '@synod/client';
import type { LocalCluster } from '@synod/testing';
import {
  appliedPayloads,
  client,
  eventually,
  learnerLog,
  lostAcks,
  proposeAll,
  serviceTails,
  startCluster,
} from './harness.js';

describe('end to end, real processes', () => {
  let cluster: LocalCluster;
  let cl: SynodClient;

  beforeAll(async () => {
    cluster = await startCluster({ learners: 2 });
    cl = await client(cluster);
  });
  afterAll(async () => {
    await cl?.close();
    await cluster?.stop();
  });

  test('a value proposed through the SDK is chosen and read back from the learner', async () => {
    const r = await cl.propose('hello');
    expect(r.slot).toBeGreaterThanOrEqual(0);
    // Reads go to any learner (a queue group): keep the answer of the one that had the slot.
    let e = null as Awaited<ReturnType<SynodClient['read']>>;
    await eventually(async () => (e = await cl.read(r.slot)) !== null, 10_000, 'the learner');
    // The leader stamps each batch with its wall clock (the log's time, see docs/election.md).
    expect(e?.value).toEqual({
      kind: 'cmds', cmds: [{ clientId: r.clientId, seq: r.seq, payload: 'hello' }],
      stamp: expect.any(Number),
    });
    const stamp = e?.value.kind === 'cmds' ? e.value.stamp ?? 0 : 0;
    expect(Math.abs(stamp - Date.now())).toBeLessThan(60_000);
  });

  test('two clients proposing 1,000 values each concurrently through both proposers: one log, ' +
    'every learner identical, every value exactly once', async () => {
    const other = await client(cluster);
    const a = Array.from({ length: 1000 }, (_, i) => `A-${i}`);
    const b = Array.from({ length: 1000 }, (_, i) => `B-${i}`);
    const [ra, rb] = await Promise.all([proposeAll(cl, a, 32), proposeAll(other, b, 32)]);
    await other.close();
    const all = [...ra, ...rb];
    expect(all.filter((o) => !o.ok)).toEqual([]);
    const last = Math.max(...all.map((o) => (o.ok ? o.slot : 0)));
    try {
      await eventually(async () => (await learnerLog(cluster, 'l1')).size > last &&
        (await learnerLog(cluster, 'l2')).size > last, 20_000, 'both learners');
    } catch (err) {
      const sizes = `l1 ${(await learnerLog(cluster, 'l1')).size}, ` +
        `l2 ${(await learnerLog(cluster, 'l2')).size}, last acked slot ${last}`;
      const tails = serviceTails(cluster, ['l1', 'l2', 'p1', 'p2']);
      throw new Error(`${String(err)} (${sizes})\n${tails}`);
    }
    const l1 = await learnerLog(cluster, 'l1');
    const l2 = await learnerLog(cluster, 'l2');
    const n = Math.min(l1.size, l2.size);
    expect([...l2].slice(0, n)).toEqual([...l1].slice(0, n));
    const applied = appliedPayloads(l1).filter((p) => p !== 'hello');
    expect(applied.length).toBe(2000);
    expect(new Set(applied).size).toBe(2000);
    expect(lostAcks(all, l1)).toEqual([]);
    // Both proposers took client requests (the queue group spreads them).
    const st = await cl.status();
    expect(st.services.filter((s) => s.role === 'proposer')).toHaveLength(2);
  });
});
