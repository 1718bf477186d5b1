import type { LogEntry } from '@synod/codec';
import { ElectionMachine, type ElectionSnapshot, type Lease } from '@synod/election';
import { type Decision, Deduplicator } from '@synod/protocol';

/** Most leases listed in a learner's status. */
const STATUS_LEASES = 20;

/**
 * Which commands of the delivered log take effect. Paxos can choose one command in two slots
 * (a retry racing a leader change); the first copy takes effect and later ones are marked
 * `dups` in read and watch answers. Only slots that hold duplicates are remembered. The
 * deduplicator's memory is bounded (the 100,000 most recently seen clients; docs/decisions/
 * 011-bounded-learner-dedupe.md), and what it forgets depends on the log alone, so every learner
 * and every rebuild after a restart marks the same `dups`.
 *
 * It also applies the delivered log to the election state machine (docs/election.md), as every
 * application of the log does, so that the learner's status shows who holds each group and
 * counts malformed election payloads by reason.
 */
export class LogIndex {
  private readonly dedupe = new Deduplicator();
  private readonly dups = new Map<number, number[]>();
  private readonly election = new ElectionMachine();
  /** Why the election state stopped following the log (a gap in the stored log), or null. */
  private electionStopped: string | null = null;

  /** Feeds delivered decisions in slot order. */
  add(d: Decision): void {
    this.applyElection(d);
    if (d.value.kind !== 'cmds') return;
    const idx: number[] = [];
    d.value.cmds.forEach((c, i) => {
      if (!this.dedupe.admit(c)) idx.push(i);
    });
    if (idx.length > 0) this.dups.set(d.slot, idx);
  }

  /** The decision as an API log entry. */
  entry(d: Decision): LogEntry {
    const dups = this.dups.get(d.slot);
    return dups === undefined ? { slot: d.slot, value: d.value } : { ...d, dups };
  }

  /** What the deduplicator holds, for the status document. */
  dedupeStatus(): { clients: number; seqs: number; forgotten: number } {
    return this.dedupe.stats;
  }

  /**
   * The election machine's state after every delivered slot (what a new client's election
   * view starts from), or why there is none: the state stopped following the log at a gap.
   */
  electionSnapshot(): { snapshot: ElectionSnapshot } | { unavailable: string } {
    if (this.electionStopped !== null) return { unavailable: this.electionStopped };
    return { snapshot: this.election.snapshot() };
  }

  /** The election state for the status document. */
  electionStatus(): Record<string, unknown> {
    const leases = this.election.allLeases();
    const show = (l: Lease): Record<string, unknown> => ({
      group: l.group, holder: l.holder, token: l.token, expiresAt: l.expiresAt,
    });
    return {
      appliedUpTo: this.election.nextSlot, logTime: this.election.logTime,
      leases: leases.slice(0, STATUS_LEASES).map(show), groups: leases.length,
      ...this.election.stats, stopped: this.electionStopped,
    };
  }

  private applyElection(d: Decision): void {
    if (this.electionStopped !== null) return;
    if (d.slot !== this.election.nextSlot) {
      // Never a reason to stop serving the log: the status says why the view is incomplete.
      this.electionStopped = `slot ${this.election.nextSlot} missing from the stored log ` +
        `(next was ${d.slot})`;
      return;
    }
    this.election.apply(d.slot, d.value);
  }
}
