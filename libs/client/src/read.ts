import {
  DecodeError,
  decodeReadReply,
  encodeApi,
  ERROR_HEADER,
  MAX_READ_ENTRIES,
  type ReadReply,
  readSubject,
} from '@synod/codec';
import { type Transport, type TransportMessage, TransportTimeoutError } from '@synod/runtime';
import {
  SynodAbortedError,
  SynodProtocolError,
  SynodRejectedError,
  SynodTimeoutError,
  SynodUnavailableError,
} from './errors.js';
import { ATTEMPT_TIMEOUT_MS, MIN_ATTEMPT_MS } from './propose.js';
import { ABORTED, backoffMs, checkUint, raceAbort, sleep } from './time.js';

/** What a read needs from the client. */
export interface ReadContext {
  readonly transport: Transport;
  readonly cluster: string;
  readonly server: string;
}

const dec = new TextDecoder();

/** The remote error code of a reply, and its message when the body carries one. */
function remoteError(reply: TransportMessage): { code: string; message: string } | null {
  const code = reply.headers[ERROR_HEADER];
  if (code === undefined) return null;
  let message = '';
  try {
    const body = JSON.parse(dec.decode(reply.data)) as { error?: { message?: unknown } };
    if (typeof body.error?.message === 'string') message = body.error.message;
  } catch {
    // A refusal without a readable body still carries its code.
  }
  return { code, message };
}

/** Checks that a decoded reply answers the read `[fromSlot, fromSlot + limit)`. */
function checkReply(r: ReadReply, fromSlot: number, limit: number): void {
  let prev = fromSlot - 1;
  for (const e of r.entries) {
    if (e.slot <= prev || e.slot >= fromSlot + limit || e.slot >= r.nextSlot) {
      throw new SynodProtocolError(`learner ${r.learner} answered a read of ${fromSlot}+${limit} ` +
        `with slot ${e.slot} (next slot ${r.nextSlot}): out of order or out of range`);
    }
    prev = e.slot;
  }
}

/**
 * Reads up to `limit` decided entries from `fromSlot` from one learner (learners answer in a
 * queue group). Retries timeouts, "no responders" and a learner's `UNAVAILABLE` until the
 * deadline. Throws {@link SynodUnavailableError} when nobody (able) answered,
 * {@link SynodTimeoutError} when someone listens but did not answer in time,
 * {@link SynodRejectedError} for any other refusal, {@link SynodProtocolError} for a bad reply.
 */
export async function readEntries(
  ctx: ReadContext,
  fromSlot: number,
  limit: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<ReadReply> {
  checkUint(fromSlot, 'fromSlot');
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_READ_ENTRIES) {
    throw new RangeError(`limit must be an integer in 1..${MAX_READ_ENTRIES}, got ${limit}`);
  }
  const data = encodeApi({ fromSlot, limit });
  const deadline = Date.now() + timeoutMs;
  let timeouts = 0;
  let failures = 0;
  let attempts = 0;
  let unavailable: string | null = null;
  const pause = (): Promise<boolean> => sleep(Math.min(backoffMs(++failures, 25, 500),
    deadline - Date.now() - MIN_ATTEMPT_MS), signal);
  for (;;) {
    if (signal.aborted) throw new SynodAbortedError('read aborted', { cause: signal.reason });
    const remaining = deadline - Date.now();
    if (remaining <= 0 || (attempts++ > 0 && remaining < MIN_ATTEMPT_MS)) break;
    let reply;
    try {
      reply = await raceAbort(ctx.transport.request(readSubject(ctx.cluster), data,
        { timeoutMs: Math.min(ATTEMPT_TIMEOUT_MS, remaining) }), signal);
    } catch (e) {
      if (!(e instanceof TransportTimeoutError)) throw e;
      if (e.code === 'TIMEOUT') timeouts++;
      else await pause();
      continue;
    }
    if (reply === ABORTED) continue;
    const refused = remoteError(reply);
    if (refused?.code === 'UNAVAILABLE') {
      // That learner could not read its store; another one may.
      unavailable = refused.message;
      await pause();
      continue;
    }
    if (refused !== null) {
      throw new SynodRejectedError(refused.code,
        `a learner refused the read: ${refused.code}` +
        (refused.message === '' ? '' : `: ${refused.message}`));
    }
    return decodeChecked(reply.data, fromSlot, limit);
  }
  const where = `on ${ctx.server} (cluster ${ctx.cluster})`;
  if (timeouts > 0) {
    throw new SynodTimeoutError(`no learner answered a read ${where} within ${timeoutMs} ms`);
  }
  if (unavailable !== null) {
    throw new SynodUnavailableError(`learners could not read their log ${where}: ${unavailable}`);
  }
  throw new SynodUnavailableError(`no learner answered ${where}`);
}

function decodeChecked(data: Uint8Array, fromSlot: number, limit: number): ReadReply {
  let r: ReadReply;
  try {
    r = decodeReadReply(data);
  } catch (e) {
    if (e instanceof DecodeError) {
      throw new SynodProtocolError(`a learner's read reply did not decode: ${e.message}`,
        { cause: e });
    }
    throw e;
  }
  checkReply(r, fromSlot, limit);
  return r;
}
