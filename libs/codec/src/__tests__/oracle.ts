/**
 * A dumb oracle for the decoder: the message schema written as data and interpreted by a
 * naive recursive checker, sharing no code with src/validate.ts. It uses Node's Buffer for
 * UTF-8 (not TextDecoder or the decoder's own byte counting). The fuzz test insists that the
 * oracle and the decoder agree on every input, and on the value returned.
 */
import { DEFAULT_LIMITS, type Limits } from '../limits.js';

type Schema =
  | 'tag'
  | 'uint'
  /** A client command's seq: a uint of at least 1 (requests and propose batches). */
  | 'seq1'
  | 'node'
  | 'client'
  | 'payload'
  | { readonly nullable: Schema }
  | { readonly array: Schema; readonly min: number; readonly max: keyof Limits }
  | { readonly fields: Readonly<Record<string, Schema>>; readonly optional?: readonly string[] };

const ballot: Schema = { fields: { round: 'uint', proposer: 'node', incarnation: 'uint' } };
const command: Schema = { fields: { clientId: 'client', seq: 'uint', payload: 'payload' } };
/** A command as a client sends it: seq at least 1 (a stored value may hold any seq). */
const clientCommand: Schema = { fields: { clientId: 'client', seq: 'seq1', payload: 'payload' } };

/** Values and outcomes are unions keyed by one field. */
const VALUE_VARIANTS: Record<string, Schema> = {
  noop: { fields: { kind: 'tag' } },
  cmds: {
    fields: {
      kind: 'tag', cmds: { array: command, min: 1, max: 'maxCommandsPerValue' }, stamp: 'uint',
    },
    optional: ['stamp'],
  },
};
const OUTCOME_VARIANTS: Record<string, Schema> = {
  chosen: { fields: { status: 'tag', slot: 'uint' } },
  redirect: { fields: { status: 'tag', leader: { nullable: 'node' } } },
  overloaded: { fields: { status: 'tag' } },
  conflict: { fields: { status: 'tag', slot: 'uint' } },
};
const VALUE = 'VALUE' as unknown as Schema;
const OUTCOME = 'OUTCOME' as unknown as Schema;
const entry: Schema = { fields: { slot: 'uint', ballot, value: VALUE } };

const vote: Record<string, Schema> = {
  v: 'uint', type: 'tag', from: 'node', to: 'node', ballot, slot: 'uint', value: VALUE,
};

const MESSAGES: Record<string, Schema> = {
  prepare: {
    fields: { v: 'uint', type: 'tag', from: 'node', ballot, fromSlot: 'uint', recovery: 'uint' },
    optional: ['recovery'],
  },
  promise: {
    fields: {
      v: 'uint', type: 'tag', from: 'node', to: 'node', ballot, fromSlot: 'uint',
      accepted: { array: entry, min: 0, max: 'maxAcceptedEntries' }, upTo: 'uint',
      floor: 'uint', recovery: 'uint',
    },
    optional: ['upTo', 'floor', 'recovery'],
  },
  nack: {
    fields: {
      v: 'uint', type: 'tag', from: 'node', to: 'node', ballot, promised: ballot,
      slot: { nullable: 'uint' },
    },
  },
  accept: {
    fields: {
      v: 'uint', type: 'tag', from: 'node', to: 'node', ballot, slot: 'uint', value: VALUE,
      compactBelow: 'uint',
    },
    optional: ['to', 'compactBelow'],
  },
  accepted: { fields: vote, optional: ['to'] },
  chosen: { fields: vote, optional: ['to'] },
  heartbeat: {
    fields: {
      v: 'uint', type: 'tag', from: 'node', ballot, chosenUpTo: 'uint', compactBelow: 'uint',
    },
    optional: ['compactBelow'],
  },
  progress: { fields: { v: 'uint', type: 'tag', from: 'node', nextSlot: 'uint' } },
  catchup: { fields: { v: 'uint', type: 'tag', from: 'node', fromSlot: 'uint', toSlot: 'uint' } },
  request: {
    fields: { v: 'uint', type: 'tag', from: 'node', to: 'node', cmd: clientCommand },
    optional: ['to'],
  },
  response: {
    fields: {
      v: 'uint', type: 'tag', from: 'node', to: 'node', clientId: 'client', seq: 'uint',
      outcome: OUTCOME,
    },
  },
};

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function check(x: unknown, s: Schema, lim: Limits): boolean {
  if (s === VALUE || s === OUTCOME) {
    if (!isPlainObject(x)) return false;
    const key = s === VALUE ? 'kind' : 'status';
    const variants = s === VALUE ? VALUE_VARIANTS : OUTCOME_VARIANTS;
    const tag = Object.prototype.hasOwnProperty.call(x, key) ? x[key] : undefined;
    if (typeof tag !== 'string' || !Object.prototype.hasOwnProperty.call(variants, tag)) {
      return false;
    }
    return check(x, variants[tag] as Schema, lim);
  }
  if (s === 'tag') return typeof x === 'string'; // matched against the variants already
  if (s === 'uint') return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (s === 'seq1') return typeof x === 'number' && Number.isSafeInteger(x) && x >= 1;
  if (s === 'node' || s === 'client') {
    const max = s === 'node' ? lim.maxNodeIdLength : lim.maxClientIdLength;
    return typeof x === 'string' && x.length >= 1 && x.length <= max && /^[\w-]+$/.test(x);
  }
  if (s === 'payload') {
    if (typeof x !== 'string') return false;
    const buf = Buffer.from(x, 'utf8');
    return buf.length <= lim.maxPayloadBytes && buf.toString('utf8') === x;
  }
  if ('nullable' in s) return x === null || check(x, s.nullable, lim);
  if ('array' in s) {
    return Array.isArray(x) && x.length >= s.min && x.length <= lim[s.max] &&
      x.every((e) => check(e, s.array, lim));
  }
  if (!isPlainObject(x)) return false;
  const keys = Object.keys(x);
  for (const k of keys) if (!Object.prototype.hasOwnProperty.call(s.fields, k)) return false;
  for (const [k, sub] of Object.entries(s.fields)) {
    const present = keys.includes(k);
    if (!present && !(s.optional ?? []).includes(k)) return false;
    if (present && !check(x[k], sub, lim)) return false;
  }
  return true;
}

/**
 * What the decoder must do with `bytes`: the message it must return (as the parsed JSON
 * without `v`) or null when it must refuse them.
 */
export function oracle(bytes: Uint8Array, lim: Limits = DEFAULT_LIMITS): unknown {
  if (bytes.length > lim.maxMessageBytes) return null;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buf.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(buf)) return null; // not well-formed UTF-8
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isPlainObject(x) || x['v'] !== 1 || !Object.prototype.hasOwnProperty.call(x, 'v')) {
    return null;
  }
  const type = Object.prototype.hasOwnProperty.call(x, 'type') ? x['type'] : undefined;
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(MESSAGES, type)) {
    return null;
  }
  if (!check(x, MESSAGES[type] as Schema, lim)) return null;
  if (type === 'catchup' && (x['toSlot'] as number) < (x['fromSlot'] as number)) return null;
  const { v: _v, ...msg } = x;
  return msg;
}

/** JSON with sorted keys, so that key order and -0 do not matter in comparisons. */
export function stable(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(stable).join(',')}]`;
  if (isPlainObject(x)) {
    const keys = Object.keys(x).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stable(x[k])}`).join(',')}}`;
  }
  return JSON.stringify(x);
}

// ---- the client API's propose batch (and its reply) -----------------------------------------

/** Most commands (and outcomes) in one batch: MAX_PROPOSE_BATCH, written out again here. */
const BATCH_MAX = 256;
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** A client API document `{v: 1, ...}` with its required keys and no unknown one, or null. */
function apiDocument(bytes: Uint8Array, lim: Limits, required: readonly string[],
  optional: readonly string[]): Record<string, unknown> | null {
  if (bytes.length > lim.maxMessageBytes) return null;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buf.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(buf)) return null;
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isPlainObject(x) || !Object.prototype.hasOwnProperty.call(x, 'v') || x['v'] !== 1) {
    return null;
  }
  const keys = Object.keys(x);
  if (!keys.every((k) => k === 'v' || required.includes(k) || optional.includes(k))) return null;
  if (!required.every((k) => keys.includes(k))) return null;
  return x;
}

/**
 * What `decodeProposeBatch` must return for `bytes` (the parsed JSON without `v`), or null
 * when it must refuse them.
 */
export function batchOracle(bytes: Uint8Array, lim: Limits = DEFAULT_LIMITS): unknown {
  const x = apiDocument(bytes, lim, ['cmds'], ['traces']);
  if (x === null) return null;
  const cmds = x['cmds'];
  if (!Array.isArray(cmds) || cmds.length < 1 || cmds.length > BATCH_MAX) return null;
  if (!cmds.every((c) => check(c, clientCommand, lim))) return null;
  // Each command becomes a request from its client: its id must fit a sender (node id) token.
  if (!cmds.every((c: { clientId: string }) => c.clientId.length <= lim.maxNodeIdLength)) {
    return null;
  }
  const ids = cmds.map((c: { clientId: string; seq: number }) => `${c.clientId}#${c.seq}`);
  if (new Set(ids).size !== ids.length) return null;
  if (Object.prototype.hasOwnProperty.call(x, 'traces')) {
    const t = x['traces'];
    if (!Array.isArray(t) || t.length !== cmds.length) return null;
    if (!t.every((s) => s === null || (typeof s === 'string' && TRACEPARENT.test(s)))) {
      return null;
    }
  }
  const { v: _v, ...doc } = x;
  return doc;
}

/** What `decodeProposeBatchReply(bytes, expected)` must return, or null for a refusal. */
export function batchReplyOracle(bytes: Uint8Array, expected: number,
  lim: Limits = DEFAULT_LIMITS): unknown {
  const x = apiDocument(bytes, lim, ['outcomes'], []);
  if (x === null) return null;
  const o = x['outcomes'];
  if (!Array.isArray(o) || o.length !== expected || o.length > BATCH_MAX) return null;
  if (!o.every((e) => check(e, OUTCOME, lim))) return null;
  return { outcomes: o };
}
