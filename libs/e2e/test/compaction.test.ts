import { execFileSync } from 'node:child_process';
import type { SynodClient } from '@synod/client';
import type { Value } from '@synod/protocol';
import { acceptorKeys } from '@synod/store-redis';
import type { LocalCluster } from '@synod/testing';
import {
  acceptorState,
  appliedPayloads,
  client,
  deliveredAll,
  learnerLog,
  lostAcks,
  type Outcome,
  proposeAll,
  startCluster,
  values,
} from './harness.js';

/**
 * Log compaction with real processes: the leader lets the acceptors drop their votes below
 * what the learners hold (less SYNOD_RETAIN_VOTES), a new learner catches up from the other
 * learner below the acceptors' floor, and an acceptor killed after compaction reloads its
 * floor from Redis and keeps voting.
 */

const RETAIN_VOTES = 20;
/** The least the proposers accept: above it, a slot is held only by the learners. */
const RETAIN_DECIDED = 100;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function redisCli(port: number, ...args: string[]): string {
  return execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();
}

describe('log compaction with real processes', () => {
  let cluster: LocalCluster;
  let cl: SynodClient;
  const acked: Outcome[] = [];

  beforeAll(async () => {
    cluster = await startCluster({
      acceptors: 3, proposers: 2, learners: 1,
      roleEnv: {
        proposer: {
          SYNOD_ELECTION_TICKS: '20', SYNOD_RETRY_TICKS: '10',
          SYNOD_RETAIN_VOTES: String(RETAIN_VOTES), SYNOD_RETAIN_DECIDED: String(RETAIN_DECIDED),
          // Every acceptor votes on every slot here, so that each one's compaction can be
          // checked exactly; with thrifty accepts (the default) one acceptor may sit idle:
          // thrifty.test.ts covers compaction and votes under it.
          SYNOD_THRIFTY: 'false',
        },
      },
    });
    cl = await client(cluster);
  });
  afterAll(async () => {
    await cl?.close();
    await cluster?.stop();
  });

  /** An acceptor's Redis as it is: HLEN of the votes hash, the floor key, the lowest field. */
  function votes(id: string): { hlen: number; floor: number; lowest: number } {
    const port = cluster.node(id).redis?.port as number;
    const k = acceptorKeys(cluster.cluster, id);
    const fields = redisCli(port, 'HKEYS', k.accepted).split('\n').filter((f) => f !== '')
      .map(Number);
    return {
      hlen: Number(redisCli(port, 'HLEN', k.accepted)),
      floor: Number(redisCli(port, 'GET', k.floor) || '0'),
      lowest: fields.length === 0 ? Infinity : Math.min(...fields),
    };
  }

  async function status(id: string): Promise<Record<string, unknown>> {
    return JSON.parse((await cluster.health(id, '/status')).body) as Record<string, unknown>;
  }

  /** Waits until learner `id` delivered every acknowledged slot; returns its log. */
  const caughtUp = (id: string, timeoutMs?: number): Promise<Map<number, Value>> =>
    deliveredAll(cluster, acked, id, timeoutMs);

  test('acceptors keep far fewer votes than decided slots; floor <= what learners delivered',
    async () => {
      const out = await proposeAll(cl, values('c1', 300), 1);
      acked.push(...out);
      expect(out.filter((o) => !o.ok)).toEqual([]);
      const l1 = await caughtUp('l1');
      const decided = l1.size;
      expect(decided).toBeGreaterThanOrEqual(300);
      expect(lostAcks(acked, l1)).toEqual([]);
      for (const id of cluster.acceptorIds) {
        const v = votes(id);
        // The last accepts carried the leader's point: min(decided, l1's delivery) - 20.
        expect(v.floor).toBeGreaterThan(RETAIN_DECIDED);
        expect(v.floor).toBeLessThanOrEqual(decided - RETAIN_VOTES);
        expect(v.hlen).toBeLessThan(decided / 4);
        // Exactly the votes at or above the floor are left.
        expect(v.lowest).toBeGreaterThanOrEqual(v.floor);
        expect(v.hlen).toBe(decided - v.floor);
        const s = await acceptorState(cluster, id);
        expect(s.floor).toBe(v.floor);
        expect(s.accepted.every((e) => e.slot >= v.floor)).toBe(true);
        process.stdout.write(`compaction: ${id} holds ${v.hlen} vote fields for ${decided} ` +
          `decided slots; floor ${v.floor}; l1 delivered ${decided}\n`);
      }
    });

  test('a new learner catches up to the identical log; below the floor only l1 holds it',
    async () => {
      const floor = Math.min(...cluster.acceptorIds.map((id) => votes(id).floor));
      const l1Before = await learnerLog(cluster, 'l1');
      // With l1 paused, l2 can learn nothing below the floor: the acceptors dropped those
      // votes and the proposers keep only their last 100 decided slots.
      const sentBefore = Number((await status('l1'))['sent']);
      await cluster.kill('l1', 'SIGSTOP');
      try {
        await cluster.addNode('learner', 'l2');
        await cluster.waitReady(['l2']);
        await sleep(1500);
        const st = await status('l2');
        expect(st['nextSlot']).toBe(0);
        expect(st['highestKnown']).toBeGreaterThanOrEqual(l1Before.size - 1);
      } finally {
        await cluster.kill('l1', 'SIGCONT');
      }
      const l2 = await caughtUp('l2', 30_000);
      const l1 = await learnerLog(cluster, 'l1');
      const n = Math.min(l1.size, l2.size);
      expect(n).toBeGreaterThanOrEqual(l1Before.size);
      expect([...l2].slice(0, n)).toEqual([...l1].slice(0, n));
      expect([...l2.keys()].slice(0, n)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(lostAcks(acked, l2)).toEqual([]);
      // l1 sent at least one addressed `chosen` per slot below the floor, besides its progress
      // reports (one every 5 ticks); but not one full answer per repeat of l2's request that
      // queued up while l1 was paused (some 14 repeats of 256 slots: about 3,700 messages).
      const sent = Number((await status('l1'))['sent']) - sentBefore;
      expect(sent).toBeGreaterThanOrEqual(floor);
      expect(sent).toBeLessThan(5 * l1Before.size);
      process.stdout.write(`compaction: l2 (fresh Redis) caught up to ${l2.size} slots ` +
        `identical to l1; the ${floor} slots below the floor came from l1 (l1 sent ${sent} ` +
        'messages meanwhile)\n');
    });

  test('kill -9 of an acceptor after compaction: the cluster decides on; on restart it ' +
    'reloads its floor and keeps voting, and compacts further', async () => {
    const before = votes('a2');
    expect(before.floor).toBeGreaterThan(0);
    await cluster.kill('a2', 'SIGKILL');
    const during = await proposeAll(cl, values('c2', 100), 2);
    acked.push(...during);
    expect(during.filter((o) => !o.ok)).toEqual([]);
    // Its Redis kept the floor; the restarted process loads only the votes at or above it.
    expect(votes('a2')).toEqual(before);
    await cluster.restart('a2');
    await cluster.waitReady(['a2']);
    const st = await status('a2');
    expect(st['voting']).toBe(true);
    expect(st['acceptedSlots']).toBe(before.hlen);
    expect((await acceptorState(cluster, 'a2')).floor).toBe(before.floor);
    // With a1 down, a2 is in every majority: decisions need its vote.
    await cluster.kill('a1', 'SIGKILL');
    const after = await proposeAll(cl, values('c3', 150), 1);
    acked.push(...after);
    expect(after.filter((o) => !o.ok)).toEqual([]);
    const l1 = await caughtUp('l1');
    const l2 = await caughtUp('l2');
    const n = Math.min(l1.size, l2.size);
    expect([...l2].slice(0, n)).toEqual([...l1].slice(0, n));
    expect(lostAcks(acked, l1)).toEqual([]);
    const applied = appliedPayloads(l1);
    expect(new Set(applied).size).toBe(applied.length);
    expect(applied.length).toBe(acked.length);
    const now = votes('a2');
    expect(now.floor).toBeGreaterThan(before.floor);
    expect(now.lowest).toBeGreaterThanOrEqual(now.floor);
    expect(now.floor).toBeLessThanOrEqual(l1.size - RETAIN_VOTES);
    expect(now.hlen).toBeLessThan(l1.size / 4);
    process.stdout.write(`compaction: a2 killed at floor ${before.floor} (${before.hlen} ` +
      `votes), restarted with the same floor; with a1 down it voted on to floor ${now.floor} ` +
      `(${now.hlen} votes) of ${l1.size} decided slots\n`);
  });

  test('a proposer restarted with no memory leads from the floor the promises report',
    async () => {
      const lastSlot = Math.max(...acked.map((o) => (o.ok ? o.slot : 0)));
      const floor = Math.max(votes('a2').floor, votes('a3').floor);
      // p2 gone, p1 kill -9 and restarted: its first prepare starts at slot 0, below every
      // acceptor's floor (a1 is still down: a2 and a3 are the majority).
      await cluster.kill('p2', 'SIGKILL');
      await cluster.restart('p1');
      await cluster.waitReady(['p1']);
      const out = await proposeAll(cl, values('c4', 50), 1);
      acked.push(...out);
      expect(out.filter((o) => !o.ok)).toEqual([]);
      // Nothing was proposed below the floor: the new values sit after every older slot.
      expect(Math.min(...out.map((o) => (o.ok ? o.slot : -1)))).toBeGreaterThan(lastSlot);
      const l1 = await caughtUp('l1');
      const l2 = await caughtUp('l2');
      const n = Math.min(l1.size, l2.size);
      expect([...l2].slice(0, n)).toEqual([...l1].slice(0, n));
      expect(lostAcks(acked, l1)).toEqual([]);
      expect(lostAcks(acked, l2)).toEqual([]);
      const applied = appliedPayloads(l1);
      expect(new Set(applied).size).toBe(applied.length);
      expect(applied.length).toBe(acked.length);
      process.stdout.write(`compaction: p1 restarted empty with the acceptors' floor at ` +
        `${floor}, decided ${out.length} values at slots ${lastSlot + 1}..; ` +
        `${acked.length} values acknowledged in all, none lost, logs identical\n`);
    });
});
