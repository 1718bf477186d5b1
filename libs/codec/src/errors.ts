/**
 * Typed errors of the wire layer. Each has a stable `code` (what travels in a NATS header and
 * what callers switch on) and the same string as `reason`, named for its use as a low-cardinality
 * metric label. Messages never quote input beyond a short, escaped excerpt.
 */

/** Why a message was refused by the decoder (or by the encoder, for an invalid message). */
export const DecodeReason = {
  /** More bytes than `maxMessageBytes`; checked before anything is parsed. */
  TooLarge: 'TOO_LARGE',
  /** The bytes are not well-formed UTF-8 (a byte order mark counts as bad JSON instead). */
  BadUtf8: 'BAD_UTF8',
  /** Not one JSON text. */
  BadJson: 'BAD_JSON',
  /** The JSON parser ran out of stack on deep nesting (V8's parser is iterative; kept as a net). */
  TooDeep: 'TOO_DEEP',
  /** The JSON text is not an object (an array, a string, a number, `null`...). */
  BadEnvelope: 'BAD_ENVELOPE',
  /** `v` is missing or is not the supported `PROTOCOL_VERSION`. */
  BadVersion: 'BAD_VERSION',
  /** `type` is missing, not a string, or not a message type. */
  UnknownType: 'UNKNOWN_TYPE',
  /** An object has a key its schema does not list (including `__proto__`, `constructor`). */
  UnknownField: 'UNKNOWN_FIELD',
  /** An object lacks a key its schema requires. */
  MissingField: 'MISSING_FIELD',
  /** A field has the wrong JSON type, an invalid integer, a bad id, or an unknown kind. */
  BadField: 'BAD_FIELD',
  /** A configured limit is exceeded: id length, payload bytes, commands, accepted entries. */
  Limit: 'LIMIT',
} as const;
/** One of {@link DecodeReason}'s values. */
export type DecodeReason = (typeof DecodeReason)[keyof typeof DecodeReason];

/** Every decode reason, in a stable order (for pre-registering metric labels). */
export const DECODE_REASONS: readonly DecodeReason[] = Object.values(DecodeReason);

/** Why a subject was refused, or does not match the message it carries. */
export const SubjectErrorCode = {
  /** Not `synod.<cluster>.<type>.<sender>[.<target>]`: wrong prefix or number of tokens. */
  BadSubject: 'BAD_SUBJECT',
  /** A cluster name or node id is empty, too long, or outside `[A-Za-z0-9_-]`. */
  BadToken: 'BAD_TOKEN',
  /** The type token is not a message type. */
  UnknownType: 'UNKNOWN_TYPE',
  /** A target token on a type that is never addressed, or none on one that always is. */
  BadTarget: 'BAD_TARGET',
  /** The subject's cluster is not the receiver's cluster. */
  ClusterMismatch: 'CLUSTER_MISMATCH',
  /** The payload's `type` differs from the subject's type token. */
  TypeMismatch: 'TYPE_MISMATCH',
  /** The payload's `from` differs from the subject's sender token. */
  SenderMismatch: 'SENDER_MISMATCH',
  /** The payload's `to` (or its absence) differs from the subject's target token. */
  TargetMismatch: 'TARGET_MISMATCH',
} as const;
/** One of {@link SubjectErrorCode}'s values. */
export type SubjectErrorCode = (typeof SubjectErrorCode)[keyof typeof SubjectErrorCode];

/** Every subject error code, in a stable order. */
export const SUBJECT_ERROR_CODES: readonly SubjectErrorCode[] = Object.values(SubjectErrorCode);

/**
 * Raised by `decode` and `validateMessage` for any input that is not a valid message, and only
 * for that: decoding never throws anything else.
 */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  /** Stable code, one of {@link DecodeReason}. */
  readonly code: DecodeReason;
  /** Where in the message: `$` for the whole input, else a path like `accepted[2].ballot.round`. */
  readonly path: string;
  /** What is wrong there, in a few words. */
  readonly detail: string;

  /** Builds an error; `cause` is the underlying parser error, when there is one. */
  constructor(code: DecodeReason, path: string, detail: string, cause?: unknown) {
    super(`${code} at ${path}: ${detail}`, cause === undefined ? undefined : { cause });
    this.code = code;
    this.path = path;
    this.detail = detail;
  }

  /** The same as `code`; the label to count rejections by. */
  get reason(): DecodeReason {
    return this.code;
  }
}

/**
 * Raised by `encode` when asked to send a message that peers would refuse (a programmer error
 * in the sender, e.g. a round past 2^53 - 1). `cause` is the {@link DecodeError} that the
 * message fails with.
 */
export class EncodeError extends Error {
  override readonly name = 'EncodeError';
  /** Stable code: the reason the message is invalid. */
  readonly code: DecodeReason;
  /** Where in the message. */
  readonly path: string;

  /** Builds an error from the validation failure `cause`. */
  constructor(code: DecodeReason, path: string, detail: string, cause?: unknown) {
    super(`${code} at ${path}: ${detail}`, cause === undefined ? undefined : { cause });
    this.code = code;
    this.path = path;
  }

  /** The same as `code`; the label to count failures by. */
  get reason(): DecodeReason {
    return this.code;
  }
}

/** Raised for a malformed subject, or a subject that does not match its message. */
export class SubjectError extends Error {
  override readonly name = 'SubjectError';
  /** Stable code, one of {@link SubjectErrorCode}. */
  readonly code: SubjectErrorCode;

  /** Builds an error. */
  constructor(code: SubjectErrorCode, detail: string, cause?: unknown) {
    super(`${code}: ${detail}`, cause === undefined ? undefined : { cause });
    this.code = code;
  }

  /** The same as `code`; the label to count rejections by. */
  get reason(): SubjectErrorCode {
    return this.code;
  }
}

/**
 * A short, safe description of an input value for error messages: never the whole value (it
 * may be huge or deeply nested), and strings are escaped and cut to 32 characters.
 */
export function describeInput(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return `array(length=${x.length})`;
  switch (typeof x) {
    case 'string':
      return x.length <= 32
        ? JSON.stringify(x)
        : `${JSON.stringify(x.slice(0, 32))}...(length=${x.length})`;
    case 'number':
    case 'boolean':
      return String(x);
    case 'object':
      return 'object';
    default:
      return typeof x;
  }
}
