import { VALUE_OVERHEAD_BYTES, wireBudgetBytes } from '@synod/protocol';

/**
 * Wire limits. Every message is checked against them on decode (and on encode, so that a
 * process never sends what its peers would refuse). They bound what one message can cost a
 * receiver: memory, CPU in the validator, and the size of the work a core does in answer.
 */

/** Configurable limits of one encode or decode call; see {@link DEFAULT_LIMITS}. */
export interface Limits {
  /** Most bytes of one encoded message (the NATS payload), checked before anything else. */
  readonly maxMessageBytes: number;
  /** Longest node id (`from`, `to`, `ballot.proposer`, `outcome.leader`), in characters. */
  readonly maxNodeIdLength: number;
  /** Longest `clientId` of a command or a response, in characters. */
  readonly maxClientIdLength: number;
  /** Most UTF-8 bytes of one command's `payload`. */
  readonly maxPayloadBytes: number;
  /** Most commands in one `cmds` value (a batch). */
  readonly maxCommandsPerValue: number;
  /** Most entries in the `accepted` array of one promise. */
  readonly maxAcceptedEntries: number;
}

/**
 * Default limits. 1 MiB is NATS's default `max_payload`. A proposer batches at most 64
 * commands per slot by default, so 1024 leaves room for tuning. An acceptor reports every entry
 * at or above `fromSlot` in a promise; 8192 no-op entries (about 100 bytes each) already fill
 * most of 1 MiB, so the byte limit is the one that binds first.
 */
export const DEFAULT_LIMITS: Limits = Object.freeze({
  maxMessageBytes: 1024 * 1024,
  maxNodeIdLength: 64,
  maxClientIdLength: 128,
  maxPayloadBytes: 64 * 1024,
  maxCommandsPerValue: 1024,
  maxAcceptedEntries: 8192,
});

/**
 * Most encoded bytes of one valid command: its JSON keys and quotes, a `clientId`, a `seq` of
 * at most 16 digits and a `payload` of `maxPayloadBytes` UTF-8 bytes, each of which JSON may
 * write as six (`\u001f` for a control character).
 */
export function maxCommandWireBytes(lim: Limits): number {
  return 64 + lim.maxClientIdLength + 6 * lim.maxPayloadBytes;
}

/**
 * The byte budget of one slot's value and of one promise's report under `lim`
 * (`wireBudgetBytes` of `@synod/protocol`): what a driver passes to its core as
 * `maxValueBytes` (proposer) and `maxPromiseBytes` (acceptor), so that every accept,
 * accepted, chosen and promise the core emits can be encoded. Throws a `RangeError` (a
 * programmer error) when the limits leave no room for a value of one valid command: such a
 * command could never be proposed, and a leader would retry it forever.
 */
export function valueBudgetBytes(lim: Limits): number {
  const budget = wireBudgetBytes(lim.maxMessageBytes, lim.maxNodeIdLength);
  const one = VALUE_OVERHEAD_BYTES + maxCommandWireBytes(lim) + 1;
  if (budget < one) {
    throw new RangeError(`limits leave ${budget} bytes for a value, less than the ${one} of ` +
      'one command of maxPayloadBytes: raise maxMessageBytes or lower maxPayloadBytes');
  }
  return budget;
}

/**
 * Deepest nesting of objects and arrays in a valid message: envelope (1) > `accepted` (2) >
 * entry (3) > `value` (4) > `cmds` (5) > command (6). The validator only descends into known
 * fields, so its own recursion never goes deeper than this whatever the input.
 */
export const MAX_NESTING_DEPTH = 6;

/**
 * Characters allowed in node ids, client ids and cluster names: one NATS subject token that
 * needs no escaping (no `.`, `*`, `>`, whitespace or control characters), and safe in logs,
 * Redis keys and span attributes.
 */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]+$/;

/**
 * Largest slot, round, incarnation, sequence number or `chosenUpTo` on the wire:
 * `Number.MAX_SAFE_INTEGER` (2^53 - 1) is accepted; 2^53 and above are rejected, as are
 * negatives and non-integers.
 */
export const MAX_WIRE_INTEGER = Number.MAX_SAFE_INTEGER;

/**
 * Limits objects already checked by {@link resolveLimits}: passing one of them to every call
 * costs a set lookup instead of a merge and a check per message.
 */
const RESOLVED = new WeakSet<object>([DEFAULT_LIMITS]);
const LIMIT_NAMES = Object.keys(DEFAULT_LIMITS) as (keyof Limits)[];

/**
 * Merges caller overrides into the defaults and checks them: every limit must be a positive
 * safe integer, else a `RangeError` (a programmer error). Keys that are not limits are ignored.
 * Returns a frozen object that later calls recognise and use as is: resolve once, pass it to
 * every encode and decode on a hot path.
 */
export function resolveLimits(overrides?: Partial<Limits>): Limits {
  if (overrides === undefined || RESOLVED.has(overrides)) {
    return (overrides ?? DEFAULT_LIMITS) as Limits;
  }
  const merged: Record<string, number> = {};
  for (const name of LIMIT_NAMES) {
    const value = overrides[name] ?? DEFAULT_LIMITS[name];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`limit ${name} must be a positive safe integer: ${String(value)}`);
    }
    merged[name] = value;
  }
  const out = Object.freeze(merged) as unknown as Limits;
  RESOLVED.add(out);
  return out;
}
