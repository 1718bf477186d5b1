import {
  decodeLogEvent,
  decodeReadReply,
  DEFAULT_LIMITS,
  encodeApi,
  type LogEntry,
  MAX_READ_ENTRIES,
} from '@synod/codec';
import { DEFAULT_WIRE_BUDGET_BYTES, valueWireBytes } from '@synod/protocol';
import { encodeLogEvents, encodeReadReply, MAX_ANSWER_BYTES } from '../src/paging.js';

const MiB = 1024 * 1024;

/** Slot `slot` holding `n` commands of `bytes` payload bytes each. */
function entry(slot: number, n = 1, bytes = 60_000): LogEntry {
  return {
    slot,
    value: {
      kind: 'cmds',
      cmds: Array.from({ length: n }, (_, i) => ({
        clientId: `c-${slot}`, seq: i + 1, payload: 'x'.repeat(bytes),
      })),
    },
    ...(slot % 3 === 0 ? { dups: [0] } : {}),
  };
}

const log = (from: number, n: number, cmds = 1, bytes = 60_000): LogEntry[] =>
  Array.from({ length: n }, (_, i) => entry(from + i, cmds, bytes));

describe('read replies are cut by bytes', () => {
  test('20 commands of 60 KB: one reply of them all is over 1 MiB (killed the learner)', () => {
    const all = log(0, 20);
    expect(encodeApi({ learner: 'l1', nextSlot: 20, entries: all }).byteLength)
      .toBeGreaterThan(MAX_ANSWER_BYTES);
  });

  test('a reply holds the first entries that fit in 1 MiB, and decodes', () => {
    const all = log(0, 20);
    const r = encodeReadReply('l1', 20, all);
    expect(r.data.byteLength).toBeLessThanOrEqual(MAX_ANSWER_BYTES);
    expect(MAX_ANSWER_BYTES).toBe(DEFAULT_LIMITS.maxMessageBytes);
    expect(r.entries).toBeGreaterThan(10);
    expect(r.entries).toBeLessThan(20);
    const d = decodeReadReply(r.data);
    expect(d).toEqual({ learner: 'l1', nextSlot: 20, entries: all.slice(0, r.entries) });
  });

  test('a client paging from the slot after each reply\'s last entry reads everything once', () => {
    const all = log(0, 50);
    const seen: number[] = [];
    let from = 0;
    let replies = 0;
    for (;;) {
      const r = decodeReadReply(encodeReadReply('l1', 50,
        all.slice(from, from + MAX_READ_ENTRIES)).data);
      replies++;
      if (r.entries.length === 0) break;
      for (const e of r.entries) seen.push(e.slot);
      from = (r.entries.at(-1)?.slot ?? from) + 1;
      if (from >= r.nextSlot) break;
    }
    expect(seen).toEqual(all.map((e) => e.slot));
    expect(replies).toBeGreaterThan(2);
  });

  test('small entries are not cut, and an empty read is an empty reply', () => {
    const small = log(0, 1000, 1, 10);
    expect(decodeReadReply(encodeReadReply('l1', 1000, small).data).entries).toHaveLength(1000);
    expect(decodeReadReply(encodeReadReply('l1', 7, []).data))
      .toEqual({ learner: 'l1', nextSlot: 7, entries: [] });
  });

  test('the reply is byte for byte what encodeApi writes when nothing is cut', () => {
    const few = log(5, 3, 2, 100);
    expect(Buffer.from(encodeReadReply('l1', 9, few).data).toString())
      .toBe(Buffer.from(encodeApi({ learner: 'l1', nextSlot: 9, entries: few })).toString());
  });

  test('one entry always goes, even past the byte budget', () => {
    const r = encodeReadReply('l1', 3, log(0, 3), 1000);
    expect(r.entries).toBe(1);
  });
});

describe('log events are split', () => {
  test('48 slots of 16 commands of 60 KB (a catch-up) become events under 1 MiB, in order', () => {
    const all = log(0, 48, 16);
    // Each slot alone is under 1 MiB (as its accept was); together they are ~46 MiB.
    const events = encodeLogEvents('l1', all);
    expect(events.length).toBeGreaterThanOrEqual(48);
    const slots: number[] = [];
    for (const e of events) {
      expect(e.byteLength).toBeLessThanOrEqual(MAX_ANSWER_BYTES);
      const ev = decodeLogEvent(e);
      expect(ev.learner).toBe('l1');
      slots.push(...ev.entries.map((x) => x.slot));
    }
    expect(slots).toEqual(all.map((e) => e.slot));
  });

  test('at most MAX_READ_ENTRIES entries per event (decoders refuse more)', () => {
    const all = log(0, 2500, 1, 5);
    const events = encodeLogEvents('l1', all).map((e) => decodeLogEvent(e));
    expect(events.map((e) => e.entries.length)).toEqual([1000, 1000, 500]);
    expect(events.flatMap((e) => e.entries)).toEqual(all);
  });

  test('several slots that fit go in one event', () => {
    const all = log(0, 10, 1, 1000);
    const events = encodeLogEvents('l1', all);
    expect(events).toHaveLength(1);
    expect(Buffer.from(events[0] as Uint8Array).toString())
      .toBe(Buffer.from(encodeApi({ learner: 'l1', entries: all })).toString());
    expect(events[0]?.byteLength).toBeLessThan(MiB);
  });
});

describe('the largest entry there can be', () => {
  test('a value filling the wire budget, every command of it a duplicate: its read answer and ' +
    'log event still fit 1 MiB', () => {
    const cmds = Array.from({ length: DEFAULT_LIMITS.maxCommandsPerValue }, (_, i) => ({
      clientId: `client-${String(i).padStart(6, '0')}`, seq: 1, payload: '',
    }));
    const bare = { kind: 'cmds' as const, cmds, stamp: 1_700_000_000_000 };
    const per = Math.floor((DEFAULT_WIRE_BUDGET_BYTES - valueWireBytes(bare)) / cmds.length);
    const value = { ...bare, cmds: cmds.map((c) => ({ ...c, payload: 'x'.repeat(per) })) };
    expect(valueWireBytes(value)).toBeLessThanOrEqual(DEFAULT_WIRE_BUDGET_BYTES);
    expect(valueWireBytes(value)).toBeGreaterThan(DEFAULT_WIRE_BUDGET_BYTES - cmds.length);
    const e: LogEntry = { slot: 9_007_199_254_740_990, value, dups: cmds.map((_, i) => i) };
    const reply = encodeReadReply('learner-with-a-long-id', 9_007_199_254_740_991, [e]);
    expect(reply.entries).toBe(1);
    expect(reply.data.byteLength).toBeLessThanOrEqual(MiB);
    const events = encodeLogEvents('learner-with-a-long-id', [e]);
    expect(events).toHaveLength(1);
    expect((events[0] as Uint8Array).byteLength).toBeLessThanOrEqual(MiB);
  });
});
