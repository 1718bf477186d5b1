/**
 * What the cores put in one message must fit the wire (1 MiB by default): a slot's value and
 * a promise's report are bounded by bytes as well as by count. A value or a report too large
 * to encode is dropped by the driver and retried forever: the log, or the election, wedges.
 */
import {
  AcceptorCore,
  type AcceptedEntry,
  type Command,
  commandWireBytes,
  DEFAULT_WIRE_BUDGET_BYTES,
  entryWireBytes,
  type Message,
  type MsgPromise,
  type Value,
  valueWireBytes,
} from '../src/index.js';
import { bal, cmd, drain, electWith, newProposer, ofType, request } from './helpers.js';

/** What the codec's JSON of `x` takes in UTF-8 (without its envelope). */
const jsonBytes = (x: unknown): number => Buffer.byteLength(JSON.stringify(x), 'utf8');
/** The default wire: 1 MiB, of which the envelope may take a few hundred bytes. */
const WIRE_BYTES = 1024 * 1024;

function leader(overrides: Parameters<typeof newProposer>[2] = {}): ReturnType<typeof newProposer> {
  const p = newProposer('p1', ['a1', 'a2', 'a3'], overrides);
  electWith(p, ['a1', 'a2']);
  expect(p.role).toBe('leader');
  drain(p);
  return p;
}

function proposedValues(ms: readonly Message[]): Value[] {
  return ofType(ms, 'accept').map((m) => m.value);
}

function commandsOf(vs: readonly Value[]): Command[] {
  return vs.flatMap((v) => (v.kind === 'cmds' ? [...v.cmds] : []));
}

describe('wire size: estimates', () => {
  test('a command\'s estimate is the bytes of its JSON, escapes and multi-byte text included',
    () => {
      const payloads = ['', 'plain', '"quoted" \\ back', '\u0001\u0002\n\t\u001f', 'é ß ü',
        '中文字符', '😀🎉', 'x'.repeat(1000), '\u0000'.repeat(1000)];
      for (const payload of payloads) {
        const c = { clientId: 'client-1', seq: 12345, payload };
        expect(commandWireBytes(c)).toBe(jsonBytes(c));
      }
    });

  test('a value\'s and an entry\'s estimates are at least the bytes of their JSON', () => {
    const cs = [cmd('c1', 1, '\u0001'.repeat(500)), cmd('c2', 2, '😀'.repeat(300))];
    const v: Value = { kind: 'cmds', cmds: cs, stamp: Number.MAX_SAFE_INTEGER };
    expect(valueWireBytes(v)).toBeGreaterThanOrEqual(jsonBytes(v));
    const e: AcceptedEntry = {
      slot: Number.MAX_SAFE_INTEGER, value: v,
      ballot: { round: Number.MAX_SAFE_INTEGER, proposer: 'p'.repeat(64),
        incarnation: Number.MAX_SAFE_INTEGER },
    };
    expect(entryWireBytes(e)).toBeGreaterThanOrEqual(jsonBytes(e) + 1);
  });
});

describe('wire size: a slot\'s value is bounded by bytes (bug: 40 x 60 KB wedged the log)', () => {
  test('40 queued commands of 60 KB take several slots, each of which fits a message, and a ' +
    'small command after them is proposed too', () => {
    const p = leader({ maxBatch: 256, maxInflight: 64 });
    const big = Array.from({ length: 40 }, (_, i) => cmd('c1', i + 1, 'x'.repeat(60_000)));
    p.stepMany(big.map((c) => request('c1', c)));
    const values = proposedValues(drain(p).messages);
    expect(values.length).toBeGreaterThan(1);
    for (const v of values) expect(jsonBytes(v)).toBeLessThan(WIRE_BYTES - 4096);
    expect(commandsOf(values)).toEqual(big);
    p.step(request('c2', cmd('c2', 1, 'small')));
    expect(commandsOf(proposedValues(drain(p).messages))).toEqual([cmd('c2', 1, 'small')]);
  });

  test('payloads of control characters, six times their size in JSON, are counted as such',
    () => {
      const p = leader({ maxBatch: 256, maxInflight: 64 });
      const big = Array.from({ length: 10 }, (_, i) => cmd('c1', i + 1, '\u0001'.repeat(60_000)));
      p.stepMany(big.map((c) => request('c1', c)));
      const values = proposedValues(drain(p).messages);
      for (const v of values) {
        expect(valueWireBytes(v)).toBeLessThanOrEqual(DEFAULT_WIRE_BUDGET_BYTES);
        expect(jsonBytes(v)).toBeLessThan(WIRE_BYTES - 4096);
      }
      // 360 KB each in JSON: two per slot.
      expect(values.map((v) => (v.kind === 'cmds' ? v.cmds.length : 0))).toEqual([2, 2, 2, 2, 2]);
      expect(commandsOf(values)).toEqual(big);
    });

  test('a command larger than maxValueBytes still gets a slot, alone', () => {
    const p = leader({ maxBatch: 8, maxInflight: 8, maxValueBytes: 200 });
    const cs = [cmd('c1', 1, 'y'.repeat(300)), cmd('c1', 2, 'a'), cmd('c1', 3, 'b'),
      cmd('c1', 4, 'z'.repeat(300))];
    p.stepMany(cs.map((c) => request('c1', c)));
    const values = proposedValues(drain(p).messages);
    expect(values.map((v) => (v.kind === 'cmds' ? v.cmds.map((c) => c.seq) : [])))
      .toEqual([[1], [2, 3], [4]]);
  });
});

describe('wire size: a promise is paged by bytes (bug: 1200 x 1 KB votes blocked elections)',
  () => {
  const b0 = bal(1, 'p0');
  const votes = (): AcceptedEntry[] => Array.from({ length: 1200 }, (_, slot) => ({
    slot, ballot: b0,
    value: { kind: 'cmds' as const, cmds: [cmd('c1', slot + 1, 'v'.repeat(1024))] },
  }));

  test('an acceptor\'s promise over 1200 votes of 1 KB is a page that fits a message', () => {
    const a = new AcceptorCore({ id: 'a1' }, { promised: b0, accepted: votes() });
    a.step({ type: 'prepare', from: 'p1', ballot: bal(2, 'p1'), fromSlot: 0 });
    const [p] = ofType(drain(a).messages, 'promise');
    expect(p).toBeDefined();
    const page = p as MsgPromise;
    expect(jsonBytes(page)).toBeLessThan(WIRE_BYTES - 1024);
    expect(page.accepted.length).toBeGreaterThan(0);
    expect(page.upTo).toBe(page.accepted.length);
  });

  test('a vote larger than maxPromiseBytes still goes, alone in its page', () => {
    const a = new AcceptorCore({ id: 'a1', maxPromiseBytes: 10 }, {
      promised: b0, accepted: votes().slice(0, 3),
    });
    a.step({ type: 'prepare', from: 'p1', ballot: bal(2, 'p1'), fromSlot: 1 });
    const [p] = ofType(drain(a).messages, 'promise');
    expect(p?.accepted.map((e) => e.slot)).toEqual([1]);
    expect(p?.upTo).toBe(2);
  });

  test('a candidate asks page after page of byte-paged reports, leads, and re-proposes every ' +
    'vote reported', () => {
    const acceptors = ['a1', 'a2', 'a3'].map((id) =>
      new AcceptorCore({ id }, { promised: b0, accepted: votes() }));
    const p = newProposer('p1', ['a1', 'a2', 'a3'], { maxInflight: 2000 });
    p.campaign();
    let out = drain(p).messages;
    let pages = 0;
    let proposed: Message[] = [];
    const leads = (): boolean => p.role === 'leader';
    for (let round = 0; round < 20 && !leads(); round++) {
      const next: Message[] = [];
      for (const m of out) {
        if (m.type !== 'prepare') continue;
        for (const a of acceptors) {
          a.step(m);
          for (const r of drain(a).messages) {
            expect(jsonBytes(r)).toBeLessThan(WIRE_BYTES - 1024);
            pages++;
            p.step(r);
            const emitted = drain(p).messages;
            next.push(...emitted);
            if (leads()) proposed = [...proposed, ...emitted];
          }
        }
      }
      out = next;
    }
    expect(p.role).toBe('leader');
    expect(pages).toBeGreaterThan(3);
    const accepts = ofType(proposed, 'accept');
    expect(accepts.map((m) => m.slot)).toEqual(votes().map((e) => e.slot));
    expect(accepts.map((m) => m.value)).toEqual(votes().map((e) => e.value));
  });
});
