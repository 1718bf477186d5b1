/**
 * The election commands as command payloads on the log, and their strict validator. A payload
 * is an election command exactly when it begins with {@link ELECTION_PREFIX}; anything else is
 * some other application's command and is left alone ("foreign"). A payload that begins with
 * the prefix but breaks the schema is "malformed": ignored by every learner alike, and counted
 * by reason. The validator builds a fresh object field by field, so nothing of the parsed input
 * (its prototype, `__proto__` keys, unknown keys) reaches the state machine.
 */

/** Version of the election payload schema (the `v` field). */
export const ELECTION_VERSION = 1;

/** The bytes every election payload starts with; the encoder always writes them first. */
export const ELECTION_PREFIX = '{"synod":"election"';

/** Group and candidate names: 1 to 128 of `[A-Za-z0-9._:/-]`. */
export const NAME_PATTERN = /^[A-Za-z0-9._:/-]{1,128}$/;

/** Shortest lease, in milliseconds. */
export const MIN_TTL_MS = 10;

/** Longest lease, in milliseconds (one day). */
export const MAX_TTL_MS = 86_400_000;

/** Ask for the lease of `group`, for `ttlMs` of log time from the entry that grants it. */
export interface CampaignCommand {
  readonly op: 'campaign';
  readonly group: string;
  readonly candidate: string;
  readonly ttlMs: number;
}

/** Extend the term `token` of `group` to `ttlMs` of log time from this entry. */
export interface RenewCommand {
  readonly op: 'renew';
  readonly group: string;
  readonly candidate: string;
  readonly token: number;
  readonly ttlMs: number;
}

/** Give up the term `token` of `group` now. */
export interface ResignCommand {
  readonly op: 'resign';
  readonly group: string;
  readonly candidate: string;
  readonly token: number;
}

/** An election command, as carried in a command's payload. */
export type ElectionCommand = CampaignCommand | RenewCommand | ResignCommand;

/** Why a payload that claims to be an election command was refused. */
export const MalformedReason = {
  /** Not one JSON text. */
  Json: 'json',
  /** Not an object, or keys missing or unknown for its `op`. */
  Shape: 'shape',
  /** `v` is not {@link ELECTION_VERSION}. */
  Version: 'version',
  /** `op` is not campaign, renew or resign. */
  Op: 'op',
  /** `group` is not a name. */
  Group: 'group',
  /** `candidate` is not a name. */
  Candidate: 'candidate',
  /** `ttlMs` is not an integer in [MIN_TTL_MS, MAX_TTL_MS]. */
  Ttl: 'ttl',
  /** `token` is not a non-negative safe integer. */
  Token: 'token',
} as const;
export type MalformedReason = (typeof MalformedReason)[keyof typeof MalformedReason];

/** Every malformed reason, for metrics and tests. */
export const MALFORMED_REASONS: readonly MalformedReason[] = Object.values(MalformedReason);

/** What a payload is to the election state machine. */
export type Parsed =
  | { readonly kind: 'foreign' }
  | { readonly kind: 'malformed'; readonly reason: MalformedReason }
  | { readonly kind: 'command'; readonly cmd: ElectionCommand };

const FOREIGN: Parsed = Object.freeze({ kind: 'foreign' });

const KEYS: Readonly<Record<ElectionCommand['op'], readonly string[]>> = {
  campaign: ['synod', 'v', 'op', 'group', 'candidate', 'ttlMs'],
  renew: ['synod', 'v', 'op', 'group', 'candidate', 'token', 'ttlMs'],
  resign: ['synod', 'v', 'op', 'group', 'candidate', 'token'],
};

type Obj = { readonly [key: string]: unknown };

class Malformed extends Error {
  constructor(readonly reason: MalformedReason) {
    super(reason);
  }
}

/** Classifies a command payload: foreign, malformed (with the reason), or an election command. */
export function parseElectionPayload(payload: string): Parsed {
  if (!payload.startsWith(ELECTION_PREFIX)) return FOREIGN;
  let x: unknown;
  try {
    x = JSON.parse(payload);
  } catch {
    return { kind: 'malformed', reason: MalformedReason.Json };
  }
  try {
    return { kind: 'command', cmd: readCommand(x) };
  } catch (e) {
    if (e instanceof Malformed) return { kind: 'malformed', reason: e.reason };
    throw e;
  }
}

/**
 * The payload of an election command, in canonical form (keys in the order of the schema).
 * Throws a RangeError (a programmer error) for a command the validator would refuse.
 */
export function encodeElectionCommand(cmd: ElectionCommand): string {
  let c: ElectionCommand;
  try {
    c = readCommand({ synod: 'election', v: ELECTION_VERSION, ...cmd });
  } catch (e) {
    if (e instanceof Malformed) throw new RangeError(`invalid election command: ${e.reason}`);
    throw e;
  }
  const head = { synod: 'election', v: ELECTION_VERSION, op: c.op, group: c.group,
    candidate: c.candidate };
  switch (c.op) {
    case 'campaign':
      return JSON.stringify({ ...head, ttlMs: c.ttlMs });
    case 'renew':
      return JSON.stringify({ ...head, token: c.token, ttlMs: c.ttlMs });
    case 'resign':
      return JSON.stringify({ ...head, token: c.token });
  }
}

/** One line for logs: `campaign orders by app-1 ttl=5000`. */
export function describeElectionCommand(c: ElectionCommand): string {
  switch (c.op) {
    case 'campaign':
      return `campaign ${c.group} by ${c.candidate} ttl=${c.ttlMs}`;
    case 'renew':
      return `renew ${c.group} by ${c.candidate} token=${c.token} ttl=${c.ttlMs}`;
    case 'resign':
      return `resign ${c.group} by ${c.candidate} token=${c.token}`;
  }
}

function readCommand(x: unknown): ElectionCommand {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new Malformed('shape');
  const o = x as Obj;
  if (own(o, 'synod') !== 'election') throw new Malformed('shape');
  if (own(o, 'v') !== ELECTION_VERSION) throw new Malformed('version');
  const op = own(o, 'op');
  if (op !== 'campaign' && op !== 'renew' && op !== 'resign') throw new Malformed('op');
  checkKeys(o, KEYS[op]);
  const group = readName(own(o, 'group'), 'group');
  const candidate = readName(own(o, 'candidate'), 'candidate');
  switch (op) {
    case 'campaign':
      return { op, group, candidate, ttlMs: readTtl(own(o, 'ttlMs')) };
    case 'renew':
      return { op, group, candidate, token: readToken(own(o, 'token')),
        ttlMs: readTtl(own(o, 'ttlMs')) };
    case 'resign':
      return { op, group, candidate, token: readToken(own(o, 'token')) };
  }
}

/** The keys must be exactly `keys` (object keys are distinct, so counting suffices). */
function checkKeys(o: Obj, keys: readonly string[]): void {
  const have = Object.keys(o);
  if (have.length !== keys.length) throw new Malformed('shape');
  for (const k of have) if (!keys.includes(k)) throw new Malformed('shape');
}

function readName(x: unknown, what: 'group' | 'candidate'): string {
  if (typeof x !== 'string' || !NAME_PATTERN.test(x)) throw new Malformed(what);
  return x;
}

function readTtl(x: unknown): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < MIN_TTL_MS || x > MAX_TTL_MS) {
    throw new Malformed('ttl');
  }
  return x;
}

function readToken(x: unknown): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw new Malformed('token');
  return x + 0;
}

/** An own property, so that a polluted prototype cannot answer for a missing key. */
function own(o: Obj, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}
