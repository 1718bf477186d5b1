/**
 * A paused leader (SIGSTOP: a hung process, a long GC pause, a frozen VM) keeps its NATS
 * connection, and so its place in the client queue group, until NATS's pings give up on it
 * (minutes with the defaults). About half of all first attempts still land on it and time out.
 * What must not happen is that the retries land there too: after a timeout, the client sends to
 * the leader-only subject, which the new leader answers. Checked on the bus, not by timing:
 * every proposal reaches the queue group at most once.
 */
import type { SynodClient } from '@synod/client';
import { decode, decodeProposeBatch, leaderProposeSubject } from '@synod/codec';
import type { LocalCluster } from '@synod/testing';
import { connectNats } from '@synod/transport-nats';
import { silentLogger, type Transport } from '@synod/runtime';
import { client, eventually, startCluster } from './harness.js';

jest.setTimeout(120_000);

describe('a paused leader', () => {
  let cluster: LocalCluster;
  let cl: SynodClient;
  let sniff: Transport;
  let paused: string | null = null;

  beforeAll(async () => {
    cluster = await startCluster();
    cl = await client(cluster, 15_000);
    sniff = await connectNats({ servers: cluster.natsUrl, name: 'sniffer', logger: silentLogger });
  });
  afterAll(async () => {
    if (paused !== null) await cluster.kill(paused, 'SIGCONT');
    await sniff?.close();
    await cl?.close();
    await cluster?.stop();
  });

  test('after a new leader takes over, a proposal reaches the queue group at most once: its ' +
    'retry goes to the leader-only subject, which the new leader answers', async () => {
    await cl.propose('warm-up');
    const old = (await cl.status()).leader;
    expect(old).not.toBeNull();
    paused = old as string;
    await cluster.kill(paused, 'SIGSTOP');
    await eventually(async () => {
      const l = (await cl.status()).leader;
      return l !== null && l !== paused;
    }, 30_000, 'a new leader');

    const queued = new Map<number, number>();
    const toLeader = new Map<number, number>();
    const bump = (m: Map<number, number>, seq: number): void => {
      m.set(seq, (m.get(seq) ?? 0) + 1);
    };
    const subs = [
      sniff.subscribe(`synod.${cluster.cluster}.request.*`, (m) => {
        const r = decode(m.data);
        if (r.type === 'request' && r.cmd.clientId === cl.clientId) bump(queued, r.cmd.seq);
      }),
      sniff.subscribe(leaderProposeSubject(cluster.cluster), (m) => {
        for (const c of decodeProposeBatch(m.data).cmds) {
          if (c.clientId === cl.clientId) bump(toLeader, c.seq);
        }
      }),
    ];
    await sniff.flush();
    const seqs: number[] = [];
    for (let i = 0; i < 12; i++) seqs.push((await cl.propose(`during-pause-${i}`)).seq);
    for (const s of subs) s.unsubscribe();

    // Each proposal went through the queue group once; those that landed on the paused
    // proposer were answered through the leader-only subject, once each.
    expect(seqs.map((s) => queued.get(s) ?? 0)).toEqual(seqs.map(() => 1));
    expect([...toLeader.values()].every((n) => n === 1)).toBe(true);
    // With two members in the queue group, some first attempts landed on the paused one
    // (all twelve missing it has a chance of 1 in 4,096).
    expect(toLeader.size).toBeGreaterThan(0);
  });
});
