import type { SynodClient } from '@synod/client';
import {
  decodeProposeBatchReply,
  encodeApi,
  ERROR_HEADER,
  proposeSubject,
} from '@synod/codec';
import type { LocalCluster } from '@synod/testing';
import { connectNats, type NatsTransport } from '@synod/transport-nats';
import {
  appliedPayloads,
  client,
  eventually,
  learnerLog,
  lostAcks,
  proposeAll,
  startCluster,
} from './harness.js';

/**
 * Propose batches with real processes: a client's concurrent proposals travel as batch
 * requests, every one of them is chosen exactly once, a batch sent again is answered with the
 * same slots, and malformed batches are refused with a reason while nothing changes.
 */
describe('propose batches, real processes', () => {
  let cluster: LocalCluster;
  let cl: SynodClient;
  let raw: NatsTransport;

  beforeAll(async () => {
    cluster = await startCluster({ acceptors: 3, proposers: 2, learners: 1 });
    cl = await client(cluster);
    raw = await connectNats({ servers: cluster.natsUrl });
  });
  afterAll(async () => {
    await raw?.close();
    await cl?.close();
    await cluster?.stop();
  });

  async function rejectedBy(id: string): Promise<Record<string, number>> {
    const st = JSON.parse((await cluster.health(id, '/status')).body) as {
      rejectedBy: Record<string, number>;
    };
    return st.rejectedBy;
  }

  test('400 concurrent proposals of one client: fewer requests than proposals on the bus, ' +
    'each value chosen exactly once', async () => {
    const c = cluster.cluster;
    let batches = 0;
    let batched = 0;
    let singles = 0;
    const dec = new TextDecoder();
    const subs = [
      raw.subscribe(proposeSubject(c), (m) => {
        batches++;
        batched += (JSON.parse(dec.decode(m.data)) as { cmds: unknown[] }).cmds.length;
      }),
      raw.subscribe(`synod.${c}.request.*`, () => {
        singles++;
      }),
    ];
    await raw.flush();
    const payloads = Array.from({ length: 400 }, (_, i) => `batch-${i}`);
    const outcomes = await proposeAll(cl, payloads, 50);
    for (const s of subs) s.unsubscribe();
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    // Closed loops of 50 refill together when a slot's answers come back together.
    expect(batches).toBeGreaterThan(0);
    expect(batched + singles).toBeGreaterThanOrEqual(400);
    expect(batches + singles).toBeLessThan(400 / 2);
    const last = Math.max(...outcomes.map((o) => (o.ok ? o.slot : 0)));
    await eventually(async () => (await learnerLog(cluster, 'l1')).size > last, 20_000,
      `l1 to deliver slot ${last}`);
    const log = await learnerLog(cluster, 'l1');
    const applied = appliedPayloads(log).filter((p) => p.startsWith('batch-'));
    expect(applied.sort()).toEqual([...payloads].sort());
    expect(lostAcks(outcomes, log)).toEqual([]);
  });

  test('a batch sent twice is answered with the same slots; commands are not chosen twice',
    async () => {
      const cmds = [
        { clientId: 'raw-batch', seq: 1, payload: 'one' },
        { clientId: 'raw-batch', seq: 2, payload: 'two' },
        { clientId: 'other-client', seq: 1, payload: 'three' },
      ];
      const data = encodeApi({ cmds });
      const first = await raw.request(proposeSubject(cluster.cluster), data, { timeoutMs: 5000 });
      expect(first.headers[ERROR_HEADER]).toBeUndefined();
      const a = decodeProposeBatchReply(first.data, 3).outcomes;
      for (const o of a) expect(o.status).toBe('chosen');
      const again = await raw.request(proposeSubject(cluster.cluster), data, { timeoutMs: 5000 });
      expect(decodeProposeBatchReply(again.data, 3).outcomes).toEqual(a);
      const slots = a.map((o) => (o.status === 'chosen' ? o.slot : -1));
      await eventually(async () => (await learnerLog(cluster, 'l1')).size > Math.max(...slots));
      const applied = appliedPayloads(await learnerLog(cluster, 'l1'));
      for (const p of ['one', 'two', 'three']) {
        expect(applied.filter((x) => x === p)).toHaveLength(1);
      }
    });

  test('malformed batches: refused with the reason in a header, counted, nothing proposed',
    async () => {
      const subject = proposeSubject(cluster.cluster);
      const enc = new TextEncoder();
      const logBefore = await learnerLog(cluster, 'l1');
      const before = { ...(await rejectedBy('p1')) };
      const beforeP2 = { ...(await rejectedBy('p2')) };
      const bad: Array<[Uint8Array, string]> = [
        [enc.encode('{"v":1,"cmds":['), 'decode:BAD_JSON'],
        [enc.encode(JSON.stringify({ v: 2, cmds: [{ clientId: 'x', seq: 1, payload: 'a' }] })),
          'decode:BAD_VERSION'],
        [enc.encode(JSON.stringify({ v: 1, cmds: [] })), 'decode:BAD_FIELD'],
        [enc.encode(JSON.stringify({
          v: 1, cmds: [{ clientId: 'x', seq: 1, payload: 'a' }, { clientId: 'x', seq: 1,
            payload: 'b' }],
        })), 'decode:BAD_FIELD'],
        [enc.encode(JSON.stringify({
          v: 1, cmds: Array.from({ length: 257 }, (_, i) => ({ clientId: 'x', seq: i,
            payload: 'a' })),
        })), 'decode:LIMIT'],
        [enc.encode(JSON.stringify({ v: 1, cmds: [{ clientId: 'x y', seq: 1, payload: 'a' }] })),
          'decode:BAD_FIELD'],
      ];

      let why = '';
      for (const [data, reason] of bad) {
        const r = await raw.request(subject, data, { timeoutMs: 5000 });
        expect(r.headers[ERROR_HEADER]).toBe(reason);
        // What was wrong, in words (the field's path for a bad field).
        why = new TextDecoder().decode(r.data);
        expect(why.length).toBeGreaterThan(10);
      }
      expect(why).toMatch(/clientId/); // the last one: a client id that is not a token
      const after = await rejectedBy('p1');
      const afterP2 = await rejectedBy('p2');
      let counted = 0;
      for (const [k, n] of Object.entries(after)) counted += n - (before[k] ?? 0);
      for (const [k, n] of Object.entries(afterP2)) counted += n - (beforeP2[k] ?? 0);
      expect(counted).toBe(bad.length);
      for (const id of ['p1', 'p2']) expect(cluster.node(id).proc?.running()).toBe(true);
      // Nothing of them was proposed: once a later value is delivered, no command of client
      // `x` (the only client id the bad batches used) is in the log.
      const next = await cl.propose('after-bad-batches');
      expect(next.slot).toBeGreaterThanOrEqual(logBefore.size);
      await eventually(async () => (await learnerLog(cluster, 'l1')).size > next.slot);
      const fromX = [...(await learnerLog(cluster, 'l1')).values()]
        .flatMap((v) => (v.kind === 'cmds' ? v.cmds : [])).filter((c) => c.clientId === 'x');
      expect(fromX).toEqual([]);
    });
});
