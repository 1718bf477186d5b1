import { type Command, commandKey, type Outcome, type Value } from '@synod/protocol';
import { DecodeError, DecodeReason } from './errors.js';
import { type Limits, resolveLimits } from './limits.js';
import { fieldReaders as F } from './validate.js';

/**
 * The client API beside the protocol: reading and watching the decided log, served by
 * learners. Proposing uses the protocol's own `request`/`response` messages; status uses
 * plain JSON documents (see docs/protocol.md, "Client API").
 */
export const CLIENT_API_VERSION = 1;

/** Header that carries an error code across NATS (value: one of the API error codes). */
export const ERROR_HEADER = 'synod-error';

/** Most log entries in one read reply or log event. */
export const MAX_READ_ENTRIES = 1000;

/** `read` request: entries from `fromSlot`, at most `limit`. */
export interface ReadRequest {
  readonly fromSlot: number;
  readonly limit: number;
}

/** One decided slot; `dups` lists indexes of commands in it that are later copies (skipped). */
export interface LogEntry {
  readonly slot: number;
  readonly value: Value;
  readonly dups?: readonly number[];
}

/** A learner's answer to a read: what it has from `fromSlot`, and its delivery point. */
export interface ReadReply {
  readonly learner: string;
  /** Every slot below it is delivered by this learner. */
  readonly nextSlot: number;
  readonly entries: readonly LogEntry[];
}

/** Published by a learner on `synod.<c>.log.<learner>` as it delivers. */
export interface LogEvent {
  readonly learner: string;
  readonly entries: readonly LogEntry[];
}

/** Subject of read requests (learners answer in a queue group). */
export function readSubject(cluster: string): string {
  return `synod.${cluster}.read`;
}

/** Subject on which learner `learner` publishes its deliveries. */
export function logSubject(cluster: string, learner: string): string {
  return `synod.${cluster}.log.${learner}`;
}

/**
 * Subject of election snapshot requests (learners answer in a queue group): a new client's
 * election view starts from a learner's state instead of replaying the log from slot 0.
 */
export function electionSnapshotSubject(cluster: string): string {
  return `synod.${cluster}.snapshot.election`;
}

/**
 * A learner's answer to an election snapshot request: the election machine's state after
 * every slot below `snapshot.nextSlot`, as `ElectionMachine.snapshot()` of `@synod/election`
 * gives it. The codec checks the envelope; `ElectionMachine.restore` checks the state itself.
 */
export interface ElectionSnapshotReply {
  readonly learner: string;
  readonly snapshot: { readonly [k: string]: unknown };
}

/** Subscription pattern for every learner's deliveries. */
export function logPattern(cluster: string): string {
  return `synod.${cluster}.log.*`;
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Most commands in one propose batch. A batch's commands are queued one by one at the
 * proposer (they may land in different slots); the bound keeps one message's work small.
 */
export const MAX_PROPOSE_BATCH = 256;

/** W3C `traceparent`: version, trace id, parent span id, flags. */
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * Whether `x` is a W3C `traceparent` as a propose batch may carry it (two lowercase hex
 * digits of version, then 32, 16 and 2). A batch with any other string in `traces` is refused
 * as a whole, so senders check each command's trace context with this first.
 */
export function isTraceparent(x: unknown): x is string {
  return typeof x === 'string' && TRACEPARENT.test(x);
}

/**
 * `propose` batch: several commands, often of different clients, in one request to the
 * proposers' queue group (`synod.<c>.propose`). Each command keeps its own identity
 * `(clientId, seq)` and is deduplicated, chosen and answered exactly as if it had come alone;
 * `traces[i]`, when given, is command i's W3C `traceparent` (null for none).
 */
export interface ProposeBatch {
  readonly cmds: readonly Command[];
  readonly traces?: readonly (string | null)[];
}

/** The answer to a {@link ProposeBatch}: `outcomes[i]` is command i's. */
export interface ProposeBatchReply {
  readonly outcomes: readonly Outcome[];
}

/** Subject of propose batches (proposers answer in their client queue group). */
export function proposeSubject(cluster: string): string {
  return `synod.${cluster}.propose`;
}

/**
 * Subject of propose batches that only a proposer that believes it leads answers
 * (`synod.<c>.propose.leader`): every proposer hears it (no queue group), the others stay
 * silent. Clients send here after an attempt timed out, so that a retry cannot land on a
 * paused or hung proposer that still holds its place in the queue group.
 */
export function leaderProposeSubject(cluster: string): string {
  return `synod.${cluster}.propose.leader`;
}

/** Encodes a client API document with its version field. */
export function encodeApi(
  doc: ReadRequest | ReadReply | LogEvent | ProposeBatch | ProposeBatchReply |
    ElectionSnapshotReply | Record<string, never>,
): Uint8Array {
  return enc.encode(JSON.stringify({ v: CLIENT_API_VERSION, ...doc }));
}

function parse(bytes: Uint8Array, lim: Limits): { readonly [k: string]: unknown } {
  if (bytes.byteLength > lim.maxMessageBytes) {
    throw new DecodeError(DecodeReason.TooLarge, '$', `${bytes.byteLength} bytes`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(dec.decode(bytes));
  } catch (e) {
    throw new DecodeError(DecodeReason.BadJson, '$', 'not one UTF-8 JSON text', e);
  }
  const o = F.readObj(parsed, '');
  if (F.own(o, 'v') !== CLIENT_API_VERSION) {
    F.fail(DecodeReason.BadVersion, 'v', `expected ${CLIENT_API_VERSION}`);
  }
  return o;
}

/** Decodes a read request, or throws {@link DecodeError}. */
export function decodeReadRequest(bytes: Uint8Array, limits?: Partial<Limits>): ReadRequest {
  const lim = resolveLimits(limits);
  const o = parse(bytes, lim);
  F.checkKeys(o, ['fromSlot', 'limit'], [], '', 'v');
  const limit = F.readUint(F.own(o, 'limit'), '', 'limit');
  if (limit < 1 || limit > MAX_READ_ENTRIES) {
    F.fail(DecodeReason.Limit, 'limit', `must be 1..${MAX_READ_ENTRIES}`);
  }
  return { fromSlot: F.readUint(F.own(o, 'fromSlot'), '', 'fromSlot'), limit };
}

/** Decodes an election snapshot request (`{"v":1}`, nothing else), or throws DecodeError. */
export function decodeElectionSnapshotRequest(bytes: Uint8Array,
  limits?: Partial<Limits>): Record<string, never> {
  const o = parse(bytes, resolveLimits(limits));
  F.checkKeys(o, [], [], '', 'v');
  return {};
}

/**
 * Decodes an election snapshot reply, or throws {@link DecodeError}: the learner's id and the
 * snapshot as an object (its fields are checked when it is restored).
 */
export function decodeElectionSnapshotReply(bytes: Uint8Array,
  limits?: Partial<Limits>): ElectionSnapshotReply {
  const lim = resolveLimits(limits);
  const o = parse(bytes, lim);
  F.checkKeys(o, ['learner', 'snapshot'], [], '', 'v');
  return {
    learner: F.readNodeId(F.own(o, 'learner'), '', 'learner', lim),
    snapshot: F.readObj(F.own(o, 'snapshot'), 'snapshot'),
  };
}

function readEntries(x: unknown, lim: Limits): LogEntry[] {
  const arr = F.readArray(x, 'entries', MAX_READ_ENTRIES, 'MAX_READ_ENTRIES');
  return arr.map((e, i) => {
    const at = `entries.${i}`;
    const o = F.readObj(e, at);
    F.checkKeys(o, ['slot', 'value'], ['dups'], at, null);
    const slot = F.readUint(F.own(o, 'slot'), at, 'slot');
    const value = F.readValue(F.own(o, 'value'), `${at}.value`, lim);
    const rawDups = F.own(o, 'dups');
    if (rawDups === undefined) return { slot, value };
    const n = value.kind === 'cmds' ? value.cmds.length : 0;
    const dups = F.readArray(rawDups, `${at}.dups`, n, 'commands in the value').map((d, j) => {
      const k = F.readUint(d, `${at}.dups`, String(j));
      if (k >= n) F.fail(DecodeReason.BadField, `${at}.dups`, 'index out of range');
      return k;
    });
    return { slot, value, dups };
  });
}

/** Decodes a read reply, or throws {@link DecodeError}. */
export function decodeReadReply(bytes: Uint8Array, limits?: Partial<Limits>): ReadReply {
  const lim = resolveLimits(limits);
  const o = parse(bytes, lim);
  F.checkKeys(o, ['learner', 'nextSlot', 'entries'], [], '', 'v');
  return {
    learner: F.readNodeId(F.own(o, 'learner'), '', 'learner', lim),
    nextSlot: F.readUint(F.own(o, 'nextSlot'), '', 'nextSlot'),
    entries: readEntries(F.own(o, 'entries'), lim),
  };
}

/** Decodes a log event, or throws {@link DecodeError}. */
export function decodeLogEvent(bytes: Uint8Array, limits?: Partial<Limits>): LogEvent {
  const lim = resolveLimits(limits);
  const o = parse(bytes, lim);
  F.checkKeys(o, ['learner', 'entries'], [], '', 'v');
  return {
    learner: F.readNodeId(F.own(o, 'learner'), '', 'learner', lim),
    entries: readEntries(F.own(o, 'entries'), lim),
  };
}

/**
 * Decodes a propose batch, or throws {@link DecodeError}: 1 to {@link MAX_PROPOSE_BATCH}
 * commands, each valid under `limits` with a seq of at least 1 (as in a `request`), no command
 * twice, and traces (if any) one per command.
 */
export function decodeProposeBatch(bytes: Uint8Array, limits?: Partial<Limits>): ProposeBatch {
  const lim = resolveLimits(limits);
  const o = parse(bytes, lim);
  F.checkKeys(o, ['cmds'], ['traces'], '', 'v');
  const arr = F.readArray(F.own(o, 'cmds'), 'cmds', MAX_PROPOSE_BATCH, 'MAX_PROPOSE_BATCH');
  if (arr.length === 0) F.fail(DecodeReason.BadField, 'cmds', 'a batch holds at least one command');
  const seen = new Set<string>();
  const cmds = arr.map((c, i) => {
    const cmd = F.readClientCommand(c, `cmds[${i}]`, lim); // seq >= 1, as in a request
    // A batched command is stepped as a `request` from its client: the id must be one that a
    // single request could carry as its sender (a node id's length, not just a client id's).
    if (cmd.clientId.length > lim.maxNodeIdLength) {
      F.fail(DecodeReason.Limit, `cmds[${i}].clientId`,
        `longer than maxNodeIdLength ${lim.maxNodeIdLength}, the most a request's sender can be`);
    }
    const key = commandKey(cmd);
    if (seen.has(key)) F.fail(DecodeReason.BadField, `cmds[${i}]`, `${key} appears twice`);
    seen.add(key);
    return cmd;
  });
  const rawTraces = F.own(o, 'traces');
  if (rawTraces === undefined) return { cmds };
  const t = F.readArray(rawTraces, 'traces', cmds.length, 'commands in the batch');
  if (t.length !== cmds.length) {
    F.fail(DecodeReason.BadField, 'traces', `${t.length} traces for ${cmds.length} commands`);
  }
  const traces = t.map((x, i) => {
    if (x === null) return null;
    if (!isTraceparent(x)) {
      return F.fail(DecodeReason.BadField, `traces[${i}]`, 'not a W3C traceparent or null');
    }
    return x;
  });
  return { cmds, traces };
}

/** Decodes the reply to a batch of `expected` commands, or throws {@link DecodeError}. */
export function decodeProposeBatchReply(
  bytes: Uint8Array,
  expected: number,
  limits?: Partial<Limits>,
): ProposeBatchReply {
  const lim = resolveLimits(limits);
  const o = parse(bytes, lim);
  F.checkKeys(o, ['outcomes'], [], '', 'v');
  const arr = F.readArray(F.own(o, 'outcomes'), 'outcomes', MAX_PROPOSE_BATCH,
    'MAX_PROPOSE_BATCH');
  if (arr.length !== expected) {
    F.fail(DecodeReason.BadField, 'outcomes', `${arr.length} outcomes for ${expected} commands`);
  }
  return { outcomes: arr.map((x, i) => F.readOutcome(x, `outcomes[${i}]`, lim)) };
}
