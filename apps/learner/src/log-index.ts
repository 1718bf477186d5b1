import type { LogEntry } from '@synod/codec';
import { type Decision, Deduplicator } from '@synod/protocol';

/**
 * Which commands of the delivered log take effect. Paxos can choose one command in two slots
 * (a retry racing a leader change); the first copy takes effect and later ones are marked
 * `dups` in read and watch answers. Only slots that hold duplicates are remembered.
 */
export class LogIndex {
  private readonly dedupe = new Deduplicator();
  private readonly dups = new Map<number, number[]>();

  /** Feeds delivered decisions in slot order. */
  add(d: Decision): void {
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
}
