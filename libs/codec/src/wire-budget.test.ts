import {
  type AcceptedEntry,
  type Command,
  DEFAULT_WIRE_BUDGET_BYTES,
  ENVELOPE_RESERVE_BYTES,
  entryWireBytes,
  type Message,
  type Value,
  valueWireBytes,
} from '@synod/protocol';
import { DEFAULT_LIMITS, encode, resolveLimits, valueBudgetBytes } from './index.js';

const MAX = Number.MAX_SAFE_INTEGER;
const id = (c: string): string => c.repeat(DEFAULT_LIMITS.maxNodeIdLength);
const BALLOT = { round: MAX, proposer: id('p'), incarnation: MAX };

/** Every message that carries `v`, with every optional field and the longest ids. */
function carriers(v: Value): Message[] {
  const entry: AcceptedEntry = { slot: MAX, ballot: BALLOT, value: v };
  return [
    { type: 'accept', from: id('f'), to: id('t'), ballot: BALLOT, slot: MAX, value: v,
      compactBelow: MAX },
    { type: 'accepted', from: id('f'), to: id('t'), ballot: BALLOT, slot: MAX, value: v },
    { type: 'chosen', from: id('f'), to: id('t'), ballot: BALLOT, slot: MAX, value: v },
    { type: 'promise', from: id('f'), to: id('t'), ballot: BALLOT, fromSlot: MAX,
      accepted: [entry], upTo: MAX, floor: MAX, recovery: MAX },
  ];
}

describe('wire budget: what the cores may put in one message', () => {
  test('the default limits give the cores\' default budget', () => {
    expect(valueBudgetBytes(DEFAULT_LIMITS)).toBe(DEFAULT_WIRE_BUDGET_BYTES);
  });

  test('one command of maxPayloadBytes control characters (6x in JSON) fits every carrier', () => {
    const c: Command = {
      clientId: 'c'.repeat(DEFAULT_LIMITS.maxClientIdLength), seq: MAX,
      payload: '\u0001'.repeat(DEFAULT_LIMITS.maxPayloadBytes),
    };
    const v: Value = { kind: 'cmds', cmds: [c], stamp: MAX };
    expect(valueWireBytes(v)).toBeLessThanOrEqual(valueBudgetBytes(DEFAULT_LIMITS));
    for (const m of carriers(v)) expect(() => encode(m)).not.toThrow();
  });

  test('a value that fills the budget fits every carrier, a promise of it included', () => {
    const cmds: Command[] = [];
    const v = (): Value => ({ kind: 'cmds', cmds: [...cmds], stamp: MAX });
    const budget = valueBudgetBytes(DEFAULT_LIMITS);
    for (let seq = 1; ; seq++) {
      const c = { clientId: 'c'.repeat(128), seq, payload: '"\\'.repeat(4000) };
      cmds.push(c);
      if (valueWireBytes(v()) > budget) {
        cmds.pop();
        break;
      }
    }
    expect(budget - valueWireBytes(v())).toBeLessThan(20_000);
    for (const m of carriers(v())) expect(() => encode(m)).not.toThrow();
    const entry: AcceptedEntry = { slot: MAX, ballot: BALLOT, value: v() };
    expect(entryWireBytes(entry)).toBeGreaterThan(valueWireBytes(v()));
  });

  test('limits that cannot carry one command of maxPayloadBytes are refused', () => {
    expect(() => valueBudgetBytes(resolveLimits({ maxPayloadBytes: 200 * 1024 })))
      .toThrow(RangeError);
    expect(() => valueBudgetBytes(resolveLimits({ maxMessageBytes: 300 * 1024 })))
      .toThrow(RangeError);
    expect(valueBudgetBytes(resolveLimits({ maxMessageBytes: 500 * 1024 })))
      .toBe(500 * 1024 - ENVELOPE_RESERVE_BYTES - 4 * 64);
  });
});
