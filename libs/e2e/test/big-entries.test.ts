import type { SynodClient } from '@synod/client';
import {
  DEFAULT_LIMITS,
  decodeLogEvent,
  encodeApi,
  type LogEntry,
  logSubject,
  readSubject,
} from '@synod/codec';
import type { LocalCluster } from '@synod/testing';
import { connectNats, type NatsTransport } from '@synod/transport-nats';
import {
  client,
  eventually,
  type Outcome,
  proposeAll,
  serviceTails,
  startCluster,
} from './harness.js';

/**
 * Commands near the payload limit (60 KB of the 64 KiB a command may carry) with real
 * processes: a read of 1000 entries, or a catching-up learner delivering several full slots at
 * once, makes more than the 1 MiB a NATS message may carry. The learner answers and publishes
 * them in pieces instead of dying, and readers and watchers still see every entry once.
 */

const BIG = 60_000;
const big = (prefix: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}-${i}-`.padEnd(BIG, 'x'));

describe('big entries with real processes', () => {
  let cluster: LocalCluster;
  let cl: SynodClient;
  let raw: NatsTransport;
  /** Every log event l1 published: its size and its entries' slots. */
  const events: { bytes: number; slots: number[] }[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ acceptors: 3, proposers: 1, learners: 1 });
    cl = await client(cluster, 20_000);
    raw = await connectNats({ servers: cluster.natsUrl });
    raw.subscribe(logSubject(cluster.cluster, 'l1'), (m) => {
      const slots = decodeLogEvent(m.data).entries.map((e) => e.slot);
      events.push({ bytes: m.data.byteLength, slots });
    });
  });
  afterAll(async () => {
    await raw?.close();
    await cl?.close();
    await cluster?.stop();
  });

  async function status(): Promise<Record<string, unknown>> {
    return JSON.parse((await cluster.health('l1', '/status')).body) as Record<string, unknown>;
  }

  const running = (): boolean => cluster.node('l1').proc?.running() === true;

  /** Waits until l1 delivered every acknowledged slot; fails with its output if it died. */
  async function delivered(acked: readonly Outcome[]): Promise<number> {
    const last = Math.max(...acked.map((o) => (o.ok ? o.slot : -1)));
    await eventually(async () => {
      if (!running()) throw new Error(`l1 died:\n${serviceTails(cluster, ['l1'], 30)}`);
      try {
        return ((await status())['nextSlot'] as number) > last;
      } catch {
        return false;
      }
    }, 30_000, `l1 to deliver slot ${last}`);
    return last;
  }

  /** Every entry from slot 0 through `last`, as a watch from 0 yields them. */
  async function watchAll(last: number): Promise<LogEntry[]> {
    const ac = new AbortController();
    const out: LogEntry[] = [];
    const timer = setTimeout(() => ac.abort(), 30_000);
    try {
      for await (const e of cl.watch(0, { signal: ac.signal })) {
        out.push(e);
        if (e.slot >= last) break;
      }
    } finally {
      clearTimeout(timer);
    }
    return out;
  }

  test('a read of 1000 entries over 1 MiB is answered in pages; the learner lives', async () => {
    const acked = await proposeAll(cl, big('read', 20), 4);
    expect(acked.filter((o) => !o.ok)).toEqual([]);
    const last = await delivered(acked);

    // The request of the brief, as a client SDK's watch makes it.
    const r = await cl.readRange(0, 1000);
    expect(r.entries.length).toBeGreaterThan(0);
    expect(r.entries.length).toBeLessThanOrEqual(last + 1);
    expect(encodeApi(r).byteLength).toBeLessThanOrEqual(DEFAULT_LIMITS.maxMessageBytes);
    expect(r.entries.map((e) => e.slot)).toEqual(r.entries.map((_, i) => i));
    expect(r.nextSlot).toBe(last + 1);

    const all = await watchAll(last);
    expect(all.map((e) => e.slot)).toEqual(Array.from({ length: last + 1 }, (_, i) => i));
    const payloads = all.flatMap((e) => (e.value.kind === 'cmds'
      ? e.value.cmds.map((c) => c.payload.slice(0, 12)) : []));
    expect(payloads.filter((p) => p.startsWith('read-'))).toHaveLength(20);
    expect(running()).toBe(true);
  });

  test('a read with no reply subject is refused before reading, and counted', async () => {
    raw.publish(readSubject(cluster.cluster), encodeApi({ fromSlot: 0, limit: 1000 }));
    await raw.flush();
    await eventually(async () =>
      ((await status())['rejectedBy'] as Record<string, number>)['read:NO_REPLY'] === 1,
    10_000, 'read:NO_REPLY to be counted');
    expect(running()).toBe(true);
  });

  test('a learner catching up on 3 slots of 16 commands of 60 KB publishes them and lives',
    async () => {
      await cluster.kill('l1');
      const acked = await proposeAll(cl, big('catchup', 48), 16);
      expect(acked.filter((o) => !o.ok)).toEqual([]);
      const first = Math.min(...acked.map((o) => (o.ok ? o.slot : Infinity)));
      events.length = 0;
      await cluster.restart('l1');
      await cluster.waitReady(['l1']);
      const last = await delivered(acked);
      // It stays up, and its events cover every slot it delivered, in order, once each.
      await new Promise((r) => setTimeout(r, 500));
      expect(running()).toBe(true);
      const slots = events.flatMap((e) => e.slots).filter((s) => s >= first && s <= last);
      expect(slots).toEqual(Array.from({ length: last - first + 1 }, (_, i) => first + i));
      for (const e of events) expect(e.bytes).toBeLessThanOrEqual(DEFAULT_LIMITS.maxMessageBytes);
      const out = cluster.node('l1').proc?.output(200) ?? '';
      expect(out).not.toContain('persist failed');

      const all = await watchAll(last);
      expect(all.map((e) => e.slot)).toEqual(Array.from({ length: last + 1 }, (_, i) => i));
    });
});
