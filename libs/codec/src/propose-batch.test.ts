import { deepStrictEqual } from 'node:assert/strict';
import fc from 'fast-check';
import type { Command, Outcome } from '@synod/protocol';
import {
  CLIENT_API_VERSION,
  DecodeError,
  decodeProposeBatch,
  decodeProposeBatchReply,
  DecodeReason,
  DEFAULT_LIMITS,
  encodeApi,
  isTraceparent,
  type Limits,
  MAX_PROPOSE_BATCH,
  type ProposeBatch,
  leaderProposeSubject,
  proposeSubject,
} from './index.js';
import {
  assertSeeded,
  outcomeArb,
  proposeBatchArb,
  runSeed,
  traceparentArb,
} from './__tests__/arbitraries.js';

const SEED = runSeed();
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const cmd = (seq: number, clientId = 'c1', payload = `v${seq}`): Command =>
  ({ clientId, seq, payload });

/** A batch document as JSON text: `{v: 1, cmds, ...patch}` (undefined drops a key). */
function batchJson(patch: Record<string, unknown> = {}): Uint8Array {
  return utf8(JSON.stringify({ v: 1, cmds: [cmd(1), cmd(2)], ...patch }));
}

/** The refusal of a decode as `CODE at path`, or 'OK'. */
function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    return `${e.code} at ${e.path}`;
  }
  return 'OK';
}

const batch = (b: Uint8Array, lim?: Partial<Limits>): string =>
  refusal(() => decodeProposeBatch(b, lim));
const reply = (b: Uint8Array, expected: number, lim?: Partial<Limits>): string =>
  refusal(() => decodeProposeBatchReply(b, expected, lim));

describe('propose batch: subject and bounds', () => {
  it('is asked on synod.<cluster>.propose, at most 256 commands at a time', () => {
    expect(proposeSubject('prod')).toBe('synod.prod.propose');
    expect(proposeSubject('t-1_x')).toBe('synod.t-1_x.propose');
    expect(MAX_PROPOSE_BATCH).toBe(256);
  });

  it('retries after a timeout go to synod.<cluster>.propose.leader, which only a leader answers',
    () => {
      expect(leaderProposeSubject('prod')).toBe('synod.prod.propose.leader');
      expect(leaderProposeSubject('t-1_x')).toBe('synod.t-1_x.propose.leader');
    });
});

describe('isTraceparent: the trace contexts a batch may carry', () => {
  it('accepts W3C traceparents (any lowercase hex), nothing else', () => {
    expect(isTraceparent(TP)).toBe(true);
    assertSeeded(fc.property(traceparentArb, (t) => isTraceparent(t)), SEED + 2, 500,
      'isTraceparent');
    for (const bad of [TP.toUpperCase(), `${TP}-01`, TP.slice(1), TP.replace(/-/g, '_'),
      ` ${TP}`, `${TP}\n`, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-011', '',
      null, undefined, 1, {}, [TP]]) {
      expect(isTraceparent(bad)).toBe(false);
    }
  });
});

describe('propose batch: round trip', () => {
  it('decodeProposeBatch(encodeApi(b)) deep-equals b (2,000 runs)', () => {
    assertSeeded(fc.property(proposeBatchArb, (b) => {
      const bytes = encodeApi(b);
      const back = decodeProposeBatch(bytes);
      // Node's strict deep equality: an extra `traces: undefined` key would fail it.
      deepStrictEqual(back, b);
      if (text(encodeApi(back)) !== text(bytes)) throw new Error('re-encoding differs');
    }), SEED, 2_000, 'propose batch round trip');
  });

  it('encodeApi writes the version first, then the document as given', () => {
    const b: ProposeBatch = { cmds: [cmd(1)], traces: [TP] };
    expect(text(encodeApi(b))).toBe(
      `{"v":${CLIENT_API_VERSION},"cmds":[{"clientId":"c1","seq":1,"payload":"v1"}],` +
      `"traces":["${TP}"]}`);
  });

  it('decodes into fresh plain objects, not the parsed input', () => {
    const got = decodeProposeBatch(utf8(
      '{"v":1,"cmds":[{"payload":"x","seq":3,"clientId":"c"}],"traces":[null]}'));
    expect(got).toStrictEqual({ cmds: [{ clientId: 'c', seq: 3, payload: 'x' }], traces: [null] });
    expect(Object.keys(got.cmds[0] as object)).toEqual(['clientId', 'seq', 'payload']);
  });

  it('the reply: decodeProposeBatchReply(encodeApi(r), n) deep-equals r (2,000 runs)', () => {
    const arb = fc.array(outcomeArb, { minLength: 1, maxLength: 10 });
    assertSeeded(fc.property(arb, (outcomes) => {
      const back = decodeProposeBatchReply(encodeApi({ outcomes }), outcomes.length);
      deepStrictEqual(back, { outcomes });
    }), SEED + 1, 2_000, 'propose batch reply round trip');
  });

  it('the same client may have several commands in a batch, and seqs may repeat across ' +
    'clients', () => {
    const cmds = [cmd(1), cmd(2), cmd(1, 'c2'), cmd(2, 'c2'), cmd(1, 'c1-')];
    expect(decodeProposeBatch(encodeApi({ cmds })).cmds).toEqual(cmds);
  });
});

describe('propose batch: every refusal, with its reason and path', () => {
  const many = (n: number): Command[] => Array.from({ length: n }, (_, i) => cmd(i + 1));

  it.each([
    ['no commands', batchJson({ cmds: [] }), 'BAD_FIELD at cmds'],
    ['cmds missing', batchJson({ cmds: undefined }), 'MISSING_FIELD at cmds'],
    ['cmds not an array', batchJson({ cmds: cmd(1) }), 'BAD_FIELD at cmds'],
    ['cmds null', batchJson({ cmds: null }), 'BAD_FIELD at cmds'],
    [`${MAX_PROPOSE_BATCH + 1} commands`, batchJson({ cmds: many(MAX_PROPOSE_BATCH + 1) }),
      'LIMIT at cmds'],
    ['the same clientId#seq twice (other payload)',
      batchJson({ cmds: [cmd(1), cmd(2), cmd(1, 'c1', 'other')] }), 'BAD_FIELD at cmds[2]'],
    ['a command that is not an object', batchJson({ cmds: [cmd(1), 'c1#2'] }),
      'BAD_FIELD at cmds[1]'],
    ['a negative seq', batchJson({ cmds: [cmd(1), { ...cmd(2), seq: -1 }] }),
      'BAD_FIELD at cmds[1].seq'],
    // Seq 0 counts as already seen when the log is applied: chosen, it would never take effect.
    ['seq 0', batchJson({ cmds: [cmd(1), { ...cmd(2), seq: 0 }] }), 'BAD_FIELD at cmds[1].seq'],
    ['seq -0', utf8('{"v":1,"cmds":[{"clientId":"c1","seq":-0,"payload":"x"}]}'),
      'BAD_FIELD at cmds[0].seq'],
    ['a seq past 2^53 - 1', batchJson({ cmds: [{ ...cmd(1), seq: 2 ** 53 }] }),
      'BAD_FIELD at cmds[0].seq'],
    ['a fractional seq', batchJson({ cmds: [{ ...cmd(1), seq: 1.5 }] }),
      'BAD_FIELD at cmds[0].seq'],
    ['a seq as text', batchJson({ cmds: [{ ...cmd(1), seq: '1' }] }), 'BAD_FIELD at cmds[0].seq'],
    ['a clientId with a dot', batchJson({ cmds: [cmd(1, 'a.b')] }),
      'BAD_FIELD at cmds[0].clientId'],
    ['an empty clientId', batchJson({ cmds: [cmd(1, '')] }), 'BAD_FIELD at cmds[0].clientId'],
    ['a clientId of 129 characters', batchJson({ cmds: [cmd(1, 'c'.repeat(129))] }),
      'LIMIT at cmds[0].clientId'],
    ['a payload that is not text', batchJson({ cmds: [{ ...cmd(1), payload: 7 }] }),
      'BAD_FIELD at cmds[0].payload'],
    ['a payload with a lone surrogate', batchJson({ cmds: [cmd(1, 'c1', 'a\ud800')] }),
      'BAD_FIELD at cmds[0].payload'],
    ['a payload past maxPayloadBytes', batchJson({ cmds: [cmd(1, 'c1', 'x'.repeat(65_537))] }),
      'LIMIT at cmds[0].payload'],
    ['a command without payload', batchJson({ cmds: [{ clientId: 'c1', seq: 1 }] }),
      'MISSING_FIELD at cmds[0].payload'],
    ['a command with an extra field', batchJson({ cmds: [{ ...cmd(1), to: 'p1' }] }),
      'UNKNOWN_FIELD at cmds[0].to'],
    ['fewer traces than commands', batchJson({ traces: [TP] }), 'BAD_FIELD at traces'],
    ['no trace at all for two commands', batchJson({ traces: [] }), 'BAD_FIELD at traces'],
    // Like a log entry's `dups`, the array may not outgrow the commands it describes.
    ['more traces than commands', batchJson({ traces: [TP, TP, null] }), 'LIMIT at traces'],
    ['traces not an array', batchJson({ traces: TP }), 'BAD_FIELD at traces'],
    ['traces null', batchJson({ traces: null }), 'BAD_FIELD at traces'],
    ['a trace in upper case', batchJson({ traces: [null, TP.toUpperCase()] }),
      'BAD_FIELD at traces[1]'],
    ['a trace id one digit short', batchJson({ traces: [TP.replace('0af7', '0af'), null] }),
      'BAD_FIELD at traces[0]'],
    ['a trace with a suffix', batchJson({ traces: [`${TP}-00`, null] }),
      'BAD_FIELD at traces[0]'],
    ['an empty trace', batchJson({ traces: ['', null] }), 'BAD_FIELD at traces[0]'],
    ['a trace that is a number', batchJson({ traces: [null, 1] }), 'BAD_FIELD at traces[1]'],
    ['a trace that is an object', batchJson({ traces: [{ traceparent: TP }, null] }),
      'BAD_FIELD at traces[0]'],
    ['an unknown key', batchJson({ cmd: cmd(3) }), 'UNKNOWN_FIELD at cmd'],
    ['a protocol envelope key', batchJson({ type: 'request' }), 'UNKNOWN_FIELD at type'],
    ['no version', batchJson({ v: undefined }), 'BAD_VERSION at v'],
    ['version 2', batchJson({ v: 2 }), 'BAD_VERSION at v'],
    ['version "1"', batchJson({ v: '1' }), 'BAD_VERSION at v'],
    ['version 0', batchJson({ v: 0 }), 'BAD_VERSION at v'],
    ['not JSON', utf8('{"v":1,"cmds":['), 'BAD_JSON at $'],
    ['empty input', new Uint8Array(0), 'BAD_JSON at $'],
    ['not UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), 'BAD_JSON at $'],
    ['more than maxMessageBytes', new Uint8Array(DEFAULT_LIMITS.maxMessageBytes + 1).fill(0x20),
      'TOO_LARGE at $'],
  ])('%s', (_name, bytes, want) => {
    expect(batch(bytes)).toBe(want);
  });

  it('exactly 256 commands, and traces for every one of them, are accepted', () => {
    const cmds = many(MAX_PROPOSE_BATCH);
    const got = decodeProposeBatch(encodeApi({ cmds, traces: cmds.map(() => TP) }));
    expect(got.cmds).toHaveLength(MAX_PROPOSE_BATCH);
    expect(got.traces).toHaveLength(MAX_PROPOSE_BATCH);
  });

  it('a duplicate is named in the error, wherever it is', () => {
    const e = (() => {
      try {
        decodeProposeBatch(batchJson({ cmds: [cmd(7, 'x'), cmd(1), cmd(7, 'x')] }));
      } catch (x) {
        return x;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(DecodeError);
    expect(e).toMatchObject({ code: DecodeReason.BadField, path: 'cmds[2]' });
    expect((e as DecodeError).detail).toContain('x#7 appears twice');
  });

  it('a JSON text that is not an object is refused', () => {
    for (const s of ['[]', 'null', '"cmds"', '1']) {
      expect(() => decodeProposeBatch(utf8(s))).toThrow(DecodeError);
    }
  });

  it('__proto__ and constructor keys are unknown fields, never merged', () => {
    expect(batch(utf8('{"v":1,"__proto__":{"traces":[]},"cmds":[{"clientId":"c","seq":1,' +
      '"payload":""}]}'))).toBe('UNKNOWN_FIELD at __proto__');
    expect(batch(utf8('{"v":1,"cmds":[{"clientId":"c","seq":1,"payload":"",' +
      '"constructor":{}}]}'))).toBe('UNKNOWN_FIELD at cmds[0].constructor');
  });

  it('limits are the caller\'s: message bytes, client id length and payload bytes', () => {
    const b = encodeApi({ cmds: [cmd(1, 'abcd', 'xy')] });
    expect(batch(b, { maxMessageBytes: b.byteLength })).toBe('OK');
    expect(batch(b, { maxMessageBytes: b.byteLength - 1 })).toBe('TOO_LARGE at $');
    expect(batch(b, { maxClientIdLength: 4 })).toBe('OK');
    expect(batch(b, { maxClientIdLength: 3 })).toBe('LIMIT at cmds[0].clientId');
    // A batched command becomes a request from its client: the id must fit a sender token.
    expect(batch(b, { maxNodeIdLength: 4 })).toBe('OK');
    expect(batch(b, { maxNodeIdLength: 3 })).toBe('LIMIT at cmds[0].clientId');
    const long = encodeApi({ cmds: [cmd(1, 'c'.repeat(65), 'xy')] });
    expect(batch(long)).toBe('LIMIT at cmds[0].clientId');
    expect(batch(b, { maxPayloadBytes: 2 })).toBe('OK');
    expect(batch(b, { maxPayloadBytes: 1 })).toBe('LIMIT at cmds[0].payload');
    // A value's command limit is not a batch's: 256 commands pass maxCommandsPerValue 2.
    expect(batch(encodeApi({ cmds: many(256) }), { maxCommandsPerValue: 2 })).toBe('OK');
  });
});

describe('propose batch reply: refusals', () => {
  const outcomes: Outcome[] = [{ status: 'chosen', slot: 4 }, { status: 'overloaded' },
    { status: 'redirect', leader: 'p2' }, { status: 'redirect', leader: null }];
  const replyJson = (patch: Record<string, unknown>): Uint8Array =>
    utf8(JSON.stringify({ v: 1, outcomes, ...patch }));

  it('accepts exactly the expected number of outcomes, in order', () => {
    expect(decodeProposeBatchReply(encodeApi({ outcomes }), 4)).toEqual({ outcomes });
    expect(reply(encodeApi({ outcomes }), 3)).toBe('BAD_FIELD at outcomes');
    expect(reply(encodeApi({ outcomes }), 5)).toBe('BAD_FIELD at outcomes');
    expect(reply(encodeApi({ outcomes: [] }), 1)).toBe('BAD_FIELD at outcomes');
  });

  it.each([
    ['an unknown status', replyJson({ outcomes: [outcomes[0], { status: 'failed' }] }),
      'BAD_FIELD at outcomes[1].status'],
    ['an outcome without status', replyJson({ outcomes: [{ slot: 1 }, outcomes[1]] }),
      'MISSING_FIELD at outcomes[0].status'],
    ['chosen without a slot', replyJson({ outcomes: [{ status: 'chosen' }, outcomes[1]] }),
      'MISSING_FIELD at outcomes[0].slot'],
    ['chosen with a negative slot', replyJson({ outcomes: [outcomes[1],
      { status: 'chosen', slot: -1 }] }), 'BAD_FIELD at outcomes[1].slot'],
    ['overloaded with a slot', replyJson({ outcomes: [{ status: 'overloaded', slot: 1 },
      outcomes[1]] }), 'UNKNOWN_FIELD at outcomes[0].slot'],
    ['a redirect to a bad node id', replyJson({ outcomes: [{ status: 'redirect',
      leader: 'a b' }, outcomes[1]] }), 'BAD_FIELD at outcomes[0].leader'],
    ['an outcome that is a string', replyJson({ outcomes: ['chosen', outcomes[1]] }),
      'BAD_FIELD at outcomes[0]'],
    ['outcomes not an array', replyJson({ outcomes: outcomes[0] }), 'BAD_FIELD at outcomes'],
    ['outcomes missing', replyJson({ outcomes: undefined }), 'MISSING_FIELD at outcomes'],
    ['an unknown key', replyJson({ outcomes: outcomes.slice(0, 2), error: 'x' }),
      'UNKNOWN_FIELD at error'],
    ['version 2', replyJson({ outcomes: outcomes.slice(0, 2), v: 2 }), 'BAD_VERSION at v'],
    ['not JSON', utf8('{"v":1,"outcomes":[{"status":"chosen","slot":1}'), 'BAD_JSON at $'],
    ['an empty body (an error reply)', new Uint8Array(0), 'BAD_JSON at $'],
  ])('%s', (_name, bytes, want) => {
    expect(reply(bytes, 2)).toBe(want);
  });

  it('more than 256 outcomes is a LIMIT, whatever was expected', () => {
    const o = Array.from({ length: MAX_PROPOSE_BATCH + 1 },
      (): Outcome => ({ status: 'overloaded' }));
    expect(reply(encodeApi({ outcomes: o }), MAX_PROPOSE_BATCH + 1)).toBe('LIMIT at outcomes');
    expect(reply(encodeApi({ outcomes: o.slice(1) }), MAX_PROPOSE_BATCH)).toBe('OK');
  });

  it('the reply size is checked first, under the caller\'s limits', () => {
    const b = encodeApi({ outcomes: outcomes.slice(0, 2) });
    expect(reply(b, 2, { maxMessageBytes: b.byteLength - 1 })).toBe('TOO_LARGE at $');
    expect(reply(b, 2, { maxNodeIdLength: 1 })).toBe('OK');
    const r = encodeApi({ outcomes: [{ status: 'redirect', leader: 'p2' }] });
    expect(reply(r, 1, { maxNodeIdLength: 1 })).toBe('LIMIT at outcomes[0].leader');
  });
});
