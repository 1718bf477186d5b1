import type { AcceptedEntry } from './messages.js';
import type { Command, Value } from './value.js';

/**
 * Wire-size estimates. The cores never encode, yet what they put in one message must fit the
 * wire's `maxMessageBytes` (a message that does not is dropped by the driver, and retried
 * forever). A slot's value and a promise's report are the only parts that grow with client
 * data, so the cores bound them by these estimates, against a budget the driver derives from
 * its limits ({@link wireBudgetBytes}). Every estimate is at least the bytes the codec writes
 * for the same part (UTF-8 JSON, which escapes a control character as six bytes), and a pure
 * function of the part: deterministic wherever it runs.
 */

/**
 * Bytes kept out of the budget for what surrounds a value or a report, ids excepted: the
 * protocol envelope (well under 2 KiB), and a learner's read answer or log event, which also
 * carries the entry's `dups`, up to 1024 command indexes (about 4 KiB at most).
 */
export const ENVELOPE_RESERVE_BYTES = 2048 + 8192;

/**
 * Most bytes of JSON around a value's commands: `{"kind":"cmds","cmds":[`, `]`, a `stamp` of
 * up to 16 digits and `}`.
 */
export const VALUE_OVERHEAD_BYTES = 64;

/** Most bytes of JSON around an entry's value, but its ballot's proposer id: slot, ballot. */
export const ENTRY_OVERHEAD_BYTES = 128;

/**
 * The bytes a value (or a promise's report) may take so that any message carrying it (accept,
 * accepted, chosen, promise) fits `maxMessageBytes`: the rest is left to the envelope, whose
 * fields are numbers of at most 16 digits and at most four node ids.
 */
export function wireBudgetBytes(maxMessageBytes: number, maxNodeIdLength: number): number {
  return maxMessageBytes - ENVELOPE_RESERVE_BYTES - 4 * maxNodeIdLength;
}

/** The budget under the default wire limits (1 MiB messages, 64-character node ids). */
export const DEFAULT_WIRE_BUDGET_BYTES = wireBudgetBytes(1024 * 1024, 64);

/**
 * UTF-8 bytes of a JSON text made by `JSON.stringify`, which escapes lone surrogates: every
 * surrogate in it is half of a pair, two UTF-16 units that UTF-8 writes in four bytes.
 */
function jsonTextBytes(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    n += c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 1 : 2;
  }
  return n;
}

/** Encoded bytes of one command: `{"clientId":...,"seq":...,"payload":...}`. */
export function commandWireBytes(c: Command): number {
  return jsonTextBytes(JSON.stringify({ clientId: c.clientId, seq: c.seq, payload: c.payload }));
}

/** At least the encoded bytes of a value (each command plus its separating comma). */
export function valueWireBytes(v: Value): number {
  if (v.kind === 'noop') return VALUE_OVERHEAD_BYTES;
  let n = VALUE_OVERHEAD_BYTES;
  for (const c of v.cmds) n += commandWireBytes(c) + 1;
  return n;
}

/** At least the encoded bytes of one entry of a promise's report, with its comma. */
export function entryWireBytes(e: AcceptedEntry): number {
  return ENTRY_OVERHEAD_BYTES + jsonTextBytes(JSON.stringify(e.ballot.proposer)) +
    valueWireBytes(e.value) + 1;
}
