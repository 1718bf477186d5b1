import { deepStrictEqual } from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Message } from '@synod/protocol';
import {
  DEFAULT_LIMITS,
  decode,
  DecodeError,
  decodeProposeBatch,
  DecodeReason,
  encode,
  encodeApi,
  encodedSize,
  EncodeError,
  PROTOCOL_VERSION,
  resolveLimits,
  tryDecode,
  utf8Length,
  validateMessage,
} from './index.js';
import { assertSeeded, messageArb, runSeed } from './__tests__/arbitraries.js';

const SEED = runSeed();
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const B = { round: 3, proposer: 'p1', incarnation: 77 };

/** Decodes and returns the refusal's code, or 'OK'. */
function outcome(s: string | Uint8Array, opts?: Parameters<typeof decode>[1]): string {
  const r = tryDecode(typeof s === 'string' ? utf8(s) : s, opts);
  return r.ok ? 'OK' : r.error.code;
}

/** A valid prepare as JSON text with `patch` merged over its fields. */
function prepareJson(patch: Record<string, unknown> = {}): string {
  return JSON.stringify({ v: 1, type: 'prepare', from: 'p1', ballot: B, fromSlot: 0, ...patch });
}

describe('round trip', () => {
  it('decode(encode(m)) deep-equals m for arbitrary valid messages (10,000 runs)', () => {
    assertSeeded(fc.property(messageArb, (m) => {
      const bytes = encode(m);
      const back = decode(bytes);
      // Node's deep strict equality: same prototypes, same keys (an extra `to: undefined`
      // would fail), Object.is on numbers. Jest's matchers are ~10x slower at 10,000 runs.
      deepStrictEqual(back, m);
      // Canonical: re-encoding the decoded message gives the same bytes.
      if (!Buffer.from(encode(back)).equals(bytes)) throw new Error('re-encoding differs');
      if (encodedSize(m) !== bytes.byteLength) throw new Error('encodedSize differs');
    }), SEED, 10_000, 'codec round trip');
  });

  it('encoding is canonical: key order in the input object does not matter', () => {
    const a: Message = { type: 'prepare', from: 'p1', ballot: B, fromSlot: 4 };
    const b = { fromSlot: 4, ballot: { incarnation: 77, proposer: 'p1', round: 3 }, from: 'p1',
      type: 'prepare' } as Message;
    expect(text(encode(b))).toBe(text(encode(a)));
    expect(text(encode(a))).toBe(
      '{"v":1,"type":"prepare","from":"p1","ballot":{"round":3,"proposer":"p1",' +
        '"incarnation":77},"fromSlot":4}');
  });

  it('decode accepts any key order and returns the canonical field order', () => {
    const m = decode(utf8('{"fromSlot":4,"ballot":{"incarnation":77,"proposer":"p1","round":3},' +
      '"from":"p1","type":"prepare","v":1}'));
    expect(Object.keys(m)).toEqual(['type', 'from', 'ballot', 'fromSlot']);
  });

  it('an optional `to` that is undefined in memory is encoded as absent', () => {
    const m = { type: 'request', from: 'c1', to: undefined, cmd: { clientId: 'c1', seq: 1,
      payload: 'x' } } as unknown as Message;
    expect(text(encode(m))).toBe(
      '{"v":1,"type":"request","from":"c1","cmd":{"clientId":"c1","seq":1,"payload":"x"}}');
  });
});

describe('leader stamps on batches', () => {
  const accept = (value: unknown): string => JSON.stringify({ v: 1, type: 'accept', from: 'p1',
    ballot: B, slot: 3, value });
  const cmd = { clientId: 'c1', seq: 1, payload: 'x' };

  it('a batch may carry a uint stamp, written after its commands', () => {
    expect(outcome(accept({ stamp: 1718000000000, cmds: [cmd], kind: 'cmds' }))).toBe('OK');
    const m = decode(utf8(accept({ stamp: 5, cmds: [cmd], kind: 'cmds' })));
    expect(text(encode(m))).toContain('"value":{"kind":"cmds","cmds":[{"clientId":"c1","seq":1,' +
      '"payload":"x"}],"stamp":5}');
    expect(outcome(accept({ kind: 'cmds', cmds: [cmd] }))).toBe('OK');
  });

  it('a stamp that is not a uint, or on a no-op, is refused', () => {
    for (const stamp of [-1, 1.5, 2 ** 53, '5', null]) {
      expect(outcome(accept({ kind: 'cmds', cmds: [cmd], stamp }))).toBe('BAD_FIELD');
    }
    expect(outcome(accept({ kind: 'noop', stamp: 5 }))).toBe('UNKNOWN_FIELD');
  });
});

describe('decode builds a fresh object', () => {
  it('never returns the parsed object: no own __proto__, plain prototypes all the way down', () => {
    const m = decode(utf8(prepareJson()));
    expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
    expect(Object.getPrototypeOf((m as { ballot: object }).ballot)).toBe(Object.prototype);
  });

  it('rejects __proto__, constructor and other unknown keys at every level', () => {
    expect(outcome('{"__proto__":{"x":1},' + prepareJson().slice(1))).toBe('UNKNOWN_FIELD');
    expect(outcome(prepareJson({ constructor: {} }))).toBe('UNKNOWN_FIELD');
    expect(outcome(prepareJson({ ballot: { ...B, __x: 1 } }))).toBe('UNKNOWN_FIELD');
    expect(outcome(prepareJson().replace('"round"', '"__proto__":null,"round"')))
      .toBe('UNKNOWN_FIELD');
  });

  it('ignores a polluted Object.prototype (own properties only)', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto['fromSlot'] = 5;
    proto['v'] = 1;
    try {
      const noSlot = JSON.stringify({ v: 1, type: 'prepare', from: 'p1', ballot: B });
      expect(outcome(noSlot)).toBe('MISSING_FIELD');
      expect(outcome(JSON.stringify({ type: 'prepare', from: 'p1', ballot: B, fromSlot: 1 })))
        .toBe('BAD_VERSION');
    } finally {
      delete proto['fromSlot'];
      delete proto['v'];
    }
  });
});

describe('integers: slots, rounds, incarnations, seq', () => {
  it.each([
    ['2^53 - 1 (accepted: a safe integer)', Number.MAX_SAFE_INTEGER, 'OK'],
    ['0', 0, 'OK'],
    ['-0 (read as 0)', -0, 'OK'],
    ['2^53', 2 ** 53, 'BAD_FIELD'],
    ['2^53 + 2', 2 ** 53 + 2, 'BAD_FIELD'],
    ['1e308', 1e308, 'BAD_FIELD'],
    ['-1', -1, 'BAD_FIELD'],
    ['1.5', 1.5, 'BAD_FIELD'],
    ['"1" (a string)', '1', 'BAD_FIELD'],
    ['null', null, 'BAD_FIELD'],
  ])('ballot round %s', (_name, round, want) => {
    expect(outcome(prepareJson({ ballot: { ...B, round } }))).toBe(want);
  });

  it('1.0 and 1e2 are integers once parsed, and are re-encoded as 1 and 100', () => {
    const m = decode(utf8(prepareJson().replace('"fromSlot":0', '"fromSlot":1e2')));
    expect(text(encode(m))).toContain('"fromSlot":100}');
    expect(outcome(prepareJson().replace('"round":3', '"round":1.0'))).toBe('OK');
  });

  it('-0 comes back as +0', () => {
    const m = decode(utf8(prepareJson().replace('"fromSlot":0', '"fromSlot":-0')));
    expect(Object.is((m as { fromSlot: number }).fromSlot, 0)).toBe(true);
  });

  it('a catch-up range must not be empty (toSlot >= fromSlot)', () => {
    const c = (fromSlot: number, toSlot: number): string =>
      JSON.stringify({ v: 1, type: 'catchup', from: 'l1', fromSlot, toSlot });
    expect(outcome(c(3, 3))).toBe('OK');
    expect(outcome(c(4, 3))).toBe('BAD_FIELD');
  });
});

describe('ids and text', () => {
  it.each([
    ['64 characters', 'a'.repeat(64), 'OK'],
    ['65 characters', 'a'.repeat(65), 'LIMIT'],
    ['empty', '', 'BAD_FIELD'],
    ['a dot', 'p.1', 'BAD_FIELD'],
    ['a wildcard', 'p*', 'BAD_FIELD'],
    ['a full wildcard', '>', 'BAD_FIELD'],
    ['a space', 'p 1', 'BAD_FIELD'],
    ['a newline', 'p\n', 'BAD_FIELD'],
    ['non-ASCII', 'pé', 'BAD_FIELD'],
    ['a number', 7, 'BAD_FIELD'],
  ])('sender id: %s', (_name, from, want) => {
    expect(outcome(prepareJson({ from }))).toBe(want);
  });

  const request = (cmd: Record<string, unknown>): string =>
    JSON.stringify({ v: 1, type: 'request', from: 'c1', cmd: { clientId: 'c1', seq: 1,
      payload: '', ...cmd } });

  it('a client request with seq 0 is refused (BAD_FIELD at cmd.seq); stored values with seq 0 ' +
    'still decode', () => {
    expect(outcome(request({ seq: 1 }))).toBe('OK');
    expect(outcome(request({ seq: 0 }))).toBe('BAD_FIELD');
    expect(outcome(request({ seq: -0 }))).toBe('BAD_FIELD');
    const r = tryDecode(utf8(request({ seq: 0 })));
    expect(r.ok ? null : r.error.path).toBe('cmd.seq');
    // A forwarded request too: it carries the client's command.
    expect(outcome(JSON.stringify({ v: 1, type: 'request', from: 'p2', to: 'p1',
      cmd: { clientId: 'c1', seq: 0, payload: '' } }))).toBe('BAD_FIELD');
    // Whatever the log already holds keeps decoding, and a response may name seq 0.
    const value = { kind: 'cmds', cmds: [{ clientId: 'c1', seq: 0, payload: 'old' }] };
    expect(outcome(JSON.stringify({ v: 1, type: 'accept', from: 'p1', ballot: B, slot: 3,
      value }))).toBe('OK');
    expect(outcome(JSON.stringify({ v: 1, type: 'accepted', from: 'a1', ballot: B, slot: 3,
      value }))).toBe('OK');
    expect(outcome(JSON.stringify({ v: 1, type: 'chosen', from: 'p1', ballot: B, slot: 3,
      value }))).toBe('OK');
    expect(outcome(JSON.stringify({ v: 1, type: 'promise', from: 'a1', to: 'p1', ballot: B,
      fromSlot: 0, accepted: [{ slot: 3, ballot: B, value }] }))).toBe('OK');
    expect(outcome(JSON.stringify({ v: 1, type: 'response', from: 'p1', to: 'c1',
      clientId: 'c1', seq: 0, outcome: { status: 'overloaded' } }))).toBe('OK');
    // And a process never sends such a request: encode validates with the same rules.
    expect(() => encode({ type: 'request', from: 'c1',
      cmd: { clientId: 'c1', seq: 0, payload: '' } })).toThrow(EncodeError);
  });

  it('client ids may be up to 128 characters', () => {
    expect(outcome(request({ clientId: 'c'.repeat(128) }))).toBe('OK');
    expect(outcome(request({ clientId: 'c'.repeat(129) }))).toBe('LIMIT');
  });

  it('payloads are limited in UTF-8 bytes, not characters', () => {
    const opts = { maxPayloadBytes: 8 };
    expect(outcome(request({ payload: 'é'.repeat(4) }), opts)).toBe('OK'); // 8 bytes
    expect(outcome(request({ payload: 'é'.repeat(5) }), opts)).toBe('LIMIT'); // 10 bytes
    expect(outcome(request({ payload: '😀😀' }), opts)).toBe('OK'); // 8 bytes
    expect(outcome(request({ payload: '😀😀x' }), opts)).toBe('LIMIT');
  });

  it('payloads with a lone surrogate are refused (they have no UTF-8 form)', () => {
    expect(outcome(request({ payload: 'a\ud800b' }))).toBe('BAD_FIELD');
    expect(outcome(request({ payload: '\udc00' }))).toBe('BAD_FIELD');
  });

  it('utf8Length agrees with TextEncoder for well-formed text', () => {
    assertSeeded(fc.property(fc.string({ unit: 'binary' }), (s) => {
      expect(utf8Length(s)).toBe(utf8(s).byteLength);
    }), SEED, 1000, 'utf8Length');
  });
});

describe('envelope, size and structure', () => {
  it.each([
    ['not UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), 'BAD_UTF8'],
    ['a byte order mark', utf8('\ufeff' + prepareJson()), 'BAD_JSON'],
    ['not JSON', utf8('{"v":1,'), 'BAD_JSON'],
    ['empty input', new Uint8Array(0), 'BAD_JSON'],
    ['a JSON array', utf8('[]'), 'BAD_ENVELOPE'],
    ['JSON null', utf8('null'), 'BAD_ENVELOPE'],
    ['no version', utf8(prepareJson({ v: undefined })), 'BAD_VERSION'],
    ['version 2', utf8(prepareJson({ v: 2 })), 'BAD_VERSION'],
    ['version "1"', utf8(prepareJson({ v: '1' })), 'BAD_VERSION'],
    ['no type', utf8(prepareJson({ type: undefined })), 'UNKNOWN_TYPE'],
    ['type "Prepare"', utf8(prepareJson({ type: 'Prepare' })), 'UNKNOWN_TYPE'],
    ['type "toString"', utf8(prepareJson({ type: 'toString' })), 'UNKNOWN_TYPE'],
    ['a missing field', utf8(prepareJson({ fromSlot: undefined })), 'MISSING_FIELD'],
    ['a field of another type', utf8(prepareJson({ slot: 1 })), 'UNKNOWN_FIELD'],
  ])('%s', (_name, bytes, want) => {
    expect(outcome(bytes)).toBe(want);
  });

  it('refuses more than maxMessageBytes before parsing, and the limit is per call', () => {
    const msg = prepareJson();
    expect(outcome(msg, { maxMessageBytes: msg.length })).toBe('OK');
    expect(outcome(msg, { maxMessageBytes: msg.length - 1 })).toBe('TOO_LARGE');
    const big = new Uint8Array(DEFAULT_LIMITS.maxMessageBytes + 1).fill(0x20);
    expect(outcome(big)).toBe('TOO_LARGE');
  });

  it('survives 1 MiB of deep nesting, anywhere', () => {
    const n = DEFAULT_LIMITS.maxMessageBytes;
    expect(outcome('['.repeat(n))).toBe('BAD_JSON');
    expect(outcome('['.repeat(n / 2) + ']'.repeat(n / 2))).toBe('BAD_ENVELOPE');
    const deep = '['.repeat(n / 4) + ']'.repeat(n / 4);
    expect(outcome(prepareJson().replace('"fromSlot":0', `"fromSlot":${deep}`))).toBe('BAD_FIELD');
    const deepObj = '{"a":'.repeat(n / 12) + '1' + '}'.repeat(n / 12);
    expect(outcome(prepareJson().replace('"fromSlot":0', `"fromSlot":${deepObj}`)))
      .toBe('BAD_FIELD');
  });

  it('value, outcome and batch shapes', () => {
    const accept = (value: unknown): string =>
      JSON.stringify({ v: 1, type: 'accept', from: 'p1', ballot: B, slot: 1, value });
    expect(outcome(accept({ kind: 'noop' }))).toBe('OK');
    expect(outcome(accept({ kind: 'noop', cmds: [] }))).toBe('UNKNOWN_FIELD');
    expect(outcome(accept({ kind: 'cmds', cmds: [] }))).toBe('BAD_FIELD');
    expect(outcome(accept({ kind: 'nop' }))).toBe('BAD_FIELD');
    expect(outcome(accept({}))).toBe('MISSING_FIELD');
    const cmd = { clientId: 'c', seq: 1, payload: '' };
    const lim = { maxCommandsPerValue: 2 };
    expect(outcome(accept({ kind: 'cmds', cmds: [cmd, cmd] }), lim)).toBe('OK');
    expect(outcome(accept({ kind: 'cmds', cmds: [cmd, cmd, cmd] }), lim)).toBe('LIMIT');
    const resp = (o: unknown): string => JSON.stringify({ v: 1, type: 'response', from: 'p1',
      to: 'c1', clientId: 'c1', seq: 1, outcome: o });
    expect(outcome(resp({ status: 'redirect', leader: null }))).toBe('OK');
    expect(outcome(resp({ status: 'redirect' }))).toBe('MISSING_FIELD');
    expect(outcome(resp({ status: 'overloaded', slot: 1 }))).toBe('UNKNOWN_FIELD');
    expect(outcome(resp({ status: 'conflict', slot: 7 }))).toBe('OK');
    expect(outcome(resp({ status: 'conflict' }))).toBe('MISSING_FIELD');
    expect(outcome(resp({ status: 'conflict', slot: -1 }))).toBe('BAD_FIELD');
    expect(outcome(resp({ status: 'conflict', slot: 7, leader: null }))).toBe('UNKNOWN_FIELD');
    expect(outcome(resp({ status: 'failed' }))).toBe('BAD_FIELD');
  });

  it('promise entries are limited', () => {
    const e = { slot: 1, ballot: B, value: { kind: 'noop' } };
    const p = (accepted: unknown[]): string => JSON.stringify({ v: 1, type: 'promise',
      from: 'a1', to: 'p1', ballot: B, fromSlot: 0, accepted });
    expect(outcome(p([e, e]), { maxAcceptedEntries: 2 })).toBe('OK');
    expect(outcome(p([e, e, e]), { maxAcceptedEntries: 2 })).toBe('LIMIT');
  });
});

describe('errors', () => {
  it('DecodeError has name, code, reason, path and cause', () => {
    const r = tryDecode(utf8('{"v":1,'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toBeInstanceOf(DecodeError);
    expect(r.error.name).toBe('DecodeError');
    expect(r.error.code).toBe(DecodeReason.BadJson);
    expect(r.error.reason).toBe('BAD_JSON');
    expect(r.error.path).toBe('$');
    expect(r.error.cause).toBeInstanceOf(SyntaxError);
  });

  it('paths point into nested structures', () => {
    const m = JSON.stringify({ v: 1, type: 'promise', from: 'a1', to: 'p1', ballot: B,
      fromSlot: 0, accepted: [{ slot: 1, ballot: B, value: { kind: 'noop' } },
        { slot: 2, ballot: { ...B, round: -1 }, value: { kind: 'noop' } }] });
    const r = tryDecode(utf8(m));
    expect(r.ok ? null : r.error.path).toBe('accepted[1].ballot.round');
  });

  it('error messages never carry more than a short excerpt of the input', () => {
    const r = tryDecode(utf8(prepareJson({ from: 'x'.repeat(10_000) })));
    expect(r.ok ? 0 : r.error.message.length).toBeLessThan(200);
  });

  it('encode refuses what decode would refuse, with EncodeError', () => {
    const bad = { type: 'prepare', from: 'p1', ballot: { ...B, round: 2 ** 53 }, fromSlot: 0 };
    expect(() => encode(bad as Message)).toThrow(EncodeError);
    try {
      encode(bad as Message);
    } catch (e) {
      expect((e as EncodeError).code).toBe('BAD_FIELD');
      expect((e as EncodeError).path).toBe('ballot.round');
      expect((e as EncodeError).cause).toBeInstanceOf(DecodeError);
    }
    const m: Message = { type: 'prepare', from: 'p1', ballot: B, fromSlot: 0 };
    expect(() => encode(m, { maxMessageBytes: 10 })).toThrow(/TOO_LARGE/);
  });

  it('encode accepts null-prototype objects and writes plain JSON', () => {
    const ballot = Object.assign(Object.create(null) as object, B);
    const m = Object.assign(Object.create(null) as object,
      { type: 'prepare', from: 'p1', ballot, fromSlot: 0 }) as Message;
    expect(text(encode(m))).toBe(text(encode({ type: 'prepare', from: 'p1', ballot: B,
      fromSlot: 0 })));
  });

  it('validateMessage checks in-memory messages and copies them', () => {
    const m: Message = { type: 'heartbeat', from: 'p1', ballot: B, chosenUpTo: 0 };
    const copy = validateMessage(m);
    expect(copy).toStrictEqual(m);
    expect(copy).not.toBe(m);
    expect(() => validateMessage({ ...m, v: 1 })).toThrow(DecodeError);
    expect(() => validateMessage(null)).toThrow(DecodeError);
  });

  it('invalid limits are a programmer error at resolveLimits, a DecodeError at decode', () => {
    expect(() => resolveLimits({ maxMessageBytes: 0 })).toThrow(RangeError);
    expect(outcome(prepareJson(), { maxNodeIdLength: 1.5 })).toBe('LIMIT');
    const lim = resolveLimits({ maxMessageBytes: 100 });
    expect(resolveLimits(lim)).toBe(lim);
  });
});

describe('docs/protocol.md', () => {
  // Every example in the spec is decoded and must be canonical, so the document cannot drift.
  // One example per line; a line that starts with a space continues the example above it.
  const doc = readFileSync(join(__dirname, '../../../docs/protocol.md'), 'utf8');
  const blocks = doc.split('```json\n').slice(1).map((b) => b.slice(0, b.indexOf('```')));
  const all = blocks.flatMap((b) => b.replace(/\n(?=\s)/g, '').split('\n'))
    .filter((l) => l !== '');
  const isMessage = (l: string): boolean =>
    Object.hasOwn(JSON.parse(l) as Record<string, unknown>, 'type');
  const examples = all.filter(isMessage);
  // The rest are client API documents; the only one with an example is the propose batch.
  const apiExamples = all.filter((l) => !isMessage(l));

  it('has an example of every message type', () => {
    expect(all.every((l) => l.startsWith(`{"v":${PROTOCOL_VERSION},`))).toBe(true);
    const types = new Set(examples.map((l) => decode(utf8(l)).type));
    expect([...types].sort()).toEqual(['accept', 'accepted', 'catchup', 'chosen', 'heartbeat',
      'nack', 'prepare', 'progress', 'promise', 'request', 'response']);
  });

  it('every example decodes and is in canonical form', () => {
    for (const line of examples) expect(text(encode(decode(utf8(line))))).toBe(line);
  });

  it('every client API example is a propose batch that decodes, in canonical form', () => {
    for (const ex of apiExamples) {
      expect(text(encodeApi(decodeProposeBatch(utf8(ex))))).toBe(JSON.stringify(JSON.parse(ex)));
    }
  });
});
