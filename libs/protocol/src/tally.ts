import { type Ballot, describeBallot } from './ballot.js';
import type { Value } from './value.js';

interface Votes {
  value: Value;
  readonly voters: Set<string>;
}

/**
 * Counts acceptors' votes (accepted messages) per slot and per ballot. A value is chosen for a
 * slot when a quorum of distinct acceptors accepted the SAME ballot there; votes at different
 * ballots never add up, even for equal values, because only a single ballot's quorum is
 * guaranteed to intersect every later prepare quorum.
 */
export class Tally {
  private readonly slots = new Map<number, Map<string, Votes>>();

  /**
   * @param quorum votes needed at one ballot.
   * @param plantedAcrossBallots simulator-only planted bug: count votes across ballots.
   */
  constructor(
    private readonly quorum: number,
    private readonly plantedAcrossBallots = false,
  ) {}

  /**
   * Records that acceptor `from` accepted `value` for `slot` at `ballot`. Returns the value when
   * this vote completes a quorum, otherwise null. Duplicate votes are idempotent.
   */
  add(slot: number, ballot: Ballot, value: Value, from: string): Value | null {
    let perBallot = this.slots.get(slot);
    if (perBallot === undefined) {
      perBallot = new Map();
      this.slots.set(slot, perBallot);
    }
    const key = this.plantedAcrossBallots ? '*' : describeBallot(ballot);
    let votes = perBallot.get(key);
    if (votes === undefined) {
      votes = { value, voters: new Set() };
      perBallot.set(key, votes);
    }
    if (this.plantedAcrossBallots) votes.value = value;
    if (votes.voters.has(from)) return null;
    votes.voters.add(from);
    return votes.voters.size === this.quorum ? votes.value : null;
  }

  /** The acceptors that voted for `slot` at `ballot`, in id order (empty when none did). */
  voters(slot: number, ballot: Ballot): string[] {
    const key = this.plantedAcrossBallots ? '*' : describeBallot(ballot);
    const votes = this.slots.get(slot)?.get(key);
    return votes === undefined ? [] : [...votes.voters].sort();
  }

  /** Drops the votes of a decided slot. */
  forget(slot: number): void {
    this.slots.delete(slot);
  }

  /** Drops the votes of every slot below `slot`. */
  forgetBelow(slot: number): void {
    for (const s of this.slots.keys()) if (s < slot) this.slots.delete(s);
  }

  /** Number of slots with votes but no decision yet. */
  get openSlots(): number {
    return this.slots.size;
  }
}
