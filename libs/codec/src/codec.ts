import type { Message } from '@synod/protocol';
import { DecodeError, DecodeReason, EncodeError } from './errors.js';
import { type Limits, resolveLimits } from './limits.js';
import { readEnvelope, validateMessage } from './validate.js';
import { PROTOCOL_VERSION } from './version.js';

/**
 * Per-call limit overrides for {@link decode} and {@link encode}. Pass the result of
 * `resolveLimits` (computed once) on hot paths: it is recognised and used as is.
 */
export type CodecOptions = Partial<Limits>;

/** The result of {@link tryDecode}: the message, or the reason it was refused. */
export type DecodeResult =
  | { readonly ok: true; readonly msg: Message }
  | { readonly ok: false; readonly error: DecodeError };

// `fatal` makes malformed UTF-8 an error instead of U+FFFD; `ignoreBOM` keeps a byte order mark
// in the text, where JSON.parse rejects it, instead of silently dropping it.
const UTF8_DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const UTF8_ENCODER = new TextEncoder();
const ENVELOPE_HEAD = `{"v":${PROTOCOL_VERSION},`;

/**
 * Encodes a message as UTF-8 JSON: `{"v":1,"type":...,"from":...,...}` with keys in the
 * canonical order (envelope `v`, then the fields in the order `@synod/protocol` declares
 * them), so equal messages give equal bytes.
 *
 * The message is validated first, with the same rules as {@link decode}: a process never sends
 * what its peers would refuse. Throws {@link EncodeError} (a programmer error in the sender,
 * e.g. a round beyond 2^53 - 1, or more than `maxMessageBytes` bytes).
 */
export function encode(msg: Message, opts?: CodecOptions): Uint8Array {
  const lim = resolveLimits(opts);
  const bytes = UTF8_ENCODER.encode(encodeText(msg, lim));
  if (bytes.byteLength > lim.maxMessageBytes) {
    throw new EncodeError(DecodeReason.TooLarge, '$',
      `${bytes.byteLength} bytes, more than maxMessageBytes ${lim.maxMessageBytes}`);
  }
  return bytes;
}

/** The number of bytes {@link encode} produces for `msg` (validating it the same way). */
export function encodedSize(msg: Message, opts?: CodecOptions): number {
  return encode(msg, opts).byteLength;
}

function encodeText(msg: Message, lim: Limits): string {
  let canonical: Message;
  try {
    canonical = validateMessage(msg, lim);
  } catch (e) {
    if (e instanceof DecodeError) throw new EncodeError(e.code, e.path, e.detail, e);
    throw e;
  }
  // The canonical copy is a non-empty plain object, so its JSON starts with `{"type"`: splice
  // the envelope in front rather than building a second object.
  return ENVELOPE_HEAD + JSON.stringify(canonical).slice(1);
}

/**
 * Decodes one message. Returns a fully validated, freshly built {@link Message}, or throws
 * {@link DecodeError} and nothing else, whatever the bytes. Checks, in order: size, UTF-8,
 * JSON, envelope and version, type, then every field (see docs/protocol.md, "Encoding").
 */
export function decode(bytes: Uint8Array, opts?: CodecOptions): Message {
  let lim: Limits;
  try {
    lim = resolveLimits(opts);
  } catch (e) {
    throw new DecodeError(DecodeReason.Limit, '$', 'invalid limits option', e);
  }
  if (!(bytes instanceof Uint8Array)) {
    throw new DecodeError(DecodeReason.BadEnvelope, '$', 'input is not a Uint8Array');
  }
  if (bytes.byteLength > lim.maxMessageBytes) {
    throw new DecodeError(DecodeReason.TooLarge, '$',
      `${bytes.byteLength} bytes, more than maxMessageBytes ${lim.maxMessageBytes}`);
  }
  let text: string;
  try {
    text = UTF8_DECODER.decode(bytes);
  } catch (e) {
    throw new DecodeError(DecodeReason.BadUtf8, '$', 'malformed UTF-8', e);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    if (e instanceof RangeError) throw new DecodeError(DecodeReason.TooDeep, '$', 'nesting', e);
    throw new DecodeError(DecodeReason.BadJson, '$', 'not one JSON text', e);
  }
  try {
    return readEnvelope(parsed, lim);
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    // The validator throws nothing else; if it ever did, the promise of this function holds.
    throw new DecodeError(DecodeReason.BadField, '$', 'validator failure', e);
  }
}

/** Like {@link decode}, but returns the refusal instead of throwing it. */
export function tryDecode(bytes: Uint8Array, opts?: CodecOptions): DecodeResult {
  try {
    return { ok: true, msg: decode(bytes, opts) };
  } catch (e) {
    return { ok: false, error: e as DecodeError };
  }
}
