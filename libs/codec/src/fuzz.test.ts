/**
 * T4 bad input: the decoder against >= 100,000 inputs per run. Raw bytes, JSON-ish noise,
 * byte-level and structure-level mutations of valid encodings, hostile-but-well-formed values
 * and subjects. For every input: decode throws nothing but DecodeError; it accepts exactly what
 * the independent oracle accepts and returns exactly the oracle's value; what it returns passes
 * re-validation, is made of plain objects, and survives encode/decode unchanged. Rejections are
 * counted per reason and printed as one summary line with the seed.
 */
import fc from 'fast-check';
import { type Message, MSG_TYPES, type Outcome } from '@synod/protocol';
import {
  DECODE_REASONS,
  decode,
  DecodeError,
  decodeProposeBatch,
  decodeProposeBatchReply,
  DecodeReason,
  DEFAULT_LIMITS,
  encode,
  encodeApi,
  type Limits,
  parseSubject,
  type ProposeBatch,
  resolveLimits,
  SubjectError,
  subjectFor,
  tryDecode,
  tryDecodeDelivery,
  validateMessage,
} from './index.js';
import {
  assertSeeded,
  messageArb,
  nodeIdArb,
  outcomeArb,
  proposeBatchArb,
  runSeed,
  traceparentArb,
} from './__tests__/arbitraries.js';
import { batchOracle, batchReplyOracle, oracle, stable } from './__tests__/oracle.js';

const SEED = runSeed();
const counts = new Map<string, number>();
let inputs = 0;
let subjectInputs = 0;
let batchInputs = 0;
const bump = (k: string): void => void counts.set(k, (counts.get(k) ?? 0) + 1);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function preview(bytes: Uint8Array): string {
  const s = Buffer.from(bytes).toString('utf8');
  return s.length > 300 ? `${s.slice(0, 300)}...(${bytes.length} bytes)` : s;
}

/** Every object in a decoded message is a plain object or array with no own `__proto__`. */
function assertPlain(x: unknown, depth = 0): void {
  if (typeof x !== 'object' || x === null) return;
  if (depth > 6) throw new Error('decoded message nests deeper than MAX_NESTING_DEPTH');
  const proto = Object.getPrototypeOf(x);
  if (proto !== Object.prototype && proto !== Array.prototype) throw new Error('odd prototype');
  if (Object.prototype.hasOwnProperty.call(x, '__proto__')) throw new Error('own __proto__');
  for (const v of Object.values(x)) assertPlain(v, depth + 1);
}

/** A decoder under test: the real one, or a planted-bug variant of it. */
type DecodeFn = (bytes: Uint8Array, lim: Limits) => Message;

/**
 * Decodes one input with `dec` and checks every promise of the decoder; returns 'OK' or the
 * reason, and counts it unless `record` is false. Throws when a promise is broken.
 */
function judge(bytes: Uint8Array, lim: Limits = DEFAULT_LIMITS, dec: DecodeFn = decode,
  record = true): string {
  if (record) inputs++;
  const want = oracle(bytes, lim);
  let got: Message;
  try {
    got = dec(bytes, lim);
  } catch (e) {
    if (!(e instanceof DecodeError) || e.name !== 'DecodeError') {
      throw new Error(`decode threw something else than DecodeError: ${String(e)}`);
    }
    if (!DECODE_REASONS.includes(e.reason)) throw new Error(`unknown reason ${e.reason}`);
    if (want !== null) {
      throw new Error(`decoder refused (${e.message}) what the oracle accepts: ${preview(bytes)}`);
    }
    if (record) bump(e.reason);
    return e.reason;
  }
  if (want === null) throw new Error(`decoder accepted what the oracle refuses: ${preview(bytes)}`);
  if (stable(got) !== stable(want)) {
    throw new Error(`decoded ${stable(got)} but the input says ${stable(want)}`);
  }
  assertPlain(got);
  if (stable(validateMessage(got, lim)) !== stable(got)) throw new Error('re-validation differs');
  if (stable(decode(encode(got, lim), lim)) !== stable(got)) throw new Error('re-encoding differs');
  if (record) bump('accepted');
  return 'OK';
}

// ---- generators ------------------------------------------------------------------------------

const JSONISH = [...'{}[]":,0123456789-+.eE \\tnrufalsvyp_'];
const jsonishArb = fc.string({ unit: fc.constantFrom(...JSONISH), maxLength: 200 });

const deepArray = (n: number): unknown => JSON.parse('['.repeat(n) + ']'.repeat(n));
const deepObject = (n: number): unknown => JSON.parse('{"a":'.repeat(n) + '0' + '}'.repeat(n));

/** Values to plant anywhere: wrong types, boundary integers, bad ids, discriminators. */
const hostileArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    0, -0, 1, -1, 1.5, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 1e21, 1e308, -1e308, 2 ** 32, 0.1,
    '', 'p1', 'a'.repeat(64), 'a'.repeat(65), 'c'.repeat(128), 'c'.repeat(129), 'a.b', '*', '>',
    'a b', ' ', 'é', '\u0000', '\ud800', 'x\udc00', '😀', '1', 'noop', 'cmds', 'chosen',
    'redirect', 'overloaded', 'prepare', 'promise', 'accepted', '__proto__', 'constructor',
    null, true, false, [], {}, [0], [[]], { kind: 'noop' }, { status: 'overloaded' },
    { round: 1, proposer: 'p', incarnation: 0 }, { clientId: 'c', seq: 0, payload: '' },
  ),
  fc.constantFrom(10, 100, 1000).map(deepArray),
  fc.constantFrom(10, 100, 1000).map(deepObject),
  fc.nat({ max: 3000 }).map((n) => new Array<number>(n).fill(0)),
  fc.jsonValue({ maxDepth: 2 }),
  fc.integer(),
  fc.double(),
  fc.string({ unit: 'binary', maxLength: 70 }),
);

const KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf',
  'v', 'type', 'to', 'from', 'slot', 'kind', 'status', 'x', '', ' ', 'é'];

type Path = (string | number)[];

function paths(x: unknown, at: Path = [], out: Path[] = []): Path[] {
  if (typeof x !== 'object' || x === null) return out;
  for (const k of Array.isArray(x) ? x.keys() : Object.keys(x)) {
    const p = [...at, k];
    out.push(p);
    paths((x as Record<string | number, unknown>)[k], p, out);
  }
  return out;
}

function put(o: object, k: string | number, value: unknown): void {
  Object.defineProperty(o, k, { value, enumerable: true, configurable: true, writable: true });
}

type TreeOp =
  | { readonly op: 'replace' | 'addKey' | 'wrap'; readonly key: string; readonly value: unknown }
  | { readonly op: 'delete' | 'repeat'; readonly key: string; readonly value: unknown };

const treeOpArb: fc.Arbitrary<TreeOp> = fc.record({
  op: fc.constantFrom('replace', 'replace', 'replace', 'addKey', 'wrap', 'delete', 'repeat'),
  key: fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 6 })),
  value: hostileArb,
});

/** Applies a structural mutation at the `pick`-th node of a parsed valid encoding. */
function mutateTree(text: string, pick: number, t: TreeOp): string {
  const root = JSON.parse(text) as Record<string, unknown>;
  const all = paths(root);
  const path = all[pick % all.length] as Path;
  let parent: Record<string | number, unknown> = root;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const key = path[path.length - 1] as string | number;
  const here = parent[key];
  switch (t.op) {
    case 'replace':
      put(parent, key, t.value);
      break;
    case 'addKey': {
      const target = typeof here === 'object' && here !== null && !Array.isArray(here)
        ? here : parent;
      if (Array.isArray(target)) target.push(t.value);
      else put(target, t.key, t.value);
      break;
    }
    case 'wrap':
      put(parent, key, typeof t.value === 'string' ? { [t.key]: here } : [here]);
      break;
    case 'delete':
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      break;
    case 'repeat':
      if (Array.isArray(here)) here.push(...here, ...here);
      else put(parent, key, here);
      break;
  }
  return JSON.stringify(root);
}

type ByteOp = { readonly op: string; readonly at: number; readonly n: number;
  readonly bytes: Uint8Array };

const byteOpArb: fc.Arbitrary<ByteOp> = fc.record({
  op: fc.constantFrom('truncate', 'flip', 'set', 'insert', 'delete', 'dup', 'structural'),
  at: fc.nat(),
  n: fc.nat({ max: 255 }),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
});
const STRUCTURAL = utf8('{}[]":,\\-.e0 ');

function mutateBytes(src: Uint8Array, ops: readonly ByteOp[]): Uint8Array {
  let b: Uint8Array = Uint8Array.from(src);
  for (const o of ops) {
    const at = b.length === 0 ? 0 : o.at % b.length;
    const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));
    switch (o.op) {
      case 'truncate': b = b.slice(0, at); break;
      case 'flip': if (b.length > 0) b[at] = (b[at] as number) ^ (1 << (o.n % 8)); break;
      case 'set': if (b.length > 0) b[at] = o.n; break;
      case 'insert': b = cat(b.subarray(0, at), o.bytes, b.subarray(at)); break;
      case 'delete': b = cat(b.subarray(0, at), b.subarray(at + 1 + (o.n % 16))); break;
      case 'dup': b = cat(b.subarray(0, at + 1 + (o.n % 32)), b.subarray(at)); break;
      default: {
        const ch = STRUCTURAL.subarray(o.n % STRUCTURAL.length, (o.n % STRUCTURAL.length) + 1);
        b = cat(b.subarray(0, at), ch, b.subarray(at));
      }
    }
  }
  return b;
}

const encodedArb = messageArb.map((m) => ({ m, bytes: encode(m) }));

// ---- the runs --------------------------------------------------------------------------------

const RUNS = {
  rawBytes: 20_000,
  jsonish: 10_000,
  jsonValues: 10_000,
  byteMutations: 25_000,
  treeMutations: 30_000,
  textInjections: 5_000,
  smallLimits: 5_000,
  subjects: 10_000,
};

afterAll(() => {
  const reasons = ['accepted', ...DECODE_REASONS].map((r) => `${r}=${counts.get(r) ?? 0}`);
  const subjects = [...counts].filter(([k]) => k.startsWith('subject-'))
    .map(([k, n]) => `${k.slice('subject-'.length)}=${n}`);
  const batches = [...counts].filter(([k]) => k.startsWith('batch-'))
    .map(([k, n]) => `${k.slice('batch-'.length)}=${n}`);
  console.log(`codec fuzz seed=${SEED} decoder inputs=${inputs}: ${reasons.join(' ')}; ` +
    `subject inputs=${subjectInputs}: ${subjects.join(' ')}; ` +
    `propose batch inputs=${batchInputs}: ${batches.join(' ')}`);
});

describe('decoder fuzz (T4)', () => {

  it('random bytes', () => {
    assertSeeded(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      judge(b);
    }), SEED, RUNS.rawBytes, 'random bytes');
  });

  it('JSON-ish noise', () => {
    assertSeeded(fc.property(jsonishArb, (s) => {
      judge(utf8(s));
    }), SEED + 1, RUNS.jsonish, 'JSON-ish noise');
  });

  it('arbitrary JSON values, bare or inside an envelope of a known type', () => {
    const arb = fc.tuple(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(...MSG_TYPES),
      fc.boolean());
    assertSeeded(fc.property(arb, ([x, type, wrap]) => {
      const body = wrap && typeof x === 'object' && x !== null && !Array.isArray(x)
        ? { v: 1, type, ...x } : x;
      judge(utf8(JSON.stringify(body) ?? 'null'));
    }), SEED + 2, RUNS.jsonValues, 'JSON values');
  });

  it('byte-level mutations of valid encodings: truncate, flip, set, insert, delete, splice', () => {
    const arb = fc.tuple(encodedArb, fc.array(byteOpArb, { minLength: 1, maxLength: 3 }));
    assertSeeded(fc.property(arb, ([{ bytes }, ops]) => {
      judge(mutateBytes(bytes, ops));
    }), SEED + 3, RUNS.byteMutations, 'byte mutations');
  });

  it('structure-level mutations: wrong types, huge numbers, bad ids, extra, missing keys', () => {
    const arb = fc.tuple(encodedArb, fc.nat(), treeOpArb);
    assertSeeded(fc.property(arb, ([{ bytes }, pick, op]) => {
      judge(utf8(mutateTree(Buffer.from(bytes).toString('utf8'), pick, op)));
    }), SEED + 4, RUNS.treeMutations, 'tree mutations');
  });

  it('text injections: duplicate keys, __proto__ literals, version and type swaps', () => {
    const inject = fc.oneof(
      fc.constantFrom('"__proto__":{},', '"__proto__":null,', '"constructor":{},', '"v":1,',
        '"v":2,', '"v":"1",', '"v":1.0,', '"type":"prepare",', '"type":"toString",',
        '"from":"evil",', '"from":"a.b",', '"to":"x",', '"slot":9007199254740992,',
        '"slot":9007199254740991,', '"x":1,'),
      fc.tuple(fc.constantFrom(...KEYS), hostileArb)
        .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'},`),
    );
    const arb = fc.tuple(encodedArb, inject, fc.boolean());
    assertSeeded(fc.property(arb, ([{ bytes }, text, atEnd]) => {
      const s = Buffer.from(bytes).toString('utf8');
      const out = atEnd ? `${s.slice(0, -1)},${text.slice(0, -1)}}` : `{${text}${s.slice(1)}`;
      judge(utf8(out));
    }), SEED + 5, RUNS.textInjections, 'text injections');
  });

  it('hostile but well-formed messages under tight limits', () => {
    const lim = resolveLimits({ maxMessageBytes: 400, maxNodeIdLength: 8, maxClientIdLength: 8,
      maxPayloadBytes: 8, maxCommandsPerValue: 2, maxAcceptedEntries: 2 });
    assertSeeded(fc.property(messageArb, (m) => {
      judge(encode(m), lim);
    }), SEED + 6, RUNS.smallLimits, 'tight limits');
  });

  it('fixed extremes: oversize, 1 MiB of nesting, boundary integers', () => {
    const n = DEFAULT_LIMITS.maxMessageBytes;
    const prepare = (fromSlot: string): Uint8Array => utf8('{"v":1,"type":"prepare","from":' +
      `"p1","ballot":{"round":1,"proposer":"p1","incarnation":0},"fromSlot":${fromSlot}}`);
    expect(judge(new Uint8Array(n + 1))).toBe('TOO_LARGE');
    expect(judge(utf8('['.repeat(n)))).toBe('BAD_JSON');
    expect(judge(utf8('{"a":'.repeat(n / 5)))).toBe('BAD_JSON');
    expect(judge(utf8('['.repeat(n / 2) + ']'.repeat(n / 2)))).toBe('BAD_ENVELOPE');
    const deep = '['.repeat(n / 4) + ']'.repeat(n / 4);
    expect(judge(prepare(deep))).toBe('BAD_FIELD');
    expect(judge(prepare('9007199254740991'))).toBe('OK');
    expect(judge(prepare('9007199254740992'))).toBe('BAD_FIELD');
    expect(judge(prepare('1' + '0'.repeat(400)))).toBe('BAD_FIELD');
    expect(judge(prepare('0'.repeat(2)))).toBe('BAD_JSON');
  });

  // The checker must catch a broken decoder, or it proves nothing (STYLE.md rule 16).
  const parsed = (b: Uint8Array): Record<string, unknown> =>
    JSON.parse(Buffer.from(b).toString('utf8')) as Record<string, unknown>;
  const withoutV = (b: Uint8Array): Message => {
    const { v: _v, ...m } = parsed(b);
    return m as unknown as Message;
  };
  const PLANTED: Record<string, DecodeFn> = {
    'returns the parsed object itself': (b, lim) => (decode(b, lim), parsed(b) as never),
    'lets a bad field through': (b, lim) => {
      const r = tryDecode(b, lim);
      if (r.ok || r.error.code !== 'BAD_FIELD') return decode(b, lim);
      return withoutV(b);
    },
    'throws a TypeError on an unknown field': (b, lim) => {
      const r = tryDecode(b, lim);
      if (!r.ok && r.error.code === 'UNKNOWN_FIELD') throw new TypeError('boom');
      return decode(b, lim);
    },
    'refuses a round of 2^53 - 1': (b, lim) => {
      if (Buffer.from(b).includes('"round":9007199254740991')) {
        throw new DecodeError(DecodeReason.BadField, 'ballot.round', 'planted');
      }
      return decode(b, lim);
    },
  };
  const mixedArb = fc.oneof(
    encodedArb.map(({ bytes }) => bytes),
    fc.tuple(encodedArb, fc.nat(), treeOpArb)
      .map(([{ bytes }, pick, op]) => utf8(mutateTree(Buffer.from(bytes).toString('utf8'), pick,
        op))),
  );
  it.each(Object.keys(PLANTED))('catches a planted decoder bug: %s', (name) => {
    const dec = PLANTED[name] as DecodeFn;
    const r = fc.check(fc.property(mixedArb, (b) => {
      judge(b, DEFAULT_LIMITS, dec, false);
    }), { seed: SEED + 9, numRuns: 5_000, endOnFailure: true });
    expect(r.failed).toBe(true);
  });

  it('ran at least 100,000 decoder inputs', () => {
    expect(inputs).toBeGreaterThanOrEqual(100_000);
  });
});

/** `m` with its `to` (if it has one) replaced by `id`. */
function retarget(m: Message, id: string): Message {
  return 'to' in m && m.to !== undefined ? ({ ...m, to: id } as Message) : m;
}

interface Delivery {
  readonly subject: string;
  readonly m: Message;
  readonly ops: readonly ByteOp[] | null;
  readonly cluster: string | undefined;
}

const opsArb = fc.option(fc.array(byteOpArb, { minLength: 1, maxLength: 2 }), { freq: 3 });
const deliveryArb: fc.Arbitrary<Delivery> = fc.oneof(
  // The right subject, the payload sometimes mutated.
  fc.tuple(messageArb, nodeIdArb, opsArb, fc.boolean()).map(([m, c, ops, pin]) =>
    ({ subject: subjectFor(c, m), m, ops, cluster: pin ? c : undefined })),
  // The subject of another message: other type, sender, target or cluster.
  fc.tuple(messageArb, messageArb, nodeIdArb).map(([m, other, c]) =>
    ({ subject: subjectFor(c, other), m, ops: null, cluster: undefined })),
  // A forged sender or target token.
  fc.tuple(messageArb, nodeIdArb, nodeIdArb, fc.boolean()).map(([m, c, id, sender]) => ({
    subject: subjectFor(c, sender ? { ...m, from: id } : retarget(m, id)),
    m, ops: null, cluster: c,
  })),
  // Delivered in another cluster than the receiver's.
  fc.tuple(messageArb, nodeIdArb).map(([m, c]) =>
    ({ subject: subjectFor(c, m), m, ops: null, cluster: `${c}x` })),
  // Mangled or random subjects.
  fc.tuple(messageArb, fc.nat(), fc.constantFrom('.', '*', '>', ' ', '', 'x', '..', 'é'))
    .map(([m, at, ch]) => {
      const s = subjectFor('c', m);
      const i = at % (s.length + 1);
      return { subject: s.slice(0, i) + ch + s.slice(i + 1), m, ops: null, cluster: undefined };
    }),
  fc.tuple(fc.string({ maxLength: 80 }), messageArb)
    .map(([subject, m]) => ({ subject, m, ops: null, cluster: undefined })),
);

describe('subject fuzz (T4)', () => {
  it('subjects and payloads that disagree: SubjectError or DecodeError, never a mismatch', () => {
    assertSeeded(fc.property(deliveryArb, ({ subject, m, ops, cluster }) => {
      subjectInputs++;
      const bytes = ops === null ? encode(m) : mutateBytes(encode(m), ops);
      const r = tryDecodeDelivery(subject, bytes, cluster === undefined ? {} : { cluster });
      if (r.ok) {
        // Accepted: the payload is valid and is exactly the message this subject announces.
        const p = parseSubject(subject);
        if (subjectFor(p.cluster, r.msg) !== subject || (cluster ?? p.cluster) !== p.cluster) {
          throw new Error(`accepted ${stable(r.msg)} on ${subject}`);
        }
        if (stable(oracle(bytes)) !== stable(r.msg)) throw new Error('payload differs');
        bump('subject-accepted');
      } else {
        if (!(r.error instanceof SubjectError || r.error instanceof DecodeError)) {
          throw new Error('unexpected error type');
        }
        bump(`subject-${r.error.code}`);
      }
    }), SEED + 7, RUNS.subjects, 'subject fuzz');
  });
});

// ---- propose batches (client API) ------------------------------------------------------------

/** A batch decoder under test: the real one, or a planted-bug variant of it. */
type BatchDecodeFn = (bytes: Uint8Array, lim: Limits) => ProposeBatch;

/** `judge` for a batch decoder or, with `expected`, the batch reply decoder. */
function judgeApi(bytes: Uint8Array, lim: Limits, dec: (b: Uint8Array) => unknown,
  want: unknown, reencode: (got: never) => unknown, record: boolean): string {
  if (record) batchInputs++;
  let got: unknown;
  try {
    got = dec(bytes);
  } catch (e) {
    if (!(e instanceof DecodeError) || e.name !== 'DecodeError') {
      throw new Error(`a batch decoder threw something else than DecodeError: ${String(e)}`);
    }
    if (!DECODE_REASONS.includes(e.reason)) throw new Error(`unknown reason ${e.reason}`);
    if (want !== null) {
      throw new Error(`refused (${e.message}) what the oracle accepts: ${preview(bytes)}`);
    }
    if (record) bump(`batch-${e.reason}`);
    return e.reason;
  }
  if (want === null) throw new Error(`accepted what the oracle refuses: ${preview(bytes)}`);
  if (stable(got) !== stable(want)) {
    throw new Error(`decoded ${stable(got)} but the input says ${stable(want)}`);
  }
  assertPlain(got);
  if (stable(reencode(got as never)) !== stable(got)) throw new Error('re-encoding differs');
  if (record) bump('batch-accepted');
  return 'OK';
}

function judgeBatch(bytes: Uint8Array, lim: Limits = DEFAULT_LIMITS,
  dec: BatchDecodeFn = decodeProposeBatch, record = true): string {
  return judgeApi(bytes, lim, (b) => dec(b, lim), batchOracle(bytes, lim),
    (got: ProposeBatch) => decodeProposeBatch(encodeApi(got), lim), record);
}

function judgeReply(bytes: Uint8Array, expected: number, lim: Limits = DEFAULT_LIMITS): string {
  return judgeApi(bytes, lim, (b) => decodeProposeBatchReply(b, expected, lim),
    batchReplyOracle(bytes, expected, lim),
    (got: { outcomes: Outcome[] }) => decodeProposeBatchReply(encodeApi(got), expected, lim),
    true);
}

/** A valid batch with one of its commands copied to the end (its trace too, if any). */
const duplicatedArb = fc.tuple(proposeBatchArb, fc.nat()).map(([b, k]): ProposeBatch => {
  const i = k % b.cmds.length;
  const cmds = [...b.cmds, b.cmds[i] as ProposeBatch['cmds'][number]];
  return b.traces === undefined ? { cmds } : { cmds, traces: [...b.traces, b.traces[i] ?? null] };
});

/** Valid batches, near misses (a duplicate), and both mutated structurally. */
const batchBytesArb = fc.oneof(
  { weight: 2, arbitrary: proposeBatchArb.map((b) => encodeApi(b)) },
  { weight: 1, arbitrary: duplicatedArb.map((b) => encodeApi(b)) },
  {
    weight: 6,
    arbitrary: fc.tuple(fc.oneof(proposeBatchArb, duplicatedArb), fc.nat(), treeOpArb)
      .map(([b, pick, op]) => utf8(mutateTree(Buffer.from(encodeApi(b)).toString('utf8'),
        pick, op))),
  },
);

const BATCH_RUNS = { tree: 12_000, bytes: 5_000, injections: 3_000, tight: 2_000, replies: 8_000 };

describe('propose batch decoder fuzz (T4)', () => {
  it('valid batches, duplicates and structure-level mutations agree with the oracle', () => {
    assertSeeded(fc.property(batchBytesArb, (b) => {
      judgeBatch(b);
    }), SEED + 20, BATCH_RUNS.tree, 'propose batch tree mutations');
  });

  it('byte-level mutations of valid batches', () => {
    const arb = fc.tuple(proposeBatchArb, fc.array(byteOpArb, { minLength: 1, maxLength: 3 }));
    assertSeeded(fc.property(arb, ([b, ops]) => {
      judgeBatch(mutateBytes(encodeApi(b), ops));
    }), SEED + 21, BATCH_RUNS.bytes, 'propose batch byte mutations');
  });

  it('text injections: version, keys, traces, __proto__', () => {
    const inject = fc.oneof(
      fc.constantFrom('"__proto__":{},', '"v":2,', '"v":"1",', '"v":1,', '"cmds":[],',
        '"cmds":null,', '"traces":null,', '"traces":[],', '"traces":[null],', '"type":"request",',
        '"outcomes":[],', '"x":1,'),
      fc.tuple(traceparentArb, fc.nat({ max: 3 }))
        .map(([tp, n]) => `"traces":${JSON.stringify(new Array<string>(n).fill(tp))},`),
      fc.tuple(fc.constantFrom(...KEYS, 'cmds', 'traces'), hostileArb)
        .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'},`),
    );
    const arb = fc.tuple(proposeBatchArb, inject, fc.boolean());
    assertSeeded(fc.property(arb, ([b, text, atEnd]) => {
      const s = Buffer.from(encodeApi(b)).toString('utf8');
      const out = atEnd ? `${s.slice(0, -1)},${text.slice(0, -1)}}` : `{${text}${s.slice(1)}`;
      judgeBatch(utf8(out));
    }), SEED + 22, BATCH_RUNS.injections, 'propose batch text injections');
  });

  it('valid batches under tight limits', () => {
    const lim = resolveLimits({ maxMessageBytes: 300, maxClientIdLength: 8, maxPayloadBytes: 8 });
    assertSeeded(fc.property(proposeBatchArb, (b) => {
      judgeBatch(encodeApi(b), lim);
    }), SEED + 23, BATCH_RUNS.tight, 'propose batch tight limits');
  });

  it('replies: mutated, and expected counts off by one', () => {
    const arb = fc.tuple(fc.array(outcomeArb, { minLength: 1, maxLength: 6 }),
      fc.constantFrom(-1, 0, 0, 0, 1), fc.option(fc.tuple(fc.nat(), treeOpArb)));
    assertSeeded(fc.property(arb, ([outcomes, off, mutation]) => {
      const text = Buffer.from(encodeApi({ outcomes })).toString('utf8');
      const bytes = mutation === null ? utf8(text) : utf8(mutateTree(text, ...mutation));
      judgeReply(bytes, outcomes.length + off);
    }), SEED + 24, BATCH_RUNS.replies, 'propose batch reply fuzz');
  });

  // As for the protocol decoder: the checker must catch a broken batch decoder.
  const parsedDoc = (b: Uint8Array): ProposeBatch => {
    const { v: _v, ...doc } = JSON.parse(Buffer.from(b).toString('utf8')) as
      Record<string, unknown>;
    return doc as unknown as ProposeBatch;
  };
  const refusedFor = (b: Uint8Array, lim: Limits, detail: RegExp): boolean => {
    try {
      decodeProposeBatch(b, lim);
      return false;
    } catch (e) {
      return e instanceof DecodeError && detail.test(e.detail);
    }
  };
  const PLANTED_BATCH: Record<string, BatchDecodeFn> = {
    'lets a command through twice': (b, lim) => (refusedFor(b, lim, /appears twice/)
      ? parsedDoc(b) : decodeProposeBatch(b, lim)),
    'accepts traces of another length': (b, lim) => (refusedFor(b, lim, /traces for/)
      ? parsedDoc(b) : decodeProposeBatch(b, lim)),
    'drops the traces': (b, lim) => ({ cmds: decodeProposeBatch(b, lim).cmds }),
    'refuses a batch of one': (b, lim) => {
      const got = decodeProposeBatch(b, lim);
      if (got.cmds.length === 1) throw new DecodeError(DecodeReason.BadField, 'cmds', 'planted');
      return got;
    },
  };
  it.each(Object.keys(PLANTED_BATCH))('catches a planted batch decoder bug: %s', (name) => {
    const dec = PLANTED_BATCH[name] as BatchDecodeFn;
    const r = fc.check(fc.property(batchBytesArb, (b) => {
      judgeBatch(b, DEFAULT_LIMITS, dec, false);
    }), { seed: SEED + 29, numRuns: 5_000, endOnFailure: true });
    expect(r.failed).toBe(true);
  });

  it('ran at least 30,000 batch inputs', () => {
    expect(batchInputs).toBeGreaterThanOrEqual(30_000);
  });
});
