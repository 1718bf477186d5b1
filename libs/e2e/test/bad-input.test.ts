import type { SynodClient } from '@synod/client';
import { encode } from '@synod/codec';
import { type Message, MSG_TYPES } from '@synod/protocol';
import { compareMaybeBallots, Sfc32 } from '@synod/protocol';
import type { LocalCluster } from '@synod/testing';
import { connectNats, type NatsTransport } from '@synod/transport-nats';
import { acceptorState, client, learnerLog, startCluster } from './harness.js';

const ballot = { round: 1, proposer: 'p1', incarnation: 7 };
const value = { kind: 'cmds' as const, cmds: [{ clientId: 'c1', seq: 1, payload: 'x' }] };

/** A valid message of each type, sent by `from` (to `to` when addressed). */
function valid(type: Message['type'], from: string, to: string): Message {
  switch (type) {
    case 'prepare': return { type, from, ballot, fromSlot: 0 };
    case 'promise': return { type, from, to, ballot, fromSlot: 0, accepted: [] };
    case 'nack': return { type, from, to, ballot, promised: ballot, slot: null };
    case 'accept': return { type, from, ballot, slot: 0, value };
    case 'accepted': return { type, from, ballot, slot: 0, value };
    case 'chosen': return { type, from, ballot, slot: 0, value };
    case 'heartbeat': return { type, from, ballot, chosenUpTo: 0 };
    case 'catchup': return { type, from, fromSlot: 0, toSlot: 5 };
    case 'request': return { type, from, cmd: value.cmds[0] as never };
    case 'response':
      return { type, from, to, clientId: 'c1', seq: 1, outcome: { status: 'overloaded' } };
    case 'progress': return { type, from, nextSlot: 0 };
  }
}

const enc = new TextEncoder();
const json = (o: unknown): Uint8Array => enc.encode(JSON.stringify(o));

/** The message with a field past its limit: a 70 KB payload, or a 100-character id. */
function oversized(good: Record<string, unknown>): Record<string, unknown> {
  const big = 'z'.repeat(70_000);
  if ('cmd' in good) return { ...good, cmd: { ...(good['cmd'] as object), payload: big } };
  if ('value' in good) {
    return { ...good, value: { kind: 'cmds', cmds: [{ clientId: 'c1', seq: 1, payload: big }] } };
  }
  return { ...good, from: 'x'.repeat(100) };
}

/** Bad payloads, each with the rejection reason expected for it. */
function badPayloads(m: Message, rng: Sfc32): Array<[string, Uint8Array]> {
  const good = JSON.parse(new TextDecoder().decode(encode(m))) as Record<string, unknown>;
  const raw = new Uint8Array(1 + rng.nextInt(64)).map(() => rng.nextInt(256));
  const bytes = encode(m);
  return [
    ['malformed JSON', bytes.slice(0, Math.max(1, bytes.length - 1 - rng.nextInt(5)))],
    ['raw bytes', raw],
    ['wrong types',
      json({ ...good, ...(m.type === 'heartbeat' ? { chosenUpTo: 'x' } : { from: 42 }) })],
    ['unknown version', json({ ...good, v: 2 })],
    ['oversized', json(oversized(good))],
    ['proto key', enc.encode(JSON.stringify(good).replace('{', '{"__proto__":{"x":1},'))],
    ['sender mismatch', encode({ ...m, from: m.from === 'p1' ? 'p2' : 'a1' } as Message)],
  ];
}

describe('bad input on every subject while the cluster serves', () => {
  let cluster: LocalCluster;
  let cl: SynodClient;
  let raw: NatsTransport;

  beforeAll(async () => {
    cluster = await startCluster({ learners: 1 });
    cl = await client(cluster);
    raw = await connectNats({ servers: cluster.natsUrl });
  });
  afterAll(async () => {
    await raw?.close();
    await cl?.close();
    await cluster?.stop();
  });

  test('>= 10,000 bad messages: 0 crashes, each rejected with a reason (log and counter), ' +
    'the log and the acceptors unchanged', async () => {
    const first = await cl.propose('before');
    const promisedBefore = (await acceptorState(cluster, 'a1')).promised;
    const logBefore = await learnerLog(cluster, 'l1');
    const rng = new Sfc32(2026);
    const targets = ['a1', 'a2', 'a3', 'p1', 'p2', 'l1'];
    let sent = 0;
    while (sent < 10_000) {
      for (const type of MSG_TYPES) {
        const to = targets[rng.nextInt(targets.length)] as string;
        const byProposer = ['prepare', 'accept', 'chosen', 'heartbeat', 'response'];
        const from = type === 'request' ? 'c1' : byProposer.includes(type) ? 'p1' : 'a1';
        const m = valid(type, from, to);
        const addressed = 'to' in m;
        const subject = `synod.${cluster.cluster}.${type}.${from}${addressed ? `.${to}` : ''}`;
        for (const [, payload] of badPayloads(m, rng)) {
          raw.publish(subject, payload);
          sent++;
        }
      }
      if (sent % 1400 === 0) await raw.flush();
    }
    await raw.flush();
    await new Promise((r) => setTimeout(r, 1500));
    let rejected = 0;
    const reasons = new Set<string>();
    for (const id of targets) {
      const n = cluster.node(id);
      // Which one stopped, and what it said last (a failure in CI explains itself).
      expect({ id, running: n.proc?.running(), ...(n.proc?.running() === true ? {}
        : { last: n.proc?.output(30) }) }).toEqual({ id, running: true });
      expect((await cluster.health(id, '/healthz')).status).toBe(200);
      const st = JSON.parse((await cluster.health(id, '/status')).body) as {
        rejectedBy: Record<string, number>;
      };
      for (const [reason, count] of Object.entries(st.rejectedBy)) {
        rejected += count;
        reasons.add(reason);
      }
    }
    expect(sent).toBeGreaterThanOrEqual(10_000);
    // Every message reached at least one subscriber, and every delivery was refused.
    expect(rejected).toBeGreaterThanOrEqual(sent * 0.99);
    for (const r of ['decode:BAD_JSON', 'decode:BAD_VERSION', 'decode:BAD_FIELD', 'decode:LIMIT',
      'decode:UNKNOWN_FIELD', 'subject:SENDER_MISMATCH']) {
      expect([...reasons]).toContain(r);
    }
    const a1Log = cluster.node('a1').proc?.output(2000) ?? '';
    expect(a1Log).toMatch(/"reason":"decode:BAD_JSON".*rejected delivery/);
    // Thousands refused, a few lines logged: 20 a reason per 10 s, the rest summed up later.
    expect(a1Log.split('\n').filter((l) => l.includes('rejected delivery')).length)
      .toBeLessThan(500);
    // No bad message moved a promise: it is the one from before, or (if the machine was so
    // loaded that a proposer re-ran an election meanwhile) a real proposer's newer ballot, never
    // the ballot the hostile messages carried.
    const promisedAfter = (await acceptorState(cluster, 'a1')).promised;
    expect(compareMaybeBallots(promisedAfter, promisedBefore)).toBeGreaterThanOrEqual(0);
    expect(promisedAfter).not.toEqual(ballot);
    const logAfter = await learnerLog(cluster, 'l1');
    expect([...logAfter].slice(0, logBefore.size)).toEqual([...logBefore]);
    expect(logAfter.size).toBe(logBefore.size);
    const after = await cl.propose('after');
    expect(after.slot).toBe(first.slot + 1);
  });
});
