// The client's seq window: no seq outstanding while more than the deduplicator's window of later
// seqs are decided, stale retries refused, seq 0 refused (docs/decisions/002-dedupe-at-apply.md).
import { decode, encode } from '@synod/codec';
import { type Command, DEDUPE_WINDOW, Deduplicator } from '@synod/protocol';
import type { Transport, TransportMessage } from '@synod/runtime';
import {
  SEQ_WINDOW,
  SynodAbortedError,
  SynodClient,
  type SynodClientOptions,
  SynodStaleSeqError,
  SynodTimeoutError,
} from '../src/index.js';
import { Bus, freshCluster } from './bus.js';

jest.setTimeout(60_000);

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

function client(cluster: string, opts: SynodClientOptions = {}): SynodClient {
  return new SynodClient(clientBus, {
    cluster, timeoutMs: 3000, serverName: bus.url, batching: false, ...opts,
  });
}

const key = (c: Command): string => `${c.clientId}#${c.seq}`;

/**
 * A proposer that chooses every command at once, one slot each in arrival order, and applies
 * the log through a real Deduplicator as every application does; a retry is answered with the
 * command's first slot. Requests of seq `hold` are not answered while it is held; it is chosen
 * (at the next slot) when no other request came for `idleMs`, or on `release()`.
 */
function applyingProposer(t: Transport, cluster: string, hold: number | null, idleMs = 300) {
  const dedupe = new Deduplicator();
  const slots = new Map<string, number>();
  const skipped: string[] = [];
  const sent: number[] = [];
  let next = 0;
  let held: { m: TransportMessage; cmd: Command; from: string } | null = null;
  let holding = hold !== null;
  /** Highest seq that arrived while `hold` was still held. */
  let maxSeqWhileHeld = 0;
  let idle: NodeJS.Timeout | undefined;
  const choose = (cmd: Command): number => {
    const k = key(cmd);
    let slot = slots.get(k);
    if (slot === undefined) {
      slot = next++;
      slots.set(k, slot);
      if (!dedupe.admit(cmd)) skipped.push(k);
    }
    return slot;
  };
  const answer = (m: TransportMessage, from: string, cmd: Command): void => {
    t.respond(m, encode({
      type: 'response', from: 'p1', to: from, clientId: cmd.clientId, seq: cmd.seq,
      outcome: { status: 'chosen', slot: choose(cmd) },
    }));
  };
  const release = (): void => {
    holding = false;
    if (held !== null) answer(held.m, held.from, held.cmd);
    held = null;
  };
  const sub = t.subscribe(`synod.${cluster}.request.*`, (m) => {
    const req = decode(m.data);
    if (req.type !== 'request') throw new Error(`not a request: ${req.type}`);
    sent.push(req.cmd.seq);
    if (holding && req.cmd.seq === hold) {
      held = { m, cmd: req.cmd, from: req.from };
      return;
    }
    if (holding) maxSeqWhileHeld = Math.max(maxSeqWhileHeld, req.cmd.seq);
    answer(m, req.from, req.cmd);
    clearTimeout(idle);
    if (holding) idle = setTimeout(release, idleMs);
  }, { queue: `synod-${cluster}-proposers` });
  return {
    skipped, sent, slots, release,
    get maxSeqWhileHeld() {
      return maxSeqWhileHeld;
    },
    stop: () => {
      clearTimeout(idle);
      sub.unsubscribe();
    },
  };
}

/** Proposes `n` values with `workers` concurrent callers of one client; returns the results. */
async function proposeMany(c: SynodClient, n: number, workers: number) {
  const results: { seq: number; slot: number }[] = [];
  let i = 0;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (i < n) {
      i++;
      const p = await c.propose(`v${i}`);
      results.push(p);
    }
  }));
  return results;
}

describe('seq window', () => {
  test('is well below the deduplicator window', () => {
    expect(SEQ_WINDOW).toBe(1024);
    expect(SEQ_WINDOW * 4).toBeLessThanOrEqual(DEDUPE_WINDOW);
  });

  test('a seq outstanding while many later seqs are proposed: never more than the window ' +
    'of them is decided first, and every command answered chosen is applied', async () => {
    const cluster = freshCluster();
    const p = applyingProposer(proposerBus, cluster, 1);
    await proposerBus.flush();
    const c = client(cluster, { timeoutMs: 50_000 });
    const first = c.propose('first'); // seq 1, held by the proposer
    const rest = await proposeMany(c, DEDUPE_WINDOW + 200, 64);
    const one = await first;
    expect(one.seq).toBe(1);
    // While seq 1 was outstanding, no seq SEQ_WINDOW or more past it was started.
    expect(p.maxSeqWhileHeld).toBe(SEQ_WINDOW);
    expect(one.slot).toBeLessThan(SEQ_WINDOW);
    // Every acknowledged command takes effect in the deduplicated log.
    expect(p.skipped).toEqual([]);
    expect(rest).toHaveLength(DEDUPE_WINDOW + 200);
    expect(new Set(rest.map((r) => r.seq)).size).toBe(DEDUPE_WINDOW + 200);
    p.stop();
  });

  test('a proposal past the window waits: it times out (nothing proposed, no seq taken) or ' +
    'aborts, and starts once the oldest settles', async () => {
    const cluster = freshCluster();
    const p = applyingProposer(proposerBus, cluster, 1, 60_000);
    await proposerBus.flush();
    const c = client(cluster, { timeoutMs: 20_000 });
    const first = c.propose('first');
    await proposeMany(c, SEQ_WINDOW - 1, 32); // seqs 2..1024: the window is full
    expect(c.nextSeq).toBe(SEQ_WINDOW + 1);
    const t0 = Date.now();
    const e = await c.propose('late', { timeoutMs: 300 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SynodTimeoutError);
    expect((e as Error).message).toMatch(/nothing was proposed/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const a = await c.propose('late', { signal: ac.signal }).catch((x: unknown) => x);
    expect(a).toBeInstanceOf(SynodAbortedError);
    expect(a).toMatchObject({ outcomeUnknown: false, seq: undefined });
    // An explicit seq ahead of the window waits as well, without moving nextSeq.
    const ahead = c.propose('ahead', { seq: 5000 });
    const waiting = c.propose('waiting');
    await new Promise((r) => setTimeout(r, 200));
    expect(c.nextSeq).toBe(SEQ_WINDOW + 1);
    expect(p.sent.filter((s) => s > SEQ_WINDOW)).toEqual([]);
    p.release();
    await expect(first).resolves.toMatchObject({ seq: 1 });
    // In the order they waited: the explicit seq first (nextSeq moves past it), then the next.
    await expect(ahead).resolves.toMatchObject({ seq: 5000 });
    await expect(waiting).resolves.toMatchObject({ seq: 5001 });
    expect(c.nextSeq).toBe(5002);
    expect(p.skipped).toEqual([]);
    p.stop();
  });

  test('a retry more than the window below nextSeq is refused at once and changes nothing',
    async () => {
      const cluster = freshCluster();
      const p = applyingProposer(proposerBus, cluster, null);
      await proposerBus.flush();
      const c = client(cluster, { nextSeq: 2000, clientId: 'stale-1' });
      const old = 2000 - SEQ_WINDOW - 1;
      const e = await c.retry({ clientId: 'stale-1', seq: old, payload: 'x' })
        .catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SynodStaleSeqError);
      expect(e).toMatchObject({ code: 'STALE_SEQ', clientId: 'stale-1', seq: old, nextSeq: 2000 });
      expect((e as Error).message).toMatch(/stays unknown/);
      expect((e as Error).message).toMatch(/read the log/);
      await expect(c.propose('x', { seq: 1 })).rejects.toBeInstanceOf(SynodStaleSeqError);
      expect(c.nextSeq).toBe(2000);
      expect(p.sent).toEqual([]);
      // Within the window: retried.
      await expect(c.retry({ clientId: 'stale-1', seq: old + 1, payload: 'x' }))
        .resolves.toMatchObject({ seq: old + 1 });
      expect(c.nextSeq).toBe(2000);
      p.stop();
    });

  test('the bug as reported: nextSeq 2, 4097 proposals by 64 workers, then retry of seq 1: ' +
    'refused, where it used to be acknowledged and skipped', async () => {
    const cluster = freshCluster();
    const p = applyingProposer(proposerBus, cluster, null);
    await proposerBus.flush();
    const c = client(cluster, { nextSeq: 2, clientId: 'rep-1' });
    await proposeMany(c, DEDUPE_WINDOW + 1, 64);
    await expect(c.retry({ clientId: 'rep-1', seq: 1, payload: 'lost?' }))
      .rejects.toMatchObject({ code: 'STALE_SEQ' });
    expect(p.sent).not.toContain(1);
    expect(p.skipped).toEqual([]);
    p.stop();
  });

  test('seq 0 is refused: nextSeq 0, propose with seq 0, retry of seq 0', async () => {
    const cluster = freshCluster();
    const p = applyingProposer(proposerBus, cluster, null);
    await proposerBus.flush();
    expect(() => client(cluster, { nextSeq: 0 })).toThrow(RangeError);
    expect(() => client(cluster, { nextSeq: 0 })).toThrow(/nextSeq/);
    const c = client(cluster);
    await expect(c.propose('x', { seq: 0 })).rejects.toThrow(RangeError);
    await expect(c.propose('x', { seq: 0 })).rejects.toThrow(/seq must be .* at least 1/);
    await expect(c.retry({ clientId: c.clientId, seq: 0, payload: 'x' }))
      .rejects.toThrow(RangeError);
    expect(c.nextSeq).toBe(1);
    expect(p.sent).toEqual([]);
    p.stop();
  });
});
