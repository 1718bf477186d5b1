import type { Ballot } from './ballot.js';
import type { AcceptedEntry, Message } from './messages.js';
import type { Value } from './value.js';

/** A value decided for a slot, as delivered to the application. */
export interface Decision {
  readonly slot: number;
  readonly value: Value;
}

/** What an acceptor must make durable: a raised promise and/or newly accepted entries. */
export interface AcceptorPersist {
  /** The new promise, when it was raised. */
  readonly promised: Ballot | null;
  /** Entries accepted (or re-accepted at a higher ballot) since the last Ready. */
  readonly accepted: readonly AcceptedEntry[];
  /**
   * Log compaction, when the floor was raised: the new floor and the slots whose votes were
   * dropped (all below it). Written in the same atomic step as the rest.
   */
  readonly compact?: { readonly floor: number; readonly dropped: readonly number[] };
}

/** What a learner must make durable: decisions, so that a restart does not re-learn them. */
export interface LearnerPersist {
  readonly decisions: readonly Decision[];
  /** The delivery point once this Ready's `committed` are delivered. */
  readonly nextSlot: number;
}

/**
 * Something that happened inside a core, for telemetry and tests. The core never calls out to
 * tracing or metrics: it records events and the runtime turns them into spans and counters.
 */
export type CoreEvent =
  | { readonly kind: 'promised'; readonly ballot: Ballot; readonly to: string }
  | { readonly kind: 'accepted'; readonly ballot: Ballot; readonly slot: number }
  | {
    readonly kind: 'nacked'; readonly ballot: Ballot; readonly promised: Ballot;
    readonly slot: number | null;
  }
  | { readonly kind: 'phase1-started'; readonly ballot: Ballot; readonly fromSlot: number }
  | { readonly kind: 'leader-elected'; readonly ballot: Ballot; readonly nextSlot: number }
  | { readonly kind: 'preempted'; readonly ballot: Ballot; readonly by: Ballot }
  | {
    readonly kind: 'proposed'; readonly ballot: Ballot; readonly slot: number;
    readonly value: Value;
  }
  | { readonly kind: 'chosen'; readonly slot: number; readonly ballot: Ballot }
  | { readonly kind: 'catchup-requested'; readonly fromSlot: number; readonly toSlot: number }
  | { readonly kind: 'compacted'; readonly floor: number; readonly dropped: number }
  | { readonly kind: 'skipped'; readonly fromSlot: number; readonly toSlot: number }
  | { readonly kind: 'rejected'; readonly reason: string; readonly detail: string };

/**
 * Everything a core asks its driver to do after `step()`/`tick()` calls, taken with `ready()`
 * and acknowledged with `advance()`.
 *
 * **Ordering contract.** The driver MUST make `persist` durable (for an acceptor: written with
 * `appendfsync always` and acknowledged by the store) BEFORE any of `messages` leaves the
 * process, and deliver `committed` to the application only after that. A promise or an accept
 * that is sent before it is durable can be forgotten by a crash, and then the acceptor may vote
 * twice: that is how agreement is lost.
 *
 * **Taking a Ready.** Call `advance()` right after `ready()`, before the next `step()` or
 * `tick()`: the arrays of a Ready belong to it only from `advance()` on. A driver that steps in
 * between would send replies whose state is not in the `persist` it holds.
 */
export interface Ready<P> {
  /** State to make durable first; null when nothing changed. */
  readonly persist: P | null;
  /** Messages to send once `persist` is durable. */
  readonly messages: readonly Message[];
  /** Decisions to hand to the application, in slot order for a learner. */
  readonly committed: readonly Decision[];
  /** Events for telemetry; ignoring them is always safe. */
  readonly events: readonly CoreEvent[];
}

/** True when a Ready asks for nothing. */
export function isEmptyReady<P>(r: Ready<P>): boolean {
  return r.persist === null && r.messages.length === 0 && r.committed.length === 0 &&
    r.events.length === 0;
}
