import {
  type Command,
  DEDUPE_MAX_CLIENTS,
  DEDUPE_MAX_SEQS,
  DEDUPE_WINDOW,
  type DedupeSnapshot,
  Deduplicator,
  PlantedBug,
  type Value,
} from '@synod/protocol';
import {
  type CampaignCommand,
  type ElectionCommand,
  MALFORMED_REASONS,
  type MalformedReason,
  MAX_TTL_MS,
  MIN_TTL_MS,
  NAME_PATTERN,
  parseElectionPayload,
  type RenewCommand,
  type ResignCommand,
} from './command.js';

/** One term of leadership of a group, as the log says it is. Times are log time (ms). */
export interface Lease {
  readonly group: string;
  /** The candidate that holds it. */
  readonly holder: string;
  /** The client id that campaigned: only it can renew or resign this term. */
  readonly owner: string;
  /** The fencing token: the slot of the entry that granted this term. */
  readonly token: number;
  /** Log time of the grant. */
  readonly grantedAt: number;
  /** Log time of the last renewal (the grant's when never renewed). */
  readonly renewedAt: number;
  /** Log time at which the lease ends unless renewed before. */
  readonly expiresAt: number;
  /** The ttl of the grant or of the last renewal. */
  readonly ttlMs: number;
}

/** Why a well-formed command had no effect. */
export type RefusedReason =
  /** campaign: the group has a live lease (the holder may be the campaigner itself). */
  | 'held'
  /** renew or resign: no live term with this token, candidate and owning client. */
  | 'not-holder'
  /** campaign: the group was granted earlier in the same slot (tokens must strictly grow). */
  | 'busy';

/** What an election command did, as every learner computes it. */
export type ElectionOutcome =
  | { readonly kind: 'granted'; readonly lease: Lease }
  | { readonly kind: 'renewed'; readonly lease: Lease }
  | { readonly kind: 'released'; readonly lease: Lease }
  | { readonly kind: 'refused'; readonly reason: RefusedReason; readonly lease: Lease | null }
  | { readonly kind: 'malformed'; readonly reason: MalformedReason };

/** The outcome of one election command (the first copy of its `(clientId, seq)`). */
export interface CommandResult {
  readonly clientId: string;
  readonly seq: number;
  /** Null for a malformed payload. */
  readonly command: ElectionCommand | null;
  readonly outcome: ElectionOutcome;
}

/** A change of a group's lease, in log order. `at` is the log time of the slot. */
export type ElectionEvent =
  | { readonly kind: 'granted'; readonly slot: number; readonly at: number; readonly lease: Lease }
  | { readonly kind: 'renewed'; readonly slot: number; readonly at: number; readonly lease: Lease }
  | { readonly kind: 'released'; readonly slot: number; readonly at: number; readonly lease: Lease }
  | { readonly kind: 'expired'; readonly slot: number; readonly at: number; readonly lease: Lease };

/** What applying one slot did. */
export interface Applied {
  readonly slot: number;
  /** Log time at this slot: the highest stamp at or below it (0 before any stamp). */
  readonly at: number;
  readonly results: readonly CommandResult[];
  readonly events: readonly ElectionEvent[];
}

/** Counters of everything the machine saw (malformed payloads by reason). */
export interface ElectionStats {
  slots: number;
  /** Election commands that took effect or were refused (first copies, well-formed). */
  commands: number;
  /** Commands of other applications, left alone. */
  foreign: number;
  /** Later copies of a `(clientId, seq)`, skipped. */
  duplicates: number;
  readonly malformed: Record<string, number>;
}

/** Version of {@link ElectionSnapshot}. */
export const ELECTION_SNAPSHOT_VERSION = 1;

/**
 * An {@link ElectionMachine}'s whole state between two slots, as plain data (JSON-safe):
 * restored with {@link ElectionMachine.restore}, the machine applies the slots from `nextSlot`
 * on exactly as the one that took it would (same outcomes, same events, same forgetting).
 */
export interface ElectionSnapshot {
  readonly v: typeof ELECTION_SNAPSHOT_VERSION;
  /** The next slot to apply: the snapshot holds the effect of every slot below it. */
  readonly nextSlot: number;
  readonly logTime: number;
  /** Every lease held in the machine (live or not yet found expired), in its order. */
  readonly leases: readonly Lease[];
  readonly stats: ElectionStats;
  /** The deduplicator's state: which `(clientId, seq)` were seen. */
  readonly dedupe: DedupeSnapshot;
}

/** Settings of an {@link ElectionMachine}. */
export interface ElectionConfig {
  /** Simulator only: a planted bug to switch on. */
  readonly plantedBug?: PlantedBug;
  /** Out-of-order seqs remembered per client by the deduplicator. */
  readonly dedupeWindow?: number;
}

/**
 * The election state machine: applied to the decided log in slot order, it computes who holds
 * each group's lease. It is pure and deterministic: its only inputs are the slots' values, so
 * every learner (and every client replaying the log) computes the same holders.
 *
 * Time is **log time**: the highest leader stamp at or below the slot being applied (see
 * `Value` in @synod/protocol), never a local clock. A lease granted or renewed at log time `t`
 * with `ttlMs` ends at `t + ttlMs`; it is found expired when the first slot whose log time
 * reaches that is applied, before that slot's commands. Each grant's fencing token is the
 * grant's slot: at most one grant per group per slot, so tokens strictly increase per group.
 *
 * Rules, per command (the first copy of each `(clientId, seq)`; later copies are skipped):
 * - campaign: granted if the group has no live lease (and none was granted in this slot);
 *   refused `held` otherwise, even to the holder itself: a new term needs the old one to end.
 * - renew: extends the live term whose token, candidate and owning client id match it;
 *   refused `not-holder` otherwise (including after expiry).
 * - resign: ends that term now; refused `not-holder` otherwise.
 */
export class ElectionMachine {
  /** Counters of what was applied. */
  readonly stats: ElectionStats = {
    slots: 0, commands: 0, foreign: 0, duplicates: 0, malformed: {},
  };
  private readonly leases = new Map<string, Lease>();
  private dedupe: Deduplicator;
  private readonly bug: PlantedBug | undefined;
  private next = 0;
  private time = 0;
  private events: ElectionEvent[] = [];
  private slot = 0;
  private grantedThisSlot = new Set<string>();

  constructor(config: ElectionConfig = {}) {
    this.dedupe = new Deduplicator(config.dedupeWindow);
    this.bug = config.plantedBug;
  }

  /** The machine's state between two slots (see {@link ElectionSnapshot}). */
  snapshot(): ElectionSnapshot {
    return {
      v: ELECTION_SNAPSHOT_VERSION, nextSlot: this.next, logTime: this.time,
      leases: [...this.leases.values()],
      stats: { ...this.stats, malformed: { ...this.stats.malformed } },
      dedupe: this.dedupe.snapshot(),
    };
  }

  /**
   * A machine in the state of `snap`, which may come from another process (a learner): every
   * field is checked, and a snapshot that is malformed, inconsistent, or taken with other
   * deduplicator settings than `config` gives (the defaults: every application of the log must
   * forget alike) throws a RangeError naming the problem.
   */
  static restore(snap: ElectionSnapshot, config: ElectionConfig = {}): ElectionMachine {
    const bad = (what: string): never => {
      throw new RangeError(`election snapshot: ${what}`);
    };
    const whole = (x: unknown, what: string): number => (typeof x === 'number' &&
      Number.isSafeInteger(x) && x >= 0 ? x : bad(`${what} must be a whole number >= 0`));
    if (typeof snap !== 'object' || snap === null) return bad('not an object');
    if (snap.v !== ELECTION_SNAPSHOT_VERSION) {
      return bad(`version ${JSON.stringify(snap.v)?.slice(0, 40) ?? 'missing'}, this code reads ` +
        `${ELECTION_SNAPSHOT_VERSION}`);
    }
    const m = new ElectionMachine(config);
    m.next = whole(snap.nextSlot, 'nextSlot');
    m.time = whole(snap.logTime, 'logTime');
    const st = snap.stats as Partial<ElectionStats> | null;
    if (typeof st !== 'object' || st === null) return bad('stats missing');
    for (const k of ['slots', 'commands', 'foreign', 'duplicates'] as const) {
      m.stats[k] = whole(st[k], `stats.${k}`);
    }
    // A machine applies every slot once, from slot 0.
    if (m.stats.slots !== m.next) bad('stats.slots differs from nextSlot');
    if (typeof st.malformed !== 'object' || st.malformed === null) {
      return bad('stats.malformed missing');
    }
    for (const [k, n] of Object.entries(st.malformed)) {
      if (!(MALFORMED_REASONS as readonly string[]).includes(k)) {
        bad(`stats.malformed has an unknown reason ${JSON.stringify(k).slice(0, 40)}`);
      }
      m.stats.malformed[k] = whole(n, `stats.malformed.${k}`);
    }
    if (!Array.isArray(snap.leases)) return bad('leases must be a list');
    snap.leases.forEach((l: Partial<Lease>, i) => {
      const at = `leases[${i}]`;
      if (typeof l !== 'object' || l === null) bad(`${at} is not an object`);
      for (const k of ['group', 'holder'] as const) {
        if (typeof l[k] !== 'string' || !NAME_PATTERN.test(l[k])) bad(`${at}.${k} is not a name`);
      }
      if (typeof l.owner !== 'string' || l.owner === '' || l.owner.length > 256) {
        bad(`${at}.owner is not a client id`);
      }
      const token = whole(l.token, `${at}.token`);
      const grantedAt = whole(l.grantedAt, `${at}.grantedAt`);
      const renewedAt = whole(l.renewedAt, `${at}.renewedAt`);
      const ttlMs = whole(l.ttlMs, `${at}.ttlMs`);
      if (ttlMs < MIN_TTL_MS || ttlMs > MAX_TTL_MS) bad(`${at}.ttlMs out of range`);
      // Every slot applied drops the leases that its log time ended: a lease held between two
      // slots is live at the machine's log time.
      if (token >= m.next || grantedAt > renewedAt || renewedAt > m.time ||
        l.expiresAt !== renewedAt + ttlMs || l.expiresAt <= m.time) {
        bad(`${at} is inconsistent (token below nextSlot, granted <= renewed <= logTime, ` +
          'expiresAt = renewedAt + ttlMs, after logTime)');
      }
      const group = l.group as string;
      if (m.leases.has(group)) bad(`${at}: group ${group} listed twice`);
      m.leases.set(group, {
        group, holder: l.holder as string, owner: l.owner as string, token, grantedAt,
        renewedAt, expiresAt: renewedAt + ttlMs, ttlMs,
      });
    });
    const d = snap.dedupe as DedupeSnapshot | null;
    if (typeof d !== 'object' || d === null) return bad('dedupe missing');
    const want = { window: config.dedupeWindow ?? DEDUPE_WINDOW, maxClients: DEDUPE_MAX_CLIENTS,
      maxSeqs: Math.max(DEDUPE_MAX_SEQS, (config.dedupeWindow ?? DEDUPE_WINDOW) + 1) };
    if (d.window !== want.window || d.maxClients !== want.maxClients ||
      d.maxSeqs !== want.maxSeqs) {
      bad(`taken with deduplicator settings ${JSON.stringify([d.window, d.maxClients,
        d.maxSeqs])}, this machine uses ${JSON.stringify(Object.values(want))}`);
    }
    m.dedupe = Deduplicator.restore(d);
    return m;
  }

  /** The next slot to apply: every slot below it has been applied. */
  get nextSlot(): number {
    return this.next;
  }

  /** Log time after the last applied slot. */
  get logTime(): number {
    return this.time;
  }

  /** The live lease of `group` at the current log time, or null. */
  lease(group: string): Lease | null {
    const l = this.leases.get(group);
    return l !== undefined && this.time < l.expiresAt ? l : null;
  }

  /** Every live lease, by group. */
  allLeases(): Lease[] {
    return [...this.leases.values()].filter((l) => this.time < l.expiresAt);
  }

  /**
   * Applies the decided value of `slot`, which must be {@link nextSlot} (slots are applied in
   * order, without gaps: anything else is a programmer error and throws).
   */
  apply(slot: number, value: Value): Applied {
    if (slot !== this.next) {
      throw new RangeError(`apply: slot ${slot} out of order, expected ${this.next}`);
    }
    this.next++;
    this.stats.slots++;
    this.slot = slot;
    this.events = [];
    this.grantedThisSlot = new Set();
    if (value.kind === 'cmds' && value.stamp !== undefined && value.stamp > this.time) {
      this.time = value.stamp;
    }
    if (this.bug !== PlantedBug.ElectionRenewAfterExpiry) this.expire();
    const results: CommandResult[] = [];
    if (value.kind === 'cmds') {
      for (const c of value.cmds) {
        const r = this.applyCommand(c);
        if (r !== null) results.push(r);
      }
    }
    return { slot, at: this.time, results, events: this.events };
  }

  private expire(): void {
    for (const [group, l] of this.leases) {
      if (this.time < l.expiresAt) continue;
      this.leases.delete(group);
      this.emit('expired', l);
    }
  }

  private applyCommand(c: Command): CommandResult | null {
    // Every command goes through the deduplicator, foreign ones included: a client's seqs are
    // shared by all its commands, and the floor only advances over consecutive seqs.
    if (!this.dedupe.admit(c)) {
      this.stats.duplicates++;
      return null;
    }
    const p = parseElectionPayload(c.payload);
    switch (p.kind) {
      case 'foreign':
        this.stats.foreign++;
        return null;
      case 'malformed':
        this.stats.malformed[p.reason] = (this.stats.malformed[p.reason] ?? 0) + 1;
        return { clientId: c.clientId, seq: c.seq, command: null, outcome: p };
      case 'command':
        this.stats.commands++;
        return { clientId: c.clientId, seq: c.seq, command: p.cmd, outcome: this.run(p.cmd, c) };
    }
  }

  private run(cmd: ElectionCommand, c: Command): ElectionOutcome {
    switch (cmd.op) {
      case 'campaign':
        return this.campaign(cmd, c.clientId);
      case 'renew':
        return this.renew(cmd, c.clientId);
      case 'resign':
        return this.resign(cmd, c.clientId);
    }
  }

  private campaign(cmd: CampaignCommand, owner: string): ElectionOutcome {
    const live = this.lease(cmd.group);
    const grantWhileHeld = this.bug === PlantedBug.ElectionGrantWhileHeld;
    if (live !== null && !grantWhileHeld) return { kind: 'refused', reason: 'held', lease: live };
    if (this.grantedThisSlot.has(cmd.group)) {
      return { kind: 'refused', reason: 'busy', lease: live };
    }
    const lease: Lease = {
      group: cmd.group, holder: cmd.candidate, owner, token: this.slot, grantedAt: this.time,
      renewedAt: this.time, expiresAt: this.time + cmd.ttlMs, ttlMs: cmd.ttlMs,
    };
    this.leases.set(cmd.group, lease);
    this.grantedThisSlot.add(cmd.group);
    this.emit('granted', lease);
    return { kind: 'granted', lease };
  }

  private renew(cmd: RenewCommand, owner: string): ElectionOutcome {
    const term = this.term(cmd, owner);
    if (term === null) {
      return { kind: 'refused', reason: 'not-holder', lease: this.lease(cmd.group) };
    }
    const lease: Lease = {
      ...term, renewedAt: this.time, expiresAt: this.time + cmd.ttlMs, ttlMs: cmd.ttlMs,
    };
    this.leases.set(cmd.group, lease);
    this.emit('renewed', lease);
    return { kind: 'renewed', lease };
  }

  private resign(cmd: ResignCommand, owner: string): ElectionOutcome {
    const term = this.term(cmd, owner);
    if (term === null) {
      return { kind: 'refused', reason: 'not-holder', lease: this.lease(cmd.group) };
    }
    this.leases.delete(cmd.group);
    this.emit('released', term);
    return { kind: 'released', lease: term };
  }

  /** The live term that a renew or resign names, or null. */
  private term(cmd: RenewCommand | ResignCommand, owner: string): Lease | null {
    const l = this.bug === PlantedBug.ElectionRenewAfterExpiry
      ? this.leases.get(cmd.group) ?? null
      : this.lease(cmd.group);
    if (l === null || l.token !== cmd.token || l.holder !== cmd.candidate || l.owner !== owner) {
      return null;
    }
    return l;
  }

  private emit(kind: ElectionEvent['kind'], lease: Lease): void {
    this.events.push({ kind, slot: this.slot, at: this.time, lease });
  }
}
