/**
 * Typed errors of the Synod client. Every operating error (nobody answers, a timeout, an
 * overloaded leader, a malformed reply) is one of these, with a stable `code`; programmer errors
 * (a negative slot, an invalid client id) are plain `RangeError`/`TypeError` throws.
 */

/** Stable codes of {@link SynodError}. */
export const SynodErrorCode = {
  /** Nobody answered: the request reached no proposer (or learner). Nothing was proposed. */
  Unavailable: 'UNAVAILABLE',
  /** A proposal may or may not have been chosen; retrying with the same id and seq is safe. */
  OutcomeUnknown: 'OUTCOME_UNKNOWN',
  /** Proposers kept answering "overloaded" until the deadline; the command was not queued. */
  Overloaded: 'OVERLOADED',
  /** A read got no answer in time. */
  Timeout: 'TIMEOUT',
  /** A reply could not be decoded or made no sense. */
  BadReply: 'BAD_REPLY',
  /** A service refused the request with an error code (in the `synod-error` header). */
  Rejected: 'REJECTED',
  /** The caller's signal aborted the operation, or the client was closed. */
  Aborted: 'ABORTED',
  /** An elected candidate's lease can no longer be confirmed (or it resigned): stop leading. */
  LeaseLost: 'LEASE_LOST',
  /**
   * A retry (an explicit seq) lies too far below the client's next seq to be proposed safely:
   * refused, nothing was proposed, the command's outcome stays unknown (read the log).
   */
  StaleSeq: 'STALE_SEQ',
  /**
   * The command's `(clientId, seq)` was already chosen with another payload: nothing was
   * proposed. A retry must resend the same payload; a new command needs a new seq.
   */
  Conflict: 'CONFLICT',
} as const;
export type SynodErrorCode = (typeof SynodErrorCode)[keyof typeof SynodErrorCode];

/** Base class of every error the client raises on purpose. */
export class SynodError extends Error {
  override readonly name: string = 'SynodError';
  /** Stable code, one of {@link SynodErrorCode}. */
  readonly code: SynodErrorCode;

  constructor(code: SynodErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/**
 * No proposer (or, for reads, no learner) answered at all: every attempt ended with "no
 * responders". For a proposal this is a certainty: nothing was proposed.
 */
export class SynodUnavailableError extends SynodError {
  override readonly name: string = 'SynodUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(SynodErrorCode.Unavailable, message, options);
  }
}

/**
 * The first connection to NATS failed. `reason` says why, as the NATS adapter classified it:
 * `UNREACHABLE` (nothing listens there), `AUTHORIZATION`, `TLS`, `TIMEOUT`, `BAD_URL`, `OTHER`.
 */
export class SynodConnectError extends SynodUnavailableError {
  override readonly name: string = 'SynodConnectError';
  readonly reason: string;
  readonly servers: readonly string[];
  constructor(servers: readonly string[], reason: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.servers = servers;
    this.reason = reason;
  }
}

/** What identifies a command: retrying with the same pair can never get it chosen twice. */
export interface CommandId {
  readonly clientId: string;
  readonly seq: number;
}

/**
 * The deadline passed after at least one attempt may have reached a proposer: the value may or
 * may not be chosen. Retrying `propose` with the same client id and seq is safe (proposers
 * answer a retry from their dedupe map, and readers skip later copies), see
 * {@link SynodClient.retry}. The error never guesses.
 */
export class SynodOutcomeUnknownError extends SynodError implements CommandId {
  override readonly name: string = 'SynodOutcomeUnknownError';
  readonly clientId: string;
  readonly seq: number;
  /** The payload that was proposed, so that the retry can send the very same command. */
  readonly payload: string;

  constructor(cmd: CommandId & { readonly payload: string }, detail: string, cause?: unknown) {
    super(SynodErrorCode.OutcomeUnknown,
      `outcome unknown for ${cmd.clientId}#${cmd.seq} (${detail}): the value may or may not be ` +
      'chosen; retrying propose with the same client id and seq is safe',
      cause === undefined ? undefined : { cause });
    this.clientId = cmd.clientId;
    this.seq = cmd.seq;
    this.payload = cmd.payload;
  }
}

/**
 * `retry()` / `propose(p, { seq })` of a seq more than the client's seq window (`SEQ_WINDOW`,
 * 1024) below its next seq: refused at once, nothing was proposed and nothing changed. Such a
 * seq could be chosen and yet be skipped by every application (the deduplicator's floor may
 * have passed it), so the client never proposes it again. The command's outcome stays
 * unknown: read the log to find out whether `(clientId, seq)` was decided (and applied).
 */
export class SynodStaleSeqError extends SynodError implements CommandId {
  override readonly name: string = 'SynodStaleSeqError';
  readonly clientId: string;
  readonly seq: number;
  /** The client's next seq when the retry was refused. */
  readonly nextSeq: number;
  constructor(cmd: CommandId, nextSeq: number, window: number) {
    super(SynodErrorCode.StaleSeq,
      `cannot retry ${cmd.clientId}#${cmd.seq}: this client has started seqs up to ` +
      `${nextSeq - 1}, more than ${window} past it, so a retry might be chosen and still be ` +
      'skipped by every application as a duplicate; nothing was proposed. The outcome of ' +
      `${cmd.clientId}#${cmd.seq} stays unknown: read the log (read/watch, look for the ` +
      'command and its dups marks) to find out whether it was decided');
    this.clientId = cmd.clientId;
    this.seq = cmd.seq;
    this.nextSeq = nextSeq;
  }
}

/**
 * The proposal's `(clientId, seq)` is already chosen, at `slot`, with another payload: this
 * payload was not proposed and never will be under that id. A retry must resend the payload it
 * retries; a new command needs a new seq.
 */
export class SynodConflictError extends SynodError implements CommandId {
  override readonly name: string = 'SynodConflictError';
  readonly clientId: string;
  readonly seq: number;
  /** Where the command with that id was chosen. */
  readonly slot: number;
  constructor(cmd: CommandId, slot: number) {
    super(SynodErrorCode.Conflict,
      `${cmd.clientId}#${cmd.seq} was already chosen at slot ${slot} with another payload; this ` +
      'one was not proposed. A retry must resend the same payload; a new command needs a new ' +
      `seq (read slot ${slot} to see what was chosen)`);
    this.clientId = cmd.clientId;
    this.seq = cmd.seq;
    this.slot = slot;
  }
}

/** Proposers answered "overloaded" until the deadline; the command is not queued anywhere. */
export class SynodOverloadedError extends SynodError implements CommandId {
  override readonly name: string = 'SynodOverloadedError';
  readonly clientId: string;
  readonly seq: number;
  constructor(cmd: CommandId, message: string) {
    super(SynodErrorCode.Overloaded, message);
    this.clientId = cmd.clientId;
    this.seq = cmd.seq;
  }
}

/**
 * A read (or status) got no answer before its deadline, though someone listens; or a new
 * proposal could not even start before its deadline because the client's seq window was full
 * (`SEQ_WINDOW`): then nothing was proposed.
 */
export class SynodTimeoutError extends SynodError {
  override readonly name: string = 'SynodTimeoutError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(SynodErrorCode.Timeout, message, options);
  }
}

/** A reply that does not decode, or that contradicts the request it answers. */
export class SynodProtocolError extends SynodError {
  override readonly name: string = 'SynodProtocolError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(SynodErrorCode.BadReply, message, options);
  }
}

/** A service refused the request: `remoteCode` is the code it sent in the error header. */
export class SynodRejectedError extends SynodError {
  override readonly name: string = 'SynodRejectedError';
  readonly remoteCode: string;
  constructor(remoteCode: string, message: string) {
    super(SynodErrorCode.Rejected, message);
    this.remoteCode = remoteCode;
  }
}

/**
 * The caller's signal aborted the operation, or the client was closed. For a proposal,
 * `outcomeUnknown` says whether an attempt may already have reached a proposer (then retry
 * with `clientId` and `seq`, exactly as after {@link SynodOutcomeUnknownError}).
 */
export class SynodAbortedError extends SynodError {
  override readonly name: string = 'SynodAbortedError';
  readonly clientId: string | undefined;
  readonly seq: number | undefined;
  readonly outcomeUnknown: boolean;
  constructor(
    message: string,
    o: { cause?: unknown; cmd?: CommandId; outcomeUnknown?: boolean } = {},
  ) {
    super(SynodErrorCode.Aborted, message, o.cause === undefined ? undefined : { cause: o.cause });
    this.clientId = o.cmd?.clientId;
    this.seq = o.cmd?.seq;
    this.outcomeUnknown = o.outcomeUnknown ?? false;
  }
}

/** Why an elected candidate stopped holding its lease (see {@link SynodLeaseLostError}). */
export type LeaseLostReason =
  /** No renewal was confirmed in time: the safety margin before expiry was reached. */
  | 'unconfirmed'
  /** A renewal reached the log and was refused: the term had already ended there. */
  | 'refused'
  /** The log shows the term ended (expired in log time, or another term began). */
  | 'superseded'
  /** {@link Leadership.resign} was called, or the elect signal aborted. */
  | 'resigned'
  /** The client was closed. */
  | 'closed';

/**
 * The lease of an elected candidate is lost: from now on it must act as a follower. `token`
 * is the fencing token of the term that ended; a protected resource refuses it once a newer
 * holder has written.
 */
export class SynodLeaseLostError extends SynodError {
  override readonly name: string = 'SynodLeaseLostError';
  readonly group: string;
  readonly token: number;
  readonly reason: LeaseLostReason;
  constructor(group: string, token: number, reason: LeaseLostReason, message: string) {
    super(SynodErrorCode.LeaseLost, message);
    this.group = group;
    this.token = token;
    this.reason = reason;
  }
}
