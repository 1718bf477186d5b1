import { type SynodClient, SynodError } from '@synod/client';
import type { LocalCluster } from '@synod/testing';
import {
  appliedPayloads,
  client,
  eventually,
  learnerLog,
  lostAcks,
  type Outcome,
  secureOptions,
  startCluster,
} from './harness.js';

/**
 * Roles scale independently: while a client proposes without pause, a third proposer and a
 * second learner join and the leading proposer leaves. Acceptors are untouched (their set is
 * configuration: docs/deploy.md). Security is on, so the new nodes log in as their own NATS
 * users (proposer-p3, learner-l2: ids of the pools, p1..p3 and l1..l2, that nobody used yet),
 * each allowed to speak only as itself.
 */
describe('scaling proposers and learners under load', () => {
  let cluster: LocalCluster;
  let cl: SynodClient;
  const secure = secureOptions(3, { proposers: 3, learners: 2 });

  beforeAll(async () => {
    cluster = await startCluster({ ...secure.options, proposers: 2, learners: 1 });
    cl = await client(cluster, 15_000, secure.clientLogin);
  });
  afterAll(async () => {
    await cl?.close();
    await cluster?.stop();
  });

  /** Proposes `prefix-<n>` with `inFlight` workers until `stop` is set; never throws. */
  function load(prefix: string, inFlight: number, stop: { done: boolean }): Promise<Outcome[]> {
    const out: Outcome[] = [];
    let n = 0;
    const worker = async (): Promise<void> => {
      while (!stop.done) {
        const payload = `${prefix}-${n++}`;
        try {
          const r = await cl.propose(payload);
          out.push({ ok: true, slot: r.slot, payload });
        } catch (e) {
          if (!(e instanceof SynodError)) throw e;
          out.push({ ok: false, code: e.code, payload });
        }
      }
    };
    return Promise.all(Array.from({ length: inFlight }, worker)).then(() => out);
  }

  test('add proposer p3 and learner l2, remove the leader: no client error, one log, the ' +
    'new learner catches up to the identical log', async () => {
    const stop = { done: false };
    const running = load('sc', 8, stop);
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    await sleep(500);
    await cluster.addNode('proposer', 'p3');
    await cluster.waitReady(['p3']);
    await sleep(500);
    await cluster.addNode('learner', 'l2');
    await cluster.waitReady(['l2']);
    await sleep(500);
    const before = await cl.status();
    const leader = before.leader;
    expect(leader).not.toBeNull();
    await cluster.remove(leader as string);
    await sleep(1500);
    stop.done = true;
    const out = await running;

    // Every request of the client was chosen (the SDK's retries hid the churn).
    expect(out.filter((o) => !o.ok)).toEqual([]);
    expect(out.length).toBeGreaterThan(100);
    const after = await cl.status();
    const ids = after.services.map((s) => s.id).sort();
    expect(ids).toEqual(['a1', 'a2', 'a3', 'l1', 'l2', ...['p1', 'p2', 'p3']
      .filter((p) => p !== leader)].sort());
    expect(after.leader).not.toBeNull();
    expect(after.leader).not.toBe(leader);
    // The third proposer took client requests (the queue group spreads them).
    const p3 = after.services.find((s) => s.id === 'p3') as { delivered?: number } | undefined;
    if (leader !== 'p3') expect(p3?.delivered ?? 0).toBeGreaterThan(0);

    // Both learners reach the last acknowledged slot and hold the identical log.
    const last = Math.max(...out.map((o) => (o.ok ? o.slot : 0)));
    await eventually(async () => (await learnerLog(cluster, 'l1')).size > last &&
      (await learnerLog(cluster, 'l2')).size > last, 30_000, 'both learners');
    const l1 = await learnerLog(cluster, 'l1');
    const l2 = await learnerLog(cluster, 'l2');
    const n = Math.min(l1.size, l2.size);
    expect([...l2].slice(0, n)).toEqual([...l1].slice(0, n));
    expect([...l2.keys()].slice(0, n)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(lostAcks(out, l1)).toEqual([]);
    expect(lostAcks(out, l2)).toEqual([]);
    const applied = appliedPayloads(l1);
    expect(new Set(applied).size).toBe(applied.length);
    expect(applied.length).toBe(out.length);
    process.stdout.write(`scale: ${out.length} values chosen with 0 client errors while p3 and ` +
      `l2 joined and the leader ${String(leader)} left; l2 caught up to ${l2.size} slots ` +
      'identical to l1\n');
  });
});
