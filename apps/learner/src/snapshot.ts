import { encodeApi } from '@synod/codec';
import type { ElectionSnapshot } from '@synod/election';

/** What the learner answers an election snapshot request with. */
export type SnapshotAnswer =
  | { readonly data: Uint8Array; readonly slot: number }
  | { readonly code: 'NOT_AVAILABLE' | 'TOO_LARGE'; readonly message: string };

/**
 * The answer to an election snapshot request: the encoded reply, or the refusal when the
 * learner's election state stopped following the log (a gap in its stored log) or the snapshot
 * does not fit in one reply of `maxBytes` (tens of thousands of clients in the deduplicator);
 * either way the client replays the log from slot 0 instead.
 */
export function answerElectionSnapshot(learner: string,
  state: { snapshot: ElectionSnapshot } | { unavailable: string }, maxBytes: number):
  SnapshotAnswer {
  if ('unavailable' in state) {
    return { code: 'NOT_AVAILABLE', message: `no election state: ${state.unavailable}` };
  }
  const data = encodeApi({ learner, snapshot: { ...state.snapshot } });
  if (data.byteLength > maxBytes) {
    return { code: 'TOO_LARGE', message: `the election snapshot at slot ` +
      `${state.snapshot.nextSlot} is ${data.byteLength} bytes, over ${maxBytes}: replay the log` };
  }
  return { data, slot: state.snapshot.nextSlot };
}
