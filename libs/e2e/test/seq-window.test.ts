import { SEQ_WINDOW, SynodClient, SynodStaleSeqError } from '@synod/client';
import {
  decode,
  encode,
  encodeApi,
  ERROR_HEADER,
  type LogEntry,
  proposeSubject,
} from '@synod/codec';
import type { LocalCluster } from '@synod/testing';
import { connectNats, type NatsTransport } from '@synod/transport-nats';
import {
  eventually,
  learnerLog,
  lostAcks,
  type Outcome,
  proposeAll,
  startCluster,
  values,
} from './harness.js';

/**
 * The client's seq window on real processes (docs/decisions/002-dedupe-at-apply.md): the
 * learners' deduplicator keeps a floor per client plus at most 4096 seqs above it, so a seq
 * decided after more than 4096 later seqs of its client would be acknowledged as chosen and
 * skipped by every application. A retry that far back is refused instead, and concurrent
 * proposals past the window all resolve and all take effect. Seq 0 (always counted as seen) is
 * refused by the proposers.
 */
describe('seq window and seq 0, real processes', () => {
  let cluster: LocalCluster;
  let raw: NatsTransport;

  beforeAll(async () => {
    cluster = await startCluster({ acceptors: 3, proposers: 1, learners: 1 });
    raw = await connectNats({ servers: cluster.natsUrl });
  });
  afterAll(async () => {
    await raw?.close();
    await cluster?.stop();
  });

  const connect = (clientId: string, nextSeq: number): Promise<SynodClient> =>
    SynodClient.connect({
      servers: cluster.natsUrl, cluster: cluster.cluster, timeoutMs: 60_000, clientId, nextSeq,
    });

  /** Every decided entry of the learners' answers from slot 0 below `upTo`, with `dups`. */
  async function entries(cl: SynodClient, upTo: number): Promise<LogEntry[]> {
    const out: LogEntry[] = [];
    let from = 0;
    while (from < upTo) {
      const r = await cl.readRange(from, 1000);
      if (r.entries.length === 0) {
        await new Promise((res) => setTimeout(res, 50));
        continue;
      }
      out.push(...r.entries);
      from = (r.entries[r.entries.length - 1] as LogEntry).slot + 1;
    }
    return out;
  }

  const withDups = (es: readonly LogEntry[]): string[] => es
    .filter((e) => (e.dups?.length ?? 0) > 0).map((e) => `${e.slot}: ${JSON.stringify(e.dups)}`);

  const lastSlot = (outs: readonly Outcome[]): number =>
    Math.max(...outs.map((o) => (o.ok ? o.slot : -1)));

  test('the reported scenario: nextSeq 2, 4097 proposals by 64 workers, then retry of seq 1 ' +
    'is refused with STALE_SEQ; every acknowledged command is applied (no dups)', async () => {
    const cl = await connect('window-1', 2);
    try {
      const outs = await proposeAll(cl, values('w', 4097), 64);
      expect(outs.filter((o) => !o.ok)).toEqual([]);
      expect(cl.nextSeq).toBe(4099);
      const e = await cl.retry({ clientId: 'window-1', seq: 1, payload: 'lost?' })
        .catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SynodStaleSeqError);
      expect(e).toMatchObject({ code: 'STALE_SEQ', seq: 1 });
      expect((e as Error).message).toMatch(/stays unknown/);
      // Nothing was proposed for it: a later command lands right after the others.
      const after = await cl.propose('after-refusal');
      expect(after.seq).toBe(4099);
      const es = await entries(cl, after.slot + 1);
      expect(withDups(es)).toEqual([]);
      const cmds = es.flatMap((x) => (x.value.kind === 'cmds' ? x.value.cmds : []))
        .filter((c) => c.clientId === 'window-1');
      expect(cmds.filter((c) => c.seq === 1)).toEqual([]);
      expect(cmds).toHaveLength(4098);
      await eventually(async () => (await learnerLog(cluster, 'l1')).size > lastSlot(outs));
      expect(lostAcks(outs, await learnerLog(cluster, 'l1'))).toEqual([]);
    } finally {
      await cl.close();
    }
  });

  test('far more concurrent proposals than the window, started at once: none is sent while ' +
    'a seq the window or more below it is unsettled; all resolve, each applied once, no dups',
  async () => {
    const cl = await connect('window-2', 1);
    try {
      const n = SEQ_WINDOW * 2 + 500;
      // On the bus: how far past the lowest unsettled seq of the client any sent seq was.
      const settled = new Set<number>();
      let low = 1;
      let spread = 0;
      const dec = new TextDecoder();
      const see = (cmds: readonly { clientId: string; seq: number }[]): void => {
        while (settled.has(low)) low++;
        for (const c of cmds) if (c.clientId === 'window-2') spread = Math.max(spread, c.seq - low);
      };
      const subs = [
        raw.subscribe(proposeSubject(cluster.cluster), (m) => {
          see((JSON.parse(dec.decode(m.data)) as { cmds: { clientId: string; seq: number }[] })
            .cmds);
        }),
        raw.subscribe(`synod.${cluster.cluster}.request.window-2`, (m) => {
          see([(JSON.parse(dec.decode(m.data)) as { cmd: { clientId: string; seq: number } })
            .cmd]);
        }),
      ];
      await raw.flush();
      const outs: Outcome[] = await Promise.all(values('burst', n).map((payload) =>
        cl.propose(payload).then((p): Outcome => {
          settled.add(p.seq);
          return { ok: true, slot: p.slot, payload };
        }, (e: unknown): Outcome => ({ ok: false, code: String(e), payload }))));
      for (const sub of subs) sub.unsubscribe();
      expect(outs.filter((o) => !o.ok)).toEqual([]);
      expect(cl.nextSeq).toBe(n + 1);
      expect(spread).toBeGreaterThan(SEQ_WINDOW / 2); // the window was used, and
      expect(spread).toBeLessThan(SEQ_WINDOW); // never exceeded
      const es = await entries(cl, lastSlot(outs) + 1);
      expect(withDups(es)).toEqual([]);
      const seqs = es.flatMap((x) => (x.value.kind === 'cmds' ? x.value.cmds : []))
        .filter((c) => c.clientId === 'window-2').map((c) => c.seq);
      expect(new Set(seqs).size).toBe(n);
      expect(lostAcks(outs, await learnerLog(cluster, 'l1'))).toEqual([]);
    } finally {
      await cl.close();
    }
  });

  test('seq 0 from a raw client: a batch is refused with decode:BAD_FIELD, a single request ' +
    'is refused (no answer), and nothing is proposed', async () => {
    const rejected = async (): Promise<number> => (JSON.parse(
      (await cluster.health('p1', '/status')).body) as { rejectedBy: Record<string, number> })
      .rejectedBy['decode:BAD_FIELD'] ?? 0;
    const before = await rejected();
    const subject = proposeSubject(cluster.cluster);
    const r = await raw.request(subject,
      encodeApi({ cmds: [{ clientId: 'zero-1', seq: 0, payload: 'never' }] }), { timeoutMs: 5000 });
    expect(r.headers[ERROR_HEADER]).toBe('decode:BAD_FIELD');
    expect(new TextDecoder().decode(r.data)).toMatch(/cmds\[0\]\.seq/);
    // A single request, hand-made (the encoder itself refuses to write seq 0).
    const good = JSON.parse(new TextDecoder().decode(encode({
      type: 'request', from: 'zero-1', cmd: { clientId: 'zero-1', seq: 1, payload: 'x' },
    }))) as { cmd: { seq: number } };
    good.cmd.seq = 0;
    const single = await raw.request(`synod.${cluster.cluster}.request.zero-1`,
      new TextEncoder().encode(JSON.stringify(good)), { timeoutMs: 1500 })
      .then((m) => decode(m.data), (e: unknown) => e);
    expect(single).toBeInstanceOf(Error); // no response: refused at decode
    expect(await rejected()).toBe(before + 2);
    const cl = await connect('zero-check', 1);
    try {
      const next = await cl.propose('after-zero');
      await eventually(async () => (await learnerLog(cluster, 'l1')).size > next.slot);
      const fromZero = [...(await learnerLog(cluster, 'l1')).values()]
        .flatMap((v) => (v.kind === 'cmds' ? v.cmds : [])).filter((c) => c.clientId === 'zero-1');
      expect(fromZero).toEqual([]);
    } finally {
      await cl.close();
    }
  });
});
