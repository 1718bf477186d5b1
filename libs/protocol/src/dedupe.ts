/**
 * Default per-client window of a {@link Deduplicator}: past this many seqs seen above a gap the
 * floor jumps past it. Clients keep every seq they can still get acknowledged well within it
 * (`SEQ_WINDOW` of `@synod/client`).
 */
export const DEDUPE_WINDOW = 4096;

/**
 * Exactly-once effects on top of at-most-once... per slot. Paxos may choose one client command
 * in two slots (a retry that raced a leader change lands twice), so the application applies the
 * log through a Deduplicator: the first copy of a `(clientId, seq)` takes effect, later copies
 * are skipped. Proposers answer a client with the lowest slot that holds its command, which is
 * the copy that takes effect.
 *
 * Memory per client is a floor (every seq at or below it was seen) plus the seqs seen above it,
 * at most `window` of them; clients number their commands 1, 2, 3... so the floor keeps up.
 *
 * Memory in total is bounded too (docs/decisions/011-bounded-learner-dedupe.md): at most
 * `maxClients` clients and `maxSeqs` remembered seqs above the floors. Past `maxClients` the
 * least recently seen client is forgotten, "seen" meaning its latest command in log order
 * (every `admit`, duplicate or not, makes its client the most recent); past `maxSeqs` the least
 * recently seen client *that holds seqs above its floor* (one with gaps: a command lost, or a
 * client first seen past its seq 1) is forgotten, never the clients without gaps. That order is
 * a function of the commands admitted so far, so every application of one log (every learner,
 * a learner rebuilding after a restart) forgets the same clients at the same points and marks
 * the same duplicates. A copy of a command of a client without gaps is caught whenever fewer
 * than `maxClients` other clients were seen since the client's previous command: in particular
 * whenever fewer than `maxClients` commands lie between the two copies. A client with gaps may
 * also be forgotten earlier, when `maxSeqs` seqs are held by clients with gaps seen after it.
 * A later copy of a forgotten client's command takes effect again.
 */
export class Deduplicator {
  /** Clients in order of their latest command, least recent first (Map keeps insertion order). */
  private readonly clients = new Map<string, { floor: number; above: Set<number> | null }>();
  /** The clients of {@link clients} that hold seqs above their floor, in the same order. */
  private readonly gapped = new Set<string>();
  private seqs = 0;
  private forgotten = 0;
  private readonly maxClients: number;
  private readonly maxSeqs: number;

  /**
   * @param window most out-of-order seqs remembered per client before the floor jumps.
   * @param bounds `maxClients` (default {@link DEDUPE_MAX_CLIENTS}) and `maxSeqs` (default
   *   {@link DEDUPE_MAX_SEQS}, at least `window + 1`).
   */
  constructor(
    private readonly window = DEDUPE_WINDOW,
    bounds: { readonly maxClients?: number; readonly maxSeqs?: number } = {},
  ) {
    this.maxClients = bounds.maxClients ?? DEDUPE_MAX_CLIENTS;
    this.maxSeqs = Math.max(bounds.maxSeqs ?? DEDUPE_MAX_SEQS, window + 1);
    if (!Number.isSafeInteger(this.maxClients) || this.maxClients < 1) {
      throw new RangeError(`maxClients must be a positive integer, got ${this.maxClients}`);
    }
  }

  /** True the first time a command is seen (it takes effect), false for a later copy. */
  admit(c: { readonly clientId: string; readonly seq: number }): boolean {
    let s = this.clients.get(c.clientId);
    if (s === undefined) {
      s = { floor: 0, above: null };
    } else {
      // Most recently seen: to the end of the insertion order (of both orders).
      this.clients.delete(c.clientId);
      this.gapped.delete(c.clientId);
    }
    this.clients.set(c.clientId, s);
    const fresh = !(c.seq <= s.floor || s.above?.has(c.seq) === true);
    if (fresh) this.record(s, c.seq);
    if (s.above !== null) this.gapped.add(c.clientId);
    this.evict();
    return fresh;
  }

  /**
   * Everything the deduplicator holds, as plain data: restored with {@link restore}, it admits
   * and forgets exactly as this one would. Clients are listed least recently seen first, each
   * as `[clientId, floor, ...seqs above the floor]`.
   */
  snapshot(): DedupeSnapshot {
    const clients: Array<[string, number, ...number[]]> = [];
    for (const [id, s] of this.clients) {
      clients.push(s.above === null ? [id, s.floor]
        : [id, s.floor, ...[...s.above].sort((a, b) => a - b)]);
    }
    return {
      window: this.window, maxClients: this.maxClients, maxSeqs: this.maxSeqs,
      forgotten: this.forgotten, clients,
    };
  }

  /**
   * A deduplicator in the state of `snap` (from {@link snapshot}). `snap` may come from
   * another process: anything malformed or inconsistent (a seq at or below its floor, a client
   * twice, more held than the bounds allow) throws a RangeError naming it, and nothing is built.
   */
  static restore(snap: DedupeSnapshot): Deduplicator {
    const whole = (x: unknown, what: string, min = 0): number => {
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min) {
        throw new RangeError(`dedupe snapshot: ${what} must be a whole number >= ${min}`);
      }
      return x;
    };
    const window = whole(snap.window, 'window', 1);
    const maxClients = whole(snap.maxClients, 'maxClients', 1);
    const maxSeqs = whole(snap.maxSeqs, 'maxSeqs', window + 1);
    const d = new Deduplicator(window, { maxClients, maxSeqs });
    d.forgotten = whole(snap.forgotten, 'forgotten');
    if (!Array.isArray(snap.clients) || snap.clients.length > maxClients) {
      throw new RangeError(`dedupe snapshot: clients must be a list of at most ${maxClients}`);
    }
    for (const [i, c] of snap.clients.entries()) {
      if (!Array.isArray(c) || c.length < 2 || typeof c[0] !== 'string' || c[0] === '') {
        throw new RangeError(`dedupe snapshot: clients[${i}] must be [clientId, floor, ...seqs]`);
      }
      const [id, floorRaw, ...aboveRaw] = c;
      if (d.clients.has(id)) throw new RangeError(`dedupe snapshot: client ${id} listed twice`);
      const floor = whole(floorRaw, `clients[${i}] floor`);
      let prev = floor + 1;
      for (const q of aboveRaw) {
        // Strictly increasing, and never floor + 1 (the floor would have moved over it).
        if (whole(q, `clients[${i}] seq`) <= prev) {
          throw new RangeError(`dedupe snapshot: clients[${i}] seqs must be increasing and ` +
            'above floor + 1');
        }
        prev = q;
      }
      if (aboveRaw.length > window) {
        throw new RangeError(`dedupe snapshot: clients[${i}] holds more than ${window} seqs`);
      }
      const above = aboveRaw.length === 0 ? null : new Set(aboveRaw as number[]);
      d.clients.set(id, { floor, above });
      if (above !== null) {
        d.gapped.add(id);
        d.seqs += above.size;
      }
    }
    if (d.seqs > maxSeqs) {
      throw new RangeError(`dedupe snapshot: ${d.seqs} seqs held, more than maxSeqs ${maxSeqs}`);
    }
    return d;
  }

  /** Number of clients tracked. */
  get size(): number {
    return this.clients.size;
  }

  /** What is held: clients, seqs above their floors, and clients forgotten so far. */
  get stats(): { clients: number; seqs: number; forgotten: number } {
    return { clients: this.clients.size, seqs: this.seqs, forgotten: this.forgotten };
  }

  private record(s: { floor: number; above: Set<number> | null }, seq: number): void {
    if (seq === s.floor + 1) {
      s.floor = seq;
    } else {
      s.above ??= new Set();
      s.above.add(seq);
      this.seqs++;
    }
    const above = s.above;
    if (above === null) return;
    const before = above.size;
    while (above.delete(s.floor + 1)) s.floor++;
    if (above.size > this.window) {
      // A client that skipped seqs never sends them later: treat the oldest gap as seen.
      let min = Infinity;
      for (const q of above) min = Math.min(min, q);
      s.floor = min;
      above.delete(min);
      while (above.delete(s.floor + 1)) s.floor++;
    }
    this.seqs -= before - above.size;
    if (above.size === 0) s.above = null;
  }

  /** Forgets the least recently seen clients while a bound is exceeded. */
  private evict(): void {
    while (this.clients.size > this.maxClients) {
      const oldest = this.clients.keys().next();
      if (oldest.done === true) return;
      this.forget(oldest.value);
    }
    while (this.seqs > this.maxSeqs) {
      // Only a client with gaps holds seqs: forget the least recent of those.
      const oldest = this.gapped.values().next();
      if (oldest.done === true) return;
      this.forget(oldest.value);
    }
  }

  private forget(id: string): void {
    const s = this.clients.get(id);
    if (s === undefined) return;
    this.clients.delete(id);
    this.gapped.delete(id);
    this.seqs -= s.above?.size ?? 0;
    this.forgotten++;
  }
}

/** A {@link Deduplicator}'s state as plain data (JSON-safe). */
export interface DedupeSnapshot {
  readonly window: number;
  readonly maxClients: number;
  readonly maxSeqs: number;
  readonly forgotten: number;
  /** Least recently seen first: `[clientId, floor, ...seqs above the floor, ascending]`. */
  readonly clients: ReadonlyArray<readonly [string, number, ...number[]]>;
}

/**
 * Default bound on the clients a {@link Deduplicator} remembers: the proposers' own default
 * bound on the decided commands they keep to answer retries (`SYNOD_RETAIN_DECIDED_COMMANDS`,
 * 100 000), so a copy within that many commands of the first is always caught. About 15 MB.
 */
export const DEDUPE_MAX_CLIENTS = 100_000;

/** Default bound on out-of-order seqs remembered over all clients (a few MB). */
export const DEDUPE_MAX_SEQS = 262_144;
