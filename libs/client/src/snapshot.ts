import {
  decodeElectionSnapshotReply,
  electionSnapshotSubject,
  encodeApi,
  ERROR_HEADER,
} from '@synod/codec';
import { ElectionMachine, type ElectionSnapshot } from '@synod/election';
import { TransportTimeoutError } from '@synod/runtime';
import type { ReadContext } from './read.js';
import { ABORTED, raceAbort } from './time.js';

/** A snapshot that restored, or why there is none (the view then replays from slot 0). */
export type SnapshotResult =
  | { readonly machine: ElectionMachine; readonly learner: string }
  | { readonly failed: string };

const dec = new TextDecoder();

/**
 * Asks one learner (the queue group picks it) for its election machine's state and restores
 * it; one attempt within `timeoutMs`. Any failure (no learner serves snapshots, a refusal such
 * as TOO_LARGE, a reply that does not decode or restore) is returned as the reason, never
 * thrown: replaying the log is always correct, the snapshot only saves the time.
 */
export async function fetchElectionSnapshot(ctx: ReadContext, timeoutMs: number,
  signal: AbortSignal): Promise<SnapshotResult> {
  let reply;
  try {
    reply = await raceAbort(ctx.transport.request(electionSnapshotSubject(ctx.cluster),
      encodeApi({}), { timeoutMs }), signal);
  } catch (e) {
    if (e instanceof TransportTimeoutError) {
      return { failed: e.code === 'TIMEOUT' ? `no learner answered within ${timeoutMs} ms`
        : 'no learner serves election snapshots' };
    }
    return { failed: e instanceof Error ? e.message : String(e) };
  }
  if (reply === ABORTED) return { failed: 'aborted' };
  const code = reply.headers[ERROR_HEADER];
  if (code !== undefined) {
    let message = '';
    try {
      const body = JSON.parse(dec.decode(reply.data)) as { error?: { message?: unknown } };
      if (typeof body.error?.message === 'string') message = body.error.message;
    } catch {
      // The code alone says enough.
    }
    return { failed: `a learner refused: ${code}${message === '' ? '' : `: ${message}`}` };
  }
  try {
    const r = decodeElectionSnapshotReply(reply.data);
    return {
      machine: ElectionMachine.restore(r.snapshot as unknown as ElectionSnapshot),
      learner: r.learner,
    };
  } catch (e) {
    // Whatever the reply held, it is not a snapshot this client can start from.
    return { failed: `a learner's snapshot was refused: ${e instanceof Error ? e.message
      : String(e)}` };
  }
}
