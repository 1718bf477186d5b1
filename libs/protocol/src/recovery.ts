import { compareBallots } from './ballot.js';
import type { AcceptedEntry } from './messages.js';

/** One acceptor's report (a promise) taken for a leader's recovery of decided slots. */
export interface RecoveryReport {
  readonly entries: readonly AcceptedEntry[];
  /** The report covers slots below this (a page's `upTo`), Infinity when complete. */
  readonly upTo: number;
  /** The acceptor compacted every slot below this (0 when it did not). */
  readonly floor: number;
}

/**
 * The chosen value of each slot a quorum's recovery reports can vouch for, in slot order:
 * slots from `fromSlot` (and from every report's floor) below `decidedBelow`, below every
 * report's `upTo` and below `fromSlot + maxSlots`, each with the highest-ballot vote reported
 * there (slots without any vote are left out).
 *
 * The caller guarantees that `reports` come from a quorum of distinct acceptors and were all
 * taken after every slot below `decidedBelow` was decided. Then the highest-ballot vote is the
 * chosen value: a quorum Q accepted it at some ballot b; the reporting quorum shares an
 * acceptor with Q, whose vote there is at a ballot >= b (votes are only replaced by higher
 * ones) unless it compacted the slot (then its floor excludes the slot); and every proposal at
 * a ballot above b in that slot carries the chosen value (phase 1 makes every leader propose
 * the highest value reported, and no new value goes below what a leader knows decided). See
 * docs/decisions/010-leader-recovers-decided-slots.md.
 */
export function chosenFromReports(
  reports: readonly RecoveryReport[], fromSlot: number, decidedBelow: number, maxSlots: number,
): AcceptedEntry[] {
  const end = Math.min(decidedBelow, fromSlot + maxSlots, ...reports.map((x) => x.upTo));
  const from = Math.max(fromSlot, ...reports.map((x) => x.floor));
  const best = new Map<number, AcceptedEntry>();
  for (const x of reports) {
    for (const e of x.entries) {
      if (e.slot < from || e.slot >= end) continue;
      const prev = best.get(e.slot);
      if (prev === undefined || compareBallots(e.ballot, prev.ballot) > 0) best.set(e.slot, e);
    }
  }
  return [...best.values()].sort((a, b) => a.slot - b.slot);
}
