import {
  type AcceptedEntry,
  assertNever,
  type Ballot,
  type Command,
  type Message,
  MSG_TYPES,
  type MsgType,
  NOOP,
  type Outcome,
  type Value,
} from '@synod/protocol';
import { DecodeError, DecodeReason, describeInput } from './errors.js';
import { type Limits, resolveLimits, TOKEN_PATTERN } from './limits.js';
import { PROTOCOL_VERSION } from './version.js';

/**
 * The hand-written validator. It reads a parsed JSON value and builds a fresh message field by
 * field, in canonical key order, so nothing of the input object (its prototype, `__proto__`
 * keys, unknown keys) can reach the cores. Every object's key set is checked before any field
 * is read, and discriminators (`v`, `type`, `kind`, `status`) are read as own properties, so a
 * polluted `Object.prototype` cannot supply a missing field either.
 *
 * It only descends into fields that the schema declares, so its recursion is bounded by
 * `MAX_NESTING_DEPTH` whatever the input. Paths are built only when a check fails, except one
 * short string per nested object and per array element.
 */

type Obj = { readonly [key: string]: unknown };

interface Shape {
  readonly required: readonly string[];
  readonly optional: readonly string[];
}

/** Top-level fields of each message type (besides the envelope's `v`). */
const MESSAGE_SHAPES: Readonly<Record<MsgType, Shape>> = {
  prepare: { required: ['type', 'from', 'ballot', 'fromSlot'], optional: ['recovery'] },
  promise: {
    required: ['type', 'from', 'to', 'ballot', 'fromSlot', 'accepted'],
    optional: ['upTo', 'floor', 'recovery'],
  },
  nack: { required: ['type', 'from', 'to', 'ballot', 'promised', 'slot'], optional: [] },
  accept: {
    required: ['type', 'from', 'ballot', 'slot', 'value'], optional: ['to', 'compactBelow'],
  },
  accepted: { required: ['type', 'from', 'ballot', 'slot', 'value'], optional: ['to'] },
  chosen: { required: ['type', 'from', 'ballot', 'slot', 'value'], optional: ['to'] },
  heartbeat: {
    required: ['type', 'from', 'ballot', 'chosenUpTo'], optional: ['compactBelow'],
  },
  catchup: { required: ['type', 'from', 'fromSlot', 'toSlot'], optional: [] },
  request: { required: ['type', 'from', 'cmd'], optional: ['to'] },
  response: {
    required: ['type', 'from', 'to', 'clientId', 'seq', 'outcome'],
    optional: [],
  },
  progress: { required: ['type', 'from', 'nextSlot'], optional: [] },
};

const NONE: readonly string[] = [];
const BALLOT_KEYS = ['round', 'proposer', 'incarnation'];
const NOOP_KEYS = ['kind'];
const CMDS_KEYS = ['kind', 'cmds'];
/** A batch's optional leader stamp (milliseconds; see `Value` in @synod/protocol). */
const STAMP_KEYS = ['stamp'];
const COMMAND_KEYS = ['clientId', 'seq', 'payload'];
const ENTRY_KEYS = ['slot', 'ballot', 'value'];
const CHOSEN_KEYS = ['status', 'slot'];
const REDIRECT_KEYS = ['status', 'leader'];
const OVERLOADED_KEYS = ['status'];

const MSG_TYPE_SET: ReadonlySet<string> = new Set(MSG_TYPES);
/** A lone (unpaired) UTF-16 surrogate: such a string has no UTF-8 encoding. */
const LONE_SURROGATE = /\p{Cs}/u;
/** Keys shown verbatim in error paths; others are quoted and cut. */
const PLAIN_KEY = /^[A-Za-z0-9_]{1,32}$/;

/**
 * Checks that `x` is a valid in-memory message and returns a fresh copy of it in canonical
 * form. Throws {@link DecodeError} otherwise; an optional `to` that is `undefined` counts as
 * absent. `limits` overrides the defaults (see `resolveLimits`).
 */
export function validateMessage(x: unknown, limits?: Partial<Limits>): Message {
  const lim = resolveLimits(limits);
  if (!isObj(x)) {
    fail(DecodeReason.BadEnvelope, '$', `expected an object, got ${describeInput(x)}`);
  }
  return readMessage(x, lim, false);
}

/** Validates a parsed JSON envelope `{v, type, ...}` and returns the message it carries. */
export function readEnvelope(parsed: unknown, lim: Limits): Message {
  if (!isObj(parsed)) {
    fail(DecodeReason.BadEnvelope, '$', `expected an object, got ${describeInput(parsed)}`);
  }
  const v = own(parsed, 'v');
  if (v !== PROTOCOL_VERSION) {
    const got = v === undefined ? 'missing' : `got ${describeInput(v)}`;
    fail(DecodeReason.BadVersion, 'v', `expected ${PROTOCOL_VERSION}, ${got}`);
  }
  return readMessage(parsed, lim, true);
}

function readMessage(o: Obj, lim: Limits, envelope: boolean): Message {
  const type = own(o, 'type');
  if (typeof type !== 'string' || !MSG_TYPE_SET.has(type)) {
    fail(DecodeReason.UnknownType, 'type', `not a message type: ${describeInput(type)}`);
  }
  const t = type as MsgType;
  const shape = MESSAGE_SHAPES[t];
  checkKeys(o, shape.required, shape.optional, '', envelope ? 'v' : null);
  const from = readNodeId(o.from, '', 'from', lim);
  switch (t) {
    case 'prepare':
      return { type: t, from, ballot: readBallot(o.ballot, 'ballot', lim),
        fromSlot: readUint(o.fromSlot, '', 'fromSlot'), ...optionalUint(o, 'recovery') };
    case 'promise':
      return { type: t, from, to: readNodeId(o.to, '', 'to', lim),
        ballot: readBallot(o.ballot, 'ballot', lim),
        fromSlot: readUint(o.fromSlot, '', 'fromSlot'),
        accepted: readEntries(o.accepted, 'accepted', lim),
        ...(o.upTo === undefined ? {} : { upTo: readUint(o.upTo, '', 'upTo') }),
        ...(o.floor === undefined ? {} : { floor: readUint(o.floor, '', 'floor') }),
        ...optionalUint(o, 'recovery') };
    case 'nack':
      return { type: t, from, to: readNodeId(o.to, '', 'to', lim),
        ballot: readBallot(o.ballot, 'ballot', lim),
        promised: readBallot(o.promised, 'promised', lim),
        slot: o.slot === null ? null : readUint(o.slot, '', 'slot') };
    case 'accept': {
      const to = readOptionalTo(o, lim);
      return { type: t, from, ...(to === undefined ? {} : { to }),
        ballot: readBallot(o.ballot, 'ballot', lim),
        slot: readUint(o.slot, '', 'slot'), value: readValue(o.value, 'value', lim),
        ...optionalUint(o, 'compactBelow') };
    }
    case 'accepted':
    case 'chosen':
      return readVote(t, from, o, lim);
    case 'heartbeat':
      return { type: t, from, ballot: readBallot(o.ballot, 'ballot', lim),
        chosenUpTo: readUint(o.chosenUpTo, '', 'chosenUpTo'), ...optionalUint(o, 'compactBelow') };
    case 'catchup':
      return readCatchup(from, o);
    case 'request': {
      const to = readOptionalTo(o, lim);
      const cmd = readClientCommand(o.cmd, 'cmd', lim);
      return to === undefined ? { type: t, from, cmd } : { type: t, from, to, cmd };
    }
    case 'response':
      return { type: t, from, to: readNodeId(o.to, '', 'to', lim),
        clientId: readClientId(o.clientId, '', 'clientId', lim), seq: readUint(o.seq, '', 'seq'),
        outcome: readOutcome(o.outcome, 'outcome', lim) };
    case 'progress':
      return { type: t, from, nextSlot: readUint(o.nextSlot, '', 'nextSlot') };
    default:
      return assertNever(t);
  }
}

function readVote(t: 'accepted' | 'chosen', from: string, o: Obj, lim: Limits): Message {
  const to = readOptionalTo(o, lim);
  const ballot = readBallot(o.ballot, 'ballot', lim);
  const slot = readUint(o.slot, '', 'slot');
  const value = readValue(o.value, 'value', lim);
  return to === undefined
    ? { type: t, from, ballot, slot, value }
    : { type: t, from, to, ballot, slot, value };
}

function readCatchup(from: string, o: Obj): Message {
  const fromSlot = readUint(o.fromSlot, '', 'fromSlot');
  const toSlot = readUint(o.toSlot, '', 'toSlot');
  // An empty range asks for nothing; no core sends one, so it can only be noise or an attack.
  if (toSlot < fromSlot) fail(DecodeReason.BadField, 'toSlot', `below fromSlot ${fromSlot}`);
  return { type: 'catchup', from, fromSlot, toSlot };
}

/** `{ [key]: n }` when the optional unsigned field is present, else `{}`. */
function optionalUint(o: Obj, key: string): Record<string, number> {
  const x = own(o, key);
  return x === undefined ? {} : { [key]: readUint(x, '', key) };
}

function readOptionalTo(o: Obj, lim: Limits): string | undefined {
  const to = own(o, 'to');
  return to === undefined ? undefined : readNodeId(to, '', 'to', lim);
}

function readBallot(x: unknown, at: string, lim: Limits): Ballot {
  const o = readObj(x, at);
  checkKeys(o, BALLOT_KEYS, NONE, at, null);
  return {
    round: readUint(o.round, at, 'round'),
    proposer: readNodeId(o.proposer, at, 'proposer', lim),
    incarnation: readUint(o.incarnation, at, 'incarnation'),
  };
}

function readValue(x: unknown, at: string, lim: Limits): Value {
  const o = readObj(x, at);
  const kind = own(o, 'kind');
  if (kind === 'noop') {
    checkKeys(o, NOOP_KEYS, NONE, at, null);
    return NOOP;
  }
  if (kind === 'cmds') {
    checkKeys(o, CMDS_KEYS, STAMP_KEYS, at, null);
    const cmds = readCommands(o.cmds, join(at, 'cmds'), lim);
    const stamp = own(o, 'stamp');
    return stamp === undefined
      ? { kind: 'cmds', cmds }
      : { kind: 'cmds', cmds, stamp: readUint(stamp, at, 'stamp') };
  }
  if (kind === undefined) fail(DecodeReason.MissingField, join(at, 'kind'), 'required');
  return fail(DecodeReason.BadField, join(at, 'kind'), `unknown kind ${describeInput(kind)}`);
}

function readCommands(x: unknown, at: string, lim: Limits): Command[] {
  const arr = readArray(x, at, lim.maxCommandsPerValue, 'maxCommandsPerValue');
  if (arr.length === 0) fail(DecodeReason.BadField, at, 'a batch holds at least one command');
  const out: Command[] = [];
  for (let i = 0; i < arr.length; i++) out.push(readCommand(arr[i], `${at}[${i}]`, lim));
  return out;
}

function readCommand(x: unknown, at: string, lim: Limits): Command {
  const o = readObj(x, at);
  checkKeys(o, COMMAND_KEYS, NONE, at, null);
  return {
    clientId: readClientId(o.clientId, at, 'clientId', lim),
    seq: readUint(o.seq, at, 'seq'),
    payload: readPayload(o.payload, at, lim),
  };
}

/**
 * A command as a client sends it (a `request`, a propose batch): a command, and its seq at
 * least 1. Deduplicators count every seq up to a client's floor, which starts at 0, as seen, so
 * a command with seq 0 would be chosen, answered `chosen` and never applied: it is refused
 * before anything is proposed. Values already in the log (accept, accepted, chosen, promise)
 * are read with {@link readCommand}, which keeps decoding whatever is stored.
 */
function readClientCommand(x: unknown, at: string, lim: Limits): Command {
  const cmd = readCommand(x, at, lim);
  if (cmd.seq < 1) {
    fail(DecodeReason.BadField, join(at, 'seq'),
      'a client command\'s seq is at least 1 (seq 0 counts as already seen when the log is ' +
      'applied, so it would never take effect)');
  }
  return cmd;
}

function readEntries(x: unknown, at: string, lim: Limits): AcceptedEntry[] {
  const arr = readArray(x, at, lim.maxAcceptedEntries, 'maxAcceptedEntries');
  const out: AcceptedEntry[] = [];
  for (let i = 0; i < arr.length; i++) {
    const eat = `${at}[${i}]`;
    const o = readObj(arr[i], eat);
    checkKeys(o, ENTRY_KEYS, NONE, eat, null);
    out.push({
      slot: readUint(o.slot, eat, 'slot'),
      ballot: readBallot(o.ballot, join(eat, 'ballot'), lim),
      value: readValue(o.value, join(eat, 'value'), lim),
    });
  }
  return out;
}

function readOutcome(x: unknown, at: string, lim: Limits): Outcome {
  const o = readObj(x, at);
  const status = own(o, 'status');
  switch (status) {
    case 'chosen':
      checkKeys(o, CHOSEN_KEYS, NONE, at, null);
      return { status, slot: readUint(o.slot, at, 'slot') };
    case 'redirect':
      checkKeys(o, REDIRECT_KEYS, NONE, at, null);
      return {
        status,
        leader: o.leader === null ? null : readNodeId(o.leader, at, 'leader', lim),
      };
    case 'overloaded':
      checkKeys(o, OVERLOADED_KEYS, NONE, at, null);
      return { status };
    case 'conflict':
      checkKeys(o, CHOSEN_KEYS, NONE, at, null);
      return { status, slot: readUint(o.slot, at, 'slot') };
    case undefined:
      return fail(DecodeReason.MissingField, join(at, 'status'), 'required');
    default:
      return fail(DecodeReason.BadField, join(at, 'status'), `unknown ${describeInput(status)}`);
  }
}

// ---- leaves ---------------------------------------------------------------------------------

/** A slot, round, seq or chosenUpTo: a non-negative safe integer (`-0` becomes `0`). */
function readUint(x: unknown, at: string, key: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) {
    fail(DecodeReason.BadField, join(at, key),
      `expected an integer in [0, 2^53-1], got ${describeInput(x)}`);
  }
  return x + 0;
}

function readNodeId(x: unknown, at: string, key: string, lim: Limits): string {
  return readToken(x, at, key, lim.maxNodeIdLength, 'maxNodeIdLength');
}

function readClientId(x: unknown, at: string, key: string, lim: Limits): string {
  return readToken(x, at, key, lim.maxClientIdLength, 'maxClientIdLength');
}

function readToken(x: unknown, at: string, key: string, max: number, limit: string): string {
  if (typeof x !== 'string') {
    fail(DecodeReason.BadField, join(at, key), `expected a string, got ${describeInput(x)}`);
  }
  if (x.length > max) fail(DecodeReason.Limit, join(at, key), `longer than ${limit} ${max}`);
  if (!TOKEN_PATTERN.test(x)) {
    fail(DecodeReason.BadField, join(at, key), `not 1+ of [A-Za-z0-9_-]: ${describeInput(x)}`);
  }
  return x;
}

function readPayload(x: unknown, at: string, lim: Limits): string {
  if (typeof x !== 'string') {
    fail(DecodeReason.BadField, join(at, 'payload'), `expected a string, got ${describeInput(x)}`);
  }
  const max = lim.maxPayloadBytes;
  // Each UTF-16 code unit takes 1 to 3 UTF-8 bytes, so count only when the bound is unclear.
  if (x.length > max || (x.length * 3 > max && utf8Length(x) > max)) {
    fail(DecodeReason.Limit, join(at, 'payload'), `more than maxPayloadBytes ${max} bytes`);
  }
  if (LONE_SURROGATE.test(x)) {
    fail(DecodeReason.BadField, join(at, 'payload'), 'lone UTF-16 surrogate (not Unicode text)');
  }
  return x;
}

/** UTF-8 length of a string, counting a lone surrogate as 3 bytes (U+FFFD). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

// ---- structure ------------------------------------------------------------------------------

function readObj(x: unknown, at: string): Obj {
  if (!isObj(x)) {
    fail(DecodeReason.BadField, at || '$', `expected an object, got ${describeInput(x)}`);
  }
  return x;
}

function readArray(x: unknown, at: string, max: number, limit: string): readonly unknown[] {
  if (!Array.isArray(x)) {
    fail(DecodeReason.BadField, at, `expected an array, got ${describeInput(x)}`);
  }
  const arr: readonly unknown[] = x;
  if (arr.length > max) fail(DecodeReason.Limit, at, `more than ${limit} ${max} elements`);
  return arr;
}

function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** An own property, so that a polluted prototype cannot answer for a missing key. */
function own(o: Obj, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

/**
 * The keys of `o` must be exactly `required` plus any of `optional` (plus `extra`, the
 * envelope's `v`, already known to be present). Because object keys are distinct, checking that
 * every key is allowed and counting them proves that every required key is there.
 */
function checkKeys(
  o: Obj,
  required: readonly string[],
  optional: readonly string[],
  at: string,
  extra: string | null,
): void {
  const keys = Object.keys(o);
  let expected = required.length;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    if (required.includes(k)) continue;
    if (k === extra || optional.includes(k)) {
      expected++;
      continue;
    }
    fail(DecodeReason.UnknownField, join(at, k), 'not in the schema');
  }
  if (keys.length === expected) return;
  for (const r of required) {
    if (!Object.hasOwn(o, r)) fail(DecodeReason.MissingField, join(at, r), 'required');
  }
}

function join(at: string, key: string): string {
  const k = PLAIN_KEY.test(key) ? key : `[${describeInput(key)}]`;
  return at === '' ? k : `${at}.${k}`;
}

function fail(reason: DecodeReason, path: string, detail: string): never {
  throw new DecodeError(reason, path, detail);
}

/**
 * Field readers for the other schemas of this package (the client API). Internal: not
 * exported from the package index.
 */
export const fieldReaders = {
  readValue, readUint, readObj, readArray, readNodeId, checkKeys, own, fail, readCommand,
  readClientCommand, readOutcome,
};
