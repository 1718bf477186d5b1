import { DecodeError, type Limits, validateMessage } from '@synod/codec';
import type { AcceptedEntry, Ballot, Decision, Value } from '@synod/protocol';
import { StoreError, StoreErrorCode } from './errors.js';

/**
 * The JSON records kept in Redis, and their strict parse. Ballots and values are checked with
 * the codec's validator (wrapped in a synthetic message, since that is what it validates), so a
 * record is accepted on load exactly when the same ballot or value would be accepted off the
 * wire. Writes go through the same check first: a record that would not read back is refused
 * before it reaches Redis rather than discovered as CORRUPT at the next start.
 */

/** Sender id of the synthetic messages; any valid token would do. */
const STORE = 'store';
const ENTRY_KEYS = ['ballot', 'value'];
const MARKER_KEYS = ['cluster', 'acceptor', 'createdAt', 'version'];

/** The acceptor's incarnation marker as stored under its `marker` key. */
export interface AcceptorMarker {
  readonly cluster: string;
  readonly acceptor: string;
  /** When the acceptor was first initialised (ISO 8601, given by the app). */
  readonly createdAt: string;
  /** Layout version of the acceptor's keys; {@link MARKER_VERSION} today. */
  readonly version: number;
}

/** Version of the key layout that a marker vouches for. */
export const MARKER_VERSION = 1;

/** Where a record came from, for error messages. */
export interface Where {
  readonly key: string;
  readonly field?: string;
}

/** Canonical JSON of a ballot, after checking it; REFUSED when it would not read back. */
export function encodeBallot(b: Ballot, lim: Limits): string {
  return JSON.stringify(checkOut(() => readBallot(b, lim), 'ballot'));
}

/** Canonical JSON `{ballot, value}` of an accepted entry, after checking it. */
export function encodeEntry(e: AcceptedEntry, lim: Limits): string {
  const m = checkOut(() => readVote(e.slot, e.ballot, e.value, lim), `entry at slot ${e.slot}`);
  return JSON.stringify({ ballot: m.ballot, value: m.value });
}

/** Canonical JSON of a decided value, after checking it. */
export function encodeDecision(d: Decision, lim: Limits): string {
  const m = checkOut(() => readVote(d.slot, PLACEHOLDER, d.value, lim), `decision ${d.slot}`);
  return JSON.stringify(m.value);
}

/** Parses a stored ballot; CORRUPT naming the key otherwise. */
export function parseBallot(raw: string, at: Where, lim: Limits): Ballot {
  return checkIn(at, () => readBallot(JSON.parse(raw) as unknown, lim));
}

/** Parses one field of an acceptor's `accepted` hash. */
export function parseEntry(field: string, raw: string, at: Where, lim: Limits): AcceptedEntry {
  return checkIn(at, () => {
    const slot = parseSlot(field);
    const o = exactObject(JSON.parse(raw) as unknown, ENTRY_KEYS);
    const m = readVote(slot, o.ballot, o.value, lim);
    return { slot, ballot: m.ballot, value: m.value };
  });
}

/** Parses one field of a learner's `log` hash. */
export function parseDecision(field: string, raw: string, at: Where, lim: Limits): Decision {
  return checkIn(at, () => {
    const slot = parseSlot(field);
    return { slot, value: readVote(slot, PLACEHOLDER, JSON.parse(raw) as unknown, lim).value };
  });
}

/** Parses a stored decimal slot number (`next`). */
export function parseSlotValue(raw: string, at: Where): number {
  return checkIn(at, () => parseSlot(raw));
}

/** Parses the marker's JSON; CORRUPT on any deviation, including an unknown version. */
export function parseMarker(raw: string, at: Where): AcceptorMarker {
  return checkIn(at, () => {
    const o = exactObject(JSON.parse(raw) as unknown, MARKER_KEYS);
    const { cluster, acceptor, createdAt, version } = o;
    if (typeof cluster !== 'string' || typeof acceptor !== 'string' ||
      typeof createdAt !== 'string' || typeof version !== 'number') {
      throw new Error('expected {cluster: string, acceptor: string, createdAt: string, ' +
        'version: number}');
    }
    if (version !== MARKER_VERSION) {
      throw new Error(`unsupported marker version ${version} (this build knows ` +
        `${MARKER_VERSION})`);
    }
    return { cluster, acceptor, createdAt, version };
  });
}

/** Canonical JSON of a marker, fields in the documented order. */
export function encodeMarker(m: AcceptorMarker): string {
  return JSON.stringify({
    cluster: m.cluster, acceptor: m.acceptor, createdAt: m.createdAt, version: m.version,
  });
}

// ---- internals ------------------------------------------------------------------------------

/** A ballot for the synthetic message around a learner's value; never stored. */
const PLACEHOLDER: Ballot = { round: 0, proposer: STORE, incarnation: 0 };

function readBallot(b: unknown, lim: Limits): Ballot {
  const m = validateMessage({ type: 'prepare', from: STORE, ballot: b, fromSlot: 0 }, lim);
  if (m.type !== 'prepare') throw new Error('unreachable: validator changed the type');
  return m.ballot;
}

function readVote(slot: unknown, ballot: unknown, value: unknown, lim: Limits):
  { readonly ballot: Ballot; readonly value: Value } {
  const m = validateMessage({ type: 'accepted', from: STORE, ballot, slot, value }, lim);
  if (m.type !== 'accepted') throw new Error('unreachable: validator changed the type');
  return m;
}

/** A canonical decimal safe integer: no sign, no leading zero, no exponent. */
function parseSlot(s: string): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(s) || !Number.isSafeInteger(Number(s))) {
    throw new Error(`not a slot number: ${JSON.stringify(s.slice(0, 32))}`);
  }
  return Number(s);
}

function exactObject(x: unknown, keys: readonly string[]): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new Error('not an object');
  const own = Object.keys(x);
  if (own.length !== keys.length || !keys.every((k) => Object.hasOwn(x, k))) {
    throw new Error(`expected exactly the keys ${keys.join(', ')}`);
  }
  return x as Record<string, unknown>;
}

function checkIn<T>(at: Where, read: () => T): T {
  try {
    return read();
  } catch (e) {
    const where = at.field === undefined ? `key ${at.key}` : `key ${at.key} field ${at.field}`;
    const detail = e instanceof Error ? e.message : String(e);
    throw new StoreError(StoreErrorCode.Corrupt, `corrupt record at ${where}: ${detail}`, e);
  }
}

function checkOut<T>(read: () => T, what: string): T {
  try {
    return read();
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    throw new StoreError(StoreErrorCode.Refused,
      `refused to store ${what}: it would not read back (${e.message})`, e);
  }
}
