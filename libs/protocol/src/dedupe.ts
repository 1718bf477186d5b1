/**
 * Exactly-once effects on top of at-most-once... per slot. Paxos may choose one client command
 * in two slots (a retry that raced a leader change lands twice), so the application applies the
 * log through a Deduplicator: the first copy of a `(clientId, seq)` takes effect, later copies
 * are skipped. Proposers answer a client with the lowest slot that holds its command, which is
 * the copy that takes effect.
 *
 * Memory per client is a floor (every seq at or below it was seen) plus the seqs seen above it,
 * at most `window` of them; clients number their commands 1, 2, 3... so the floor keeps up.
 */
export class Deduplicator {
  private readonly clients = new Map<string, { floor: number; readonly above: Set<number> }>();

  /** @param window most out-of-order seqs remembered per client before the floor jumps. */
  constructor(private readonly window = 4096) {}

  /** True the first time a command is seen (it takes effect), false for a later copy. */
  admit(c: { readonly clientId: string; readonly seq: number }): boolean {
    let s = this.clients.get(c.clientId);
    if (s === undefined) {
      s = { floor: 0, above: new Set() };
      this.clients.set(c.clientId, s);
    }
    if (c.seq <= s.floor || s.above.has(c.seq)) return false;
    s.above.add(c.seq);
    while (s.above.delete(s.floor + 1)) s.floor++;
    if (s.above.size > this.window) {
      // A client that skipped seqs never sends them later: treat the oldest gap as seen.
      let min = Infinity;
      for (const q of s.above) min = Math.min(min, q);
      s.floor = min;
      s.above.delete(min);
      while (s.above.delete(s.floor + 1)) s.floor++;
    }
    return true;
  }

  /** Number of clients tracked. */
  get size(): number {
    return this.clients.size;
  }
}
