import type { Transport } from '@synod/runtime';
import { SynodClient, summarizeStatus } from '../src/index.js';
import { Bus, freshCluster, scriptedStatus } from './bus.js';

jest.setTimeout(15_000);

let bus: Bus;
let services: Transport;
let clientBus: Transport;

beforeAll(async () => {
  bus = await Bus.start();
  services = await bus.connect('services');
  clientBus = await bus.connect('client');
});
afterAll(async () => {
  await bus.stop();
});

const ballot = (round: number, proposer: string): object =>
  ({ round, proposer, incarnation: 7 });

describe('status', () => {
  test('gathers every answer, sorts them, and sums up the cluster', async () => {
    const cluster = freshCluster();
    const subs = [
      scriptedStatus(services, cluster, { role: 'learner', id: 'l2', nextSlot: 40 }),
      scriptedStatus(services, cluster, { role: 'acceptor', id: 'a2', voting: true }),
      scriptedStatus(services, cluster,
        { role: 'proposer', id: 'p2', state: 'follower', leader: 'p1', ballot: ballot(3, 'p1') }),
      scriptedStatus(services, cluster,
        { role: 'proposer', id: 'p1', state: 'leader', leader: null, ballot: ballot(3, 'p1') }),
      scriptedStatus(services, cluster, { role: 'acceptor', id: 'a1', voting: true }),
      scriptedStatus(services, cluster,
        { role: 'acceptor', id: 'a3', voting: false, refusal: 'AMNESIA: store empty' }),
      scriptedStatus(services, cluster, { role: 'learner', id: 'l1', nextSlot: 42 }),
      scriptedStatus(services, cluster, 'not json'),
      scriptedStatus(services, cluster, { role: 'janitor', id: 'j1' }),
    ];
    await services.flush();
    const c = new SynodClient(clientBus, { cluster });
    const t0 = Date.now();
    const st = await c.status({ waitMs: 300 });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(st.services.map((s) => `${s.role}/${s.id}`)).toEqual([
      'proposer/p1', 'proposer/p2', 'acceptor/a1', 'acceptor/a2', 'acceptor/a3',
      'learner/l1', 'learner/l2',
    ]);
    expect(st).toMatchObject({
      leader: 'p1', acceptorsAnswering: ['a1', 'a2', 'a3'], voting: ['a1', 'a2'],
      lastChosenSlot: 41, malformed: 2,
    });
    // With maxReplies it returns as soon as that many answered.
    const some = await c.status({ waitMs: 5000, maxReplies: 3 });
    expect(some.services.length + some.malformed).toBe(3);
    for (const s of subs) s.unsubscribe();
  });

  test('nobody answers: an empty status, not an error', async () => {
    const c = new SynodClient(clientBus, { cluster: freshCluster() });
    const st = await c.status({ waitMs: 100 });
    expect(st).toEqual({
      services: [], leader: null, acceptorsAnswering: [], voting: [], lastChosenSlot: null,
      learnedUpTo: null, learnersAnswering: 0, malformed: 0, duplicates: [],
    });
  });

  test('two processes answering as one node id are listed as duplicates', () => {
    const st = summarizeStatus([
      { role: 'proposer', id: 'p1', state: 'leader', ballot: ballot(3, 'p1') },
      { role: 'proposer', id: 'p1', state: 'follower', ballot: ballot(3, 'p1') },
      { role: 'acceptor', id: 'a1', voting: true },
      { role: 'acceptor', id: 'a1', voting: true },
      { role: 'acceptor', id: 'a2', voting: true },
      { role: 'learner', id: 'l1', nextSlot: 3 },
    ]);
    expect(st.duplicates).toEqual(['acceptor/a1', 'proposer/p1']);
    expect(st.acceptorsAnswering).toEqual(['a1', 'a2']);
  });

  test('two proposers that both think they lead: the higher ballot is the leader', () => {
    const st = summarizeStatus([
      { role: 'proposer', id: 'p1', state: 'leader', ballot: ballot(3, 'p1') },
      { role: 'proposer', id: 'p2', state: 'leader', ballot: ballot(4, 'p2') },
      { role: 'learner', id: 'l1', nextSlot: 0 },
    ]);
    expect(st.leader).toBe('p2');
    expect(st.lastChosenSlot).toBeNull();
  });

  test('the last chosen slot is also what proposers know decided: a learner behind or down ' +
    'does not hide it', () => {
    const behind = summarizeStatus([
      { role: 'proposer', id: 'p1', state: 'leader', ballot: ballot(3, 'p1'), firstUnknown: 54 },
      { role: 'learner', id: 'l1', nextSlot: 51 },
    ]);
    expect(behind).toMatchObject({ lastChosenSlot: 53, learnedUpTo: 50, learnersAnswering: 1 });
    const down = summarizeStatus([
      { role: 'proposer', id: 'p1', state: 'leader', ballot: ballot(3, 'p1'), firstUnknown: 54 },
    ]);
    expect(down).toMatchObject({ lastChosenSlot: 53, learnedUpTo: null, learnersAnswering: 0 });
  });
});
