// Retries after a timeout go to `synod.<c>.propose.leader`, which every proposer hears and only
// one that believes it leads answers: a paused proposer that still holds its place in the
// client queue group (NATS keeps a stopped process's connection until its pings fail, minutes
// with the defaults) cannot swallow them.
import { decodeProposeBatch, encodeApi, leaderProposeSubject, type ProposeBatch }
  from '@synod/codec';
import type { Transport } from '@synod/runtime';
import { leaderAttempt } from '../src/batcher.js';
import { SynodClient } from '../src/index.js';
import { Bus, freshCluster, scriptedProposer } from './bus.js';

jest.setTimeout(20_000);

let bus: Bus;
let proposerBus: Transport;
let clientBus: Transport;

beforeAll(async () => {
  bus = await Bus.start();
  proposerBus = await bus.connect('proposer');
  clientBus = await bus.connect('client');
});
afterAll(async () => {
  await bus.stop();
});

/** A proposer on the leader-only subject: answers while `leading()` says so, else stays silent. */
function leaderSubject(cluster: string, leading: () => boolean, slot: number):
  { readonly batches: ProposeBatch[]; stop(): void } {
  const batches: ProposeBatch[] = [];
  const sub = proposerBus.subscribe(leaderProposeSubject(cluster), (m) => {
    const b = decodeProposeBatch(m.data);
    batches.push(b);
    if (!leading()) return;
    const outcomes = b.cmds.map(() => ({ status: 'chosen' as const, slot }));
    proposerBus.respond(m, encodeApi({ outcomes }));
  });
  return { batches, stop: () => sub.unsubscribe() };
}

describe('retry after a timeout', () => {
  test('goes to the leader-only subject, where the live leader answers; the paused proposer ' +
    'in the queue group gets the first attempt only', async () => {
    const cluster = freshCluster();
    const paused = scriptedProposer(proposerBus, cluster, () => 'drop');
    const leader = leaderSubject(cluster, () => true, 21);
    await proposerBus.flush();
    const c = new SynodClient(clientBus, { cluster, timeoutMs: 4000, serverName: bus.url });
    for (let i = 1; i <= 3; i++) {
      await expect(c.propose(`v${i}`)).resolves.toEqual({ slot: 21, clientId: c.clientId, seq: i });
    }
    // Each proposal: one attempt through the queue group (swallowed), then the leader.
    expect(paused.requests.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(leader.batches.map((b) => b.cmds)).toEqual([1, 2, 3].map((seq) =>
      [{ clientId: c.clientId, seq, payload: `v${seq}` }]));
    paused.stop();
    leader.stop();
  });

  test('a leader-only attempt carries the proposal\'s W3C trace context in the batch', async () => {
    const cluster = freshCluster();
    const leader = leaderSubject(cluster, () => true, 3);
    await proposerBus.flush();
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const cmd = { clientId: 'c-t', seq: 1, payload: 'x' };
    await expect(leaderAttempt(clientBus, cluster, cmd, 1000, { traceparent: tp }))
      .resolves.toEqual({ kind: 'chosen', slot: 3 });
    await expect(leaderAttempt(clientBus, cluster, cmd, 1000, { traceparent: 'junk' }))
      .resolves.toEqual({ kind: 'chosen', slot: 3 });
    expect(leader.batches).toEqual([{ cmds: [cmd], traces: [tp] }, { cmds: [cmd] }]);
    leader.stop();
  });

  test('three leader-only timeouts in a row are followed by one attempt through the queue ' +
    'group (in case no proposer believes it leads)', async () => {
    const cluster = freshCluster();
    const queue = scriptedProposer(proposerBus, cluster,
      (_r, n) => (n === 1 ? 'drop' : { status: 'chosen', slot: 8 }));
    const silent = leaderSubject(cluster, () => false, 0);
    await proposerBus.flush();
    const c = new SynodClient(clientBus, { cluster, timeoutMs: 8000, serverName: bus.url });
    await expect(c.propose('v')).resolves.toEqual({ slot: 8, clientId: c.clientId, seq: 1 });
    expect(queue.requests.map((r) => r.seq)).toEqual([1, 1]);
    expect(silent.batches.length).toBe(3);
    queue.stop();
    silent.stop();
  });

  test('proposers that do not hear the leader-only subject (no responders there): the retry ' +
    'goes through the queue group at once and is not counted as an attempt', async () => {
    const cluster = freshCluster();
    const p = scriptedProposer(proposerBus, cluster, () => 'drop');
    await proposerBus.flush();
    const c = new SynodClient(clientBus, { cluster, timeoutMs: 1500, serverName: bus.url });
    const e = await c.propose('x').catch((x: unknown) => x);
    expect((e as Error).message).toContain('2 attempts in 1500 ms');
    expect(p.requests.length).toBe(2);
    p.stop();
  });
});
