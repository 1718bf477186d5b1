import type { SynodClient } from '@synod/client';
import { decode } from '@synod/codec';
import { type Ballot, compareBallots, compareMaybeBallots } from '@synod/protocol';
import { connectNats } from '@synod/transport-nats';
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
  values,
} from './harness.js';


describe('faults on real processes', () => {
  let cluster: LocalCluster;
  let cl: SynodClient;
  const acked: Outcome[] = [];

  beforeAll(async () => {
    // Accepts to every acceptor (not thrifty), so that the acceptor killed below votes.
    cluster = await startCluster({ roleEnv: { proposer: {
      SYNOD_ELECTION_TICKS: '20', SYNOD_RETRY_TICKS: '10', SYNOD_THRIFTY: 'false' } } });
    cl = await client(cluster);
  });
  afterAll(async () => {
    await cl?.close();
    await cluster?.stop();
  });

  /** Checks that every value acknowledged so far is in the learner's log at its slot. */
  async function noAckLost(): Promise<void> {
    expect(lostAcks(acked, await deliveredAll(cluster, acked))).toEqual([]);
  }

  test('kill -9 of 1 of 3 acceptors under load: every promise and vote it sent is in its ' +
    'Redis; progress continues; after restart they are intact', async () => {
    // What a2 told the proposers, read off the bus: each of it must be durable at the kill.
    const raw = await connectNats({ servers: cluster.natsUrl });
    const sentVotes: { slot: number; ballot: Ballot }[] = [];
    const sentPromises: Ballot[] = [];
    const c = cluster.cluster;
    const subs = [`synod.${c}.accepted.a2`, `synod.${c}.accepted.a2.*`,
      `synod.${c}.promise.a2.*`].map((subject) => raw.subscribe(subject, (m) => {
      const msg = decode(m.data);
      if (msg.type === 'accepted') sentVotes.push({ slot: msg.slot, ballot: msg.ballot });
      if (msg.type === 'promise') sentPromises.push(msg.ballot);
    }));
    await raw.flush();
    const load = proposeAll(cl, values('k1', 300), 8);
    // Killed mid-stream: once it has voted (a slow machine may still be electing a leader).
    await eventually(async () => sentVotes.length >= 5, 20_000, 'a2 to vote');
    await cluster.kill('a2', 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100)); // what was in flight on the bus arrives
    for (const sub of subs) sub.unsubscribe();
    await raw.close();
    const before = await acceptorState(cluster, 'a2');
    expect(sentVotes.length).toBeGreaterThan(0);
    for (const v of sentVotes) {
      const stored = before.accepted.find((e) => e.slot === v.slot);
      expect([v.slot, stored !== undefined && compareBallots(stored.ballot, v.ballot) >= 0])
        .toEqual([v.slot, true]);
    }
    for (const b of sentPromises) {
      expect(compareMaybeBallots(before.promised, b)).toBeGreaterThanOrEqual(0);
    }
    // A stall would otherwise run into jest's timeout and say nothing: 300 proposals take
    // well under a second here. Bounded, it fails with what the services said.
    const out = await Promise.race([load,
      new Promise<null>((r) => setTimeout(() => r(null), 60_000).unref())]);
    if (out === null) {
      throw new Error('the load did not finish within 60 s of killing a2:\n' +
        serviceTails(cluster, ['p1', 'p2', 'a1', 'a3', 'l1']));
    }
    acked.push(...out);
    expect(out.filter((o) => !o.ok)).toEqual([]);
    await cluster.restart('a2');
    await cluster.waitReady(['a2']);
    const after = await acceptorState(cluster, 'a2');
    expect(compareMaybeBallots(after.promised, before.promised)).toBeGreaterThanOrEqual(0);
    expect(after.accepted.length).toBeGreaterThanOrEqual(before.accepted.length);
    const st = await cluster.health('a2', '/status');
    expect(JSON.parse(st.body).voting).toBe(true);
    await noAckLost();
  });

  test('kill -9 of 2 of 3 acceptors: typed errors, nothing inconsistent, service resumes',
    async () => {
    await cluster.kill('a1', 'SIGKILL');
    await cluster.kill('a3', 'SIGKILL');
    const out = await proposeAll(cl, values('k2', 4), 2, 1500);
    const typed = ['OUTCOME_UNKNOWN', 'UNAVAILABLE'];
    expect(out.every((o) => !o.ok && typed.includes(o.code))).toBe(true);
    await cluster.restart('a1');
    await cluster.restart('a3');
    await cluster.waitReady(['a1', 'a3']);
    const again = await proposeAll(cl, values('k2b', 20), 4);
    expect(again.filter((o) => !o.ok)).toEqual([]);
    acked.push(...again);
    await noAckLost();
  });

  test("an acceptor's Redis is killed (-9, a process crash) and restarted: no promise lost",
    async () => {
      const before = await acceptorState(cluster, 'a1');
      await cluster.node('a1').redis?.kill('SIGKILL');
      const during = proposeAll(cl, values('r', 50), 4);
      await cluster.node('a1').redis?.restart();
      acked.push(...(await during));
      const after = await acceptorState(cluster, 'a1');
      expect(compareMaybeBallots(after.promised, before.promised)).toBeGreaterThanOrEqual(0);
      for (const e of before.accepted) {
        const now = after.accepted.find((x) => x.slot === e.slot);
        expect(now).toBeDefined();
      }
      // The acceptor either rode out the restart or exited to restart from Redis; either way
      // the cluster decides.
      if (cluster.node('a1').proc?.running() !== true) {
        await cluster.restart('a1');
        await cluster.waitReady(['a1']);
      }
      const more = await proposeAll(cl, values('r2', 20), 4);
      expect(more.filter((o) => !o.ok)).toEqual([]);
      acked.push(...more);
      await noAckLost();
    });

  test('the leader proposer is killed mid-round: another completes; no acknowledged value lost',
    async () => {
      const st = await cl.status();
      const leader = st.leader;
      expect(leader).not.toBeNull();
      const load = proposeAll(cl, values('pk', 300), 8);
      await new Promise((r) => setTimeout(r, 100));
      await cluster.kill(leader as string, 'SIGKILL');
      const out = await load;
      expect(out.filter((o) => !o.ok)).toEqual([]);
      acked.push(...out);
      await eventually(async () => {
        const s = await cl.status();
        return s.leader !== null && s.leader !== leader;
      }, 10_000, 'a new leader');
      await noAckLost();
    });
});
