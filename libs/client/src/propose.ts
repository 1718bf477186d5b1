import {
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { decode, encode, subjectFor } from '@synod/codec';
import type { Command, Message, MsgRequest } from '@synod/protocol';
import type { Headers, Transport } from '@synod/runtime';
import {
  type Attempt,
  attemptOf,
  attemptOfError,
  leaderAttempt,
  type ProposeBatcher,
  refusedAttempt,
} from './batcher.js';
import {
  type CommandId,
  SynodAbortedError,
  SynodConflictError,
  SynodOutcomeUnknownError,
  SynodOverloadedError,
  SynodUnavailableError,
} from './errors.js';
import { ABORTED, backoffMs, raceAbort, sleep } from './time.js';

/** A command that was chosen: its slot, and the `(clientId, seq)` that identifies it. */
export interface Proposed extends CommandId {
  /** The first slot in which the command was decided (later copies are to be skipped). */
  readonly slot: number;
}

/** Longest single attempt: a lost request is retried after at most this long. */
export const ATTEMPT_TIMEOUT_MS = 1000;

/**
 * Shortest retry. A retry is not started with less time than this left before the deadline,
 * and back-offs end that long before it: an attempt cut too short would time out before even
 * a "no responders" answer came back, and turn a certain "nothing was proposed" into an
 * unknown outcome.
 */
export const MIN_ATTEMPT_MS = 100;

/** What {@link proposeCommand} needs from the client. */
export interface ProposeContext {
  readonly transport: Transport;
  readonly cluster: string;
  readonly server: string;
  /** Coalesces attempts started in the same turn into one batch request; absent: one each. */
  readonly batcher?: ProposeBatcher;
}

/** Tallies of a proposal's attempts, from which the final error is chosen. */
interface Tally {
  attempts: number;
  /** Some attempt may have reached a proposer: nothing definite can be said any more. */
  reached: boolean;
  overloaded: number;
  noResponders: number;
  redirects: number;
  lastDetail: string;
  lastCause: unknown;
}

/**
 * The `synod.propose` span of a command: a CLIENT span, child of whatever span is active. With
 * no OpenTelemetry SDK in the process this is the API's no-op span and costs next to nothing;
 * with one, each attempt carries the span's W3C trace context (`traceparent`) in its headers,
 * so the proposer's handling joins the caller's trace.
 */
function startProposeSpan(cmd: Command, subject: string): Span {
  return trace.getTracer('@synod/client').startSpan('synod.propose', {
    kind: SpanKind.CLIENT,
    attributes: {
      'synod.role': 'client', 'synod.node_id': cmd.clientId, 'synod.client_id': cmd.clientId,
      'synod.request_id': `${cmd.clientId}#${cmd.seq}`, 'messaging.system': 'nats',
      'messaging.destination.name': subject, 'messaging.operation.type': 'send',
    },
  });
}

/** The trace context headers of `span`, or undefined when there is nothing to propagate. */
function traceHeaders(span: Span): Headers | undefined {
  if (!span.isRecording() && !trace.isSpanContextValid(span.spanContext())) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  return Object.keys(carrier).length === 0 ? undefined : carrier;
}

/**
 * Sends the command until a proposer answers `chosen` or the deadline passes, always with the
 * same `(clientId, seq)`, so that a retry can never be chosen as a second command. See
 * {@link SynodClient.propose} for the errors.
 */
export async function proposeCommand(
  ctx: ProposeContext,
  cmd: Command,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Proposed> {
  const subject = subjectFor(ctx.cluster, { type: 'request', from: cmd.clientId, cmd });
  const span = startProposeSpan(cmd, subject);
  try {
    const p = await proposeTraced(ctx, cmd, timeoutMs, signal, traceHeaders(span));
    span.setAttributes({ 'synod.slot': p.slot, 'synod.outcome': 'chosen' });
    return p;
  } catch (e) {
    span.setAttribute('synod.outcome', e instanceof Error ? e.name : 'error');
    span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : '' });
    throw e;
  } finally {
    span.end();
  }
}

async function proposeTraced(
  ctx: ProposeContext,
  cmd: Command,
  timeoutMs: number,
  signal: AbortSignal,
  headers: Headers | undefined,
): Promise<Proposed> {
  const msg: MsgRequest = { type: 'request', from: cmd.clientId, cmd };
  const subject = subjectFor(ctx.cluster, msg);
  const data = encode(msg);
  const deadline = Date.now() + timeoutMs;
  const t: Tally = {
    attempts: 0, reached: false, overloaded: 0, noResponders: 0, redirects: 0,
    lastDetail: 'no attempt', lastCause: undefined,
  };
  let failures = 0;
  // After a timeout, attempts go to the leader-only subject (see leaderAttempt); every third
  // one that times out there in a row is followed by one through the queue group, in case no
  // proposer believes it leads. Proposers that do not hear that subject (older ones) answer
  // "no responders": then the queue group again, at once.
  const route = { timedOut: false, leaderTimeouts: 0, leaderHeard: true };
  for (;;) {
    const remaining = deadline - Date.now();
    if (signal.aborted) throw abortedError(cmd, t, signal);
    if (remaining <= 0 || (t.attempts > 0 && remaining < MIN_ATTEMPT_MS)) break;
    t.attempts++;
    const attemptMs = Math.min(ATTEMPT_TIMEOUT_MS, remaining);
    const toLeader = route.timedOut && route.leaderHeard &&
      !(route.leaderTimeouts > 0 && route.leaderTimeouts % 3 === 0);
    const r = toLeader
      ? await leaderAttemptAbortable(ctx, cmd, attemptMs, signal, headers)
      : ctx.batcher === undefined
        ? await attempt(ctx.transport, subject, data, cmd, attemptMs, signal, headers)
        : await batchedAttempt(ctx.batcher, cmd, attemptMs, signal, headers);
    if (r.kind === 'chosen') return { slot: r.slot, clientId: cmd.clientId, seq: cmd.seq };
    if (r.kind === 'conflict') throw new SynodConflictError(cmd, r.slot);
    if (r.kind === 'timeout') {
      if (toLeader) route.leaderTimeouts++;
      else if (route.timedOut) route.leaderTimeouts = 0;
      route.timedOut = true;
    }
    if (toLeader && r.kind === 'no-responders') {
      route.leaderHeard = false;
      t.attempts--; // nothing was sent to a proposer: not an attempt of this proposal
      continue;
    }
    const waitMs = record(t, r, ++failures);
    const slack = deadline - Date.now() - MIN_ATTEMPT_MS;
    if (waitMs > 0 && slack > 0) await sleep(Math.min(waitMs, slack), signal);
  }
  throw finalError(ctx, cmd, t, timeoutMs);
}

/** Records a failed attempt; returns how long to wait before the next one. */
function record(t: Tally, r: Exclude<Attempt, { kind: 'chosen' | 'conflict' }>,
  failures: number): number {
  switch (r.kind) {
    case 'overloaded':
      t.overloaded++;
      t.lastDetail = 'a proposer answered overloaded';
      return backoffMs(t.overloaded, 50, 1000);
    case 'redirect':
      // Only a forwarded request is ever redirected, so a proposer has seen this command.
      t.reached = true;
      t.redirects++;
      t.lastDetail = `redirected to ${r.leader ?? 'no known leader'}`;
      return t.redirects <= 3 ? 0 : backoffMs(t.redirects - 3, 20, 500);
    case 'no-responders':
      t.noResponders++;
      t.lastDetail = 'no proposer listens';
      return backoffMs(t.noResponders, 25, 500);
    case 'timeout':
      t.reached = true;
      t.lastDetail = 'a request timed out';
      return 0;
    case 'bad-reply':
      t.reached = true;
      t.lastDetail = r.detail;
      t.lastCause = r.cause;
      return backoffMs(failures, 25, 500);
    case 'error':
      // Whether it left the process is unknowable here: assume it may have.
      t.reached = true;
      t.lastDetail = r.cause instanceof Error ? r.cause.message : String(r.cause);
      t.lastCause = r.cause;
      return backoffMs(failures, 25, 500);
    case 'aborted':
      t.reached = true;
      return 0;
  }
}

async function leaderAttemptAbortable(
  ctx: ProposeContext,
  cmd: Command,
  timeoutMs: number,
  signal: AbortSignal,
  headers: Headers | undefined,
): Promise<Attempt> {
  const r = await raceAbort(leaderAttempt(ctx.transport, ctx.cluster, cmd, timeoutMs, headers),
    signal);
  return r === ABORTED ? { kind: 'aborted' } : r;
}

async function batchedAttempt(
  batcher: ProposeBatcher,
  cmd: Command,
  timeoutMs: number,
  signal: AbortSignal,
  headers: Headers | undefined,
): Promise<Attempt> {
  const r = await raceAbort(batcher.submit(cmd, timeoutMs, signal, headers), signal);
  return r === ABORTED ? { kind: 'aborted' } : r;
}

/** One attempt as the ordinary single `request` (also what a batch of one is sent as). */
export function singleAttempt(
  transport: Transport,
  cluster: string,
): (cmd: Command, timeoutMs: number, signal: AbortSignal, headers: Headers | undefined) =>
  Promise<Attempt> {
  return (cmd, timeoutMs, signal, headers) => {
    const msg: MsgRequest = { type: 'request', from: cmd.clientId, cmd };
    return attempt(transport, subjectFor(cluster, msg), encode(msg), cmd, timeoutMs, signal,
      headers);
  };
}

async function attempt(
  transport: Transport,
  subject: string,
  data: Uint8Array,
  cmd: Command,
  timeoutMs: number,
  signal: AbortSignal,
  headers: Headers | undefined,
): Promise<Attempt> {
  let reply;
  try {
    const opts = headers === undefined ? { timeoutMs } : { timeoutMs, headers };
    reply = await raceAbort(transport.request(subject, data, opts), signal);
  } catch (e) {
    return attemptOfError(e);
  }
  if (reply === ABORTED) return { kind: 'aborted' };
  const refused = refusedAttempt(reply);
  if (refused !== null) return refused;
  let m: Message;
  try {
    m = decode(reply.data);
  } catch (e) {
    return { kind: 'bad-reply', detail: 'a reply did not decode', cause: e };
  }
  if (m.type !== 'response' || m.to !== cmd.clientId || m.clientId !== cmd.clientId ||
    m.seq !== cmd.seq) {
    return { kind: 'bad-reply', detail: `a reply was not the response to ${commandName(cmd)}` };
  }
  return attemptOf(m.outcome);
}

function commandName(c: CommandId): string {
  return `${c.clientId}#${c.seq}`;
}

function abortedError(cmd: Command, t: Tally, signal: AbortSignal): SynodAbortedError {
  const unknown = t.reached
    ? '; it may have been chosen: retrying with the same client id and seq is safe'
    : '; nothing reached a proposer';
  return new SynodAbortedError(`propose ${commandName(cmd)} aborted${unknown}`, {
    cause: signal.reason, cmd, outcomeUnknown: t.reached,
  });
}

function finalError(ctx: ProposeContext, cmd: Command, t: Tally, timeoutMs: number): Error {
  const tries = `${t.attempts} attempt${t.attempts === 1 ? '' : 's'} in ${timeoutMs} ms`;
  if (t.reached) {
    return new SynodOutcomeUnknownError(cmd, `${tries}, last: ${t.lastDetail}`, t.lastCause);
  }
  if (t.overloaded > 0) {
    return new SynodOverloadedError(cmd, `proposers answered overloaded to ${commandName(cmd)} ` +
      `until the deadline (${tries}); the command was not queued: retry later`);
  }
  return new SynodUnavailableError(`no proposer answered on ${ctx.server} (cluster ` +
    `${ctx.cluster}) in ${tries}; nothing was proposed`);
}
