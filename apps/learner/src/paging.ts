import { CLIENT_API_VERSION, DEFAULT_LIMITS, type LogEntry, MAX_READ_ENTRIES } from '@synod/codec';

/**
 * Most bytes of one read reply or log event: the codec's `maxMessageBytes` (1 MiB, NATS's
 * default `max_payload`), which clients also enforce when they decode. Neither carries headers.
 */
export const MAX_ANSWER_BYTES = DEFAULT_LIMITS.maxMessageBytes;

const enc = new TextEncoder();

/**
 * Splits `entries` (each already encoded as JSON text) into runs whose document, `head` +
 * entries joined by commas + `]}`, fits in `maxBytes`, with at most `MAX_READ_ENTRIES` entries
 * each. A run always holds at least one entry: one slot's value fits in an accept message,
 * which is within the same limit, so a single entry that does not fit is a misconfiguration
 * left for the send to report.
 */
function runs(head: string, entries: readonly string[], maxBytes: number): string[] {
  const fixed = Buffer.byteLength(head) + 2; // + "]}"
  const out: string[] = [];
  let run: string[] = [];
  let size = fixed;
  for (const e of entries) {
    const bytes = Buffer.byteLength(e);
    if (run.length > 0 && (size + 1 + bytes > maxBytes || run.length >= MAX_READ_ENTRIES)) {
      out.push(`${head}${run.join(',')}]}`);
      run = [];
      size = fixed;
    }
    size += bytes + (run.length > 0 ? 1 : 0);
    run.push(e);
  }
  if (run.length > 0) out.push(`${head}${run.join(',')}]}`);
  return out;
}

/** The opening of an API document with an `entries` array last, as `encodeApi` writes it. */
function headOf(doc: Record<string, unknown>): string {
  const text = JSON.stringify({ v: CLIENT_API_VERSION, ...doc, entries: [] });
  return text.slice(0, -2); // without "]}"
}

/**
 * The read reply for `entries` (consecutive from the requested slot), cut to what fits in
 * `maxBytes`: the first entries, at least one. A reply with fewer entries than asked and a
 * `nextSlot` beyond its last entry tells the client to read on from the slot after that entry
 * (the client SDK's watch does).
 */
export function encodeReadReply(
  learner: string,
  nextSlot: number,
  entries: readonly LogEntry[],
  maxBytes = MAX_ANSWER_BYTES,
): { data: Uint8Array; entries: number } {
  const head = headOf({ learner, nextSlot });
  const texts: string[] = [];
  let size = Buffer.byteLength(head) + 2;
  for (const e of entries) {
    const t = JSON.stringify(e);
    size += Buffer.byteLength(t) + (texts.length > 0 ? 1 : 0);
    if (texts.length > 0 && size > maxBytes) break;
    texts.push(t);
  }
  return { data: enc.encode(`${head}${texts.join(',')}]}`), entries: texts.length };
}

/**
 * The log events announcing `entries` (in slot order), split so that each fits in `maxBytes`
 * and holds at most `MAX_READ_ENTRIES` entries; published in order, every entry exactly once.
 */
export function encodeLogEvents(
  learner: string,
  entries: readonly LogEntry[],
  maxBytes = MAX_ANSWER_BYTES,
): Uint8Array[] {
  return runs(headOf({ learner }), entries.map((e) => JSON.stringify(e)), maxBytes)
    .map((t) => enc.encode(t));
}
