import * as fc from 'fast-check';
import { DEDUPE_MAX_CLIENTS, type DedupeSnapshot, Deduplicator } from '../src/index.js';

type Cmd = { clientId: string; seq: number };
const cmd = (clientId: string, seq: number): Cmd => ({ clientId, seq });

/** The indexes of `log` that a fresh deduplicator with these bounds marks as duplicates. */
function dups(log: readonly { clientId: string; seq: number }[],
  bounds?: { maxClients?: number; maxSeqs?: number }, window?: number): number[] {
  const d = new Deduplicator(window, bounds);
  return log.flatMap((c, i) => (d.admit(c) ? [] : [i]));
}

describe('Deduplicator', () => {
  test('the first copy takes effect, later copies do not, out of order included', () => {
    const d = new Deduplicator();
    expect(d.admit(cmd('a', 2))).toBe(true);
    expect(d.admit(cmd('a', 1))).toBe(true);
    expect(d.admit(cmd('a', 2))).toBe(false);
    expect(d.admit(cmd('a', 1))).toBe(false);
    expect(d.admit(cmd('a', 3))).toBe(true);
    expect(d.admit(cmd('b', 1))).toBe(true);
    expect(d.stats).toEqual({ clients: 2, seqs: 0, forgotten: 0 });
  });

  test('clients are bounded in total: 170,000 one-command clients keep at most maxClients', () => {
    const d = new Deduplicator();
    for (let i = 0; i < 170_000; i++) d.admit(cmd(`c-${i}`, 1));
    expect(d.size).toBe(DEDUPE_MAX_CLIENTS);
    expect(d.stats.forgotten).toBe(170_000 - DEDUPE_MAX_CLIENTS);
  });

  test('remembered seqs are bounded in total', () => {
    const d = new Deduplicator(100, { maxSeqs: 1000 });
    // Every client skips seq 1, so each keeps its seqs above the floor.
    for (let c = 0; c < 100; c++) for (let s = 2; s <= 51; s++) d.admit(cmd(`c-${c}`, s));
    expect(d.stats.seqs).toBeLessThanOrEqual(1000);
    expect(d.stats.seqs).toBeGreaterThan(900);
    expect(d.size).toBeLessThanOrEqual(20);
  });

  test('a copy with fewer than maxClients commands between it and the first is caught', () => {
    const n = 50;
    const log = [cmd('x', 1)];
    for (let i = 0; i < n - 1; i++) log.push(cmd(`other-${i}`, 1));
    log.push(cmd('x', 1));
    expect(dups(log, { maxClients: n })).toEqual([n]);
    // One more client in between and x was forgotten: the copy takes effect again.
    log.splice(1, 0, cmd('one-more', 1));
    expect(dups(log, { maxClients: n })).toEqual([]);
  });

  test('the least recently seen client is forgotten, a duplicate counting as seen', () => {
    const log = [cmd('a', 1), cmd('b', 1), cmd('a', 1), cmd('c', 1), cmd('a', 1), cmd('b', 1)];
    // a's duplicate at 2 makes a recent; c then evicts b, whose copy at 5 takes effect again.
    expect(dups(log, { maxClients: 2 })).toEqual([2, 4]);
  });

  test('past maxSeqs only clients with gaps are forgotten, never the ordinary ones', () => {
    const d = new Deduplicator(4, { maxClients: 100_000, maxSeqs: 10 });
    // A thousand ordinary clients and X (the least recent), then four clients first seen past
    // their seq 1 (gaps: 4 seqs each above a floor of 0): the third and fourth tip maxSeqs.
    for (let i = 0; i < 1000; i++) d.admit(cmd(`c${i}`, 1));
    expect(d.admit(cmd('x', 1))).toBe(true);
    for (const g of ['g1', 'g2', 'g3', 'g4']) for (let q = 2; q <= 5; q++) d.admit(cmd(g, q));
    expect(d.stats.seqs).toBeLessThanOrEqual(10);
    // Only g1 and g2 (the least recent with gaps) went; X and the thousand are remembered.
    expect(d.stats.forgotten).toBe(2);
    expect(d.admit(cmd('x', 1))).toBe(false);
    expect(d.admit(cmd('c0', 1))).toBe(false);
    expect(d.admit(cmd('g3', 3))).toBe(false);
    expect(d.admit(cmd('g1', 3))).toBe(true); // forgotten: its copy takes effect again
  });

  test('the marks are a function of the log alone: a rebuild computes the same marks', () => {
    let x = 12345;
    const rnd = (k: number): number => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return x % k;
    };
    const log = Array.from({ length: 20_000 }, () => cmd(`c-${rnd(400)}`, 1 + rnd(60)));
    const first = dups(log, { maxClients: 150, maxSeqs: 2000 }, 50);
    expect(first.length).toBeGreaterThan(0);
    expect(dups(log, { maxClients: 150, maxSeqs: 2000 }, 50)).toEqual(first);
  });
});

describe('Deduplicator snapshots', () => {
  // Commands of a few clients, seqs mostly in order with repeats and gaps, so that floors move,
  // seqs pile up above them, and the small bounds below forget clients of both kinds.
  const arbLog = fc.array(fc.record({
    clientId: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'),
    seq: fc.integer({ min: 1, max: 24 }),
  }), { maxLength: 200 });

  test('restored from a snapshot (through JSON), a deduplicator admits and forgets exactly ' +
    'as the original does, from any point of any log', () => {
    fc.assert(fc.property(arbLog, fc.nat(), fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 2, max: 9 }), (log, cut0, maxClients, window) => {
        const bounds = { maxClients, maxSeqs: window + 3 };
        const cut = cut0 % (log.length + 1);
        const whole = new Deduplicator(window, bounds);
        const head = log.slice(0, cut).map((c) => whole.admit(c));
        const snap = JSON.parse(JSON.stringify(whole.snapshot())) as DedupeSnapshot;
        const restored = Deduplicator.restore(snap);
        expect(restored.snapshot()).toEqual(whole.snapshot());
        expect(restored.stats).toEqual(whole.stats);
        const tail = log.slice(cut);
        expect(tail.map((c) => restored.admit(c))).toEqual(tail.map((c) => whole.admit(c)));
        expect(restored.snapshot()).toEqual(whole.snapshot());
        expect(head.length).toBe(cut);
      }), { numRuns: 2000, seed: 2026 });
  });

  test('a malformed or inconsistent snapshot is refused, naming what is wrong', () => {
    const good = (): DedupeSnapshot => {
      const d = new Deduplicator(4, { maxClients: 3, maxSeqs: 6 });
      for (const c of [cmd('a', 1), cmd('a', 3), cmd('b', 1)]) d.admit(c);
      return d.snapshot();
    };
    expect(good().clients).toEqual([['a', 1, 3], ['b', 1]]);
    const bad = (patch: Partial<Record<keyof DedupeSnapshot, unknown>>): () => Deduplicator =>
      () => Deduplicator.restore({ ...good(), ...patch } as DedupeSnapshot);
    expect(bad({ window: 0 })).toThrow(/window/);
    expect(bad({ maxClients: 1.5 })).toThrow(/maxClients/);
    expect(bad({ maxSeqs: 2 })).toThrow(/maxSeqs/);
    expect(bad({ forgotten: -1 })).toThrow(/forgotten/);
    expect(bad({ clients: 'x' })).toThrow(/clients must be a list/);
    expect(bad({ clients: [['a', 1], ['b', 1], ['c', 1], ['d', 1]] })).toThrow(/at most 3/);
    expect(bad({ clients: [['a', 1], ['a', 2]] })).toThrow(/listed twice/);
    expect(bad({ clients: [[7, 1]] })).toThrow(/clients\[0\] must be/);
    expect(bad({ clients: [['a']] })).toThrow(/clients\[0\] must be/);
    expect(bad({ clients: [['a', -1]] })).toThrow(/floor/);
    expect(bad({ clients: [['a', 1, 2]] })).toThrow(/above floor \+ 1/);
    expect(bad({ clients: [['a', 1, 5, 4]] })).toThrow(/increasing/);
    expect(bad({ clients: [['a', 1, 3, 4, 5, 6, 7]] })).toThrow(/more than 4 seqs/);
    expect(bad({ clients: [['a', 0, 2, 3, 4, 5], ['b', 0, 2, 3, 4]] })).toThrow(/maxSeqs 6/);
  });
});
