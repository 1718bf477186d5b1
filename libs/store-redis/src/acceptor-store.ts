import { type Limits, resolveLimits } from '@synod/codec';
import {
  type AcceptedEntry,
  type AcceptorDurableState,
  type AcceptorPersist,
  type Ballot,
  compareMaybeBallots,
  describeBallot,
} from '@synod/protocol';
import type { AcceptorStore } from '@synod/runtime';
import { RedisLink, type RedisStoreOptions } from './connection.js';
import { StoreError, StoreErrorCode } from './errors.js';
import { type AcceptorKeys, acceptorKeys } from './keys.js';
import {
  encodeBallot,
  encodeEntry,
  encodeMarker,
  MARKER_VERSION,
  parseBallot,
  parseEntry,
  parseMarker,
} from './records.js';
import { ACCEPTOR_PERSIST, scriptRefusal } from './scripts.js';

/** Where the operator learns how to bring back an acceptor that lost its memory. */
const READMIT_DOC = 'docs/operations.md#readmit';
/** Where the operator learns what to do when Redis lost acknowledged writes. */
const LOST_WRITES_DOC = 'docs/operations.md#lost-writes';
/** Fields per HSCAN page when loading accepted entries. */
const SCAN_COUNT = 1000;

/** Options of {@link RedisAcceptorStore}. */
export interface RedisAcceptorStoreOptions extends RedisStoreOptions {
  /** Cluster name (a token); part of every key. */
  readonly cluster: string;
  /** This acceptor's node id (a token); part of every key and of the marker. */
  readonly acceptorId: string;
  /**
   * First start of a brand-new acceptor: when the keyspace is entirely empty, create the
   * incarnation marker instead of refusing with AMNESIA. The operator decides this once; an app
   * that always passes `true` disables the amnesia guard for a wiped Redis.
   */
  readonly init?: boolean;
  /** `createdAt` of a marker created by `init` (ISO 8601). Default: now. */
  readonly createdAt?: string;
  /** Limits a stored ballot or value must meet (the wire limits; default the codec's). */
  readonly limits?: Partial<Limits>;
}

/**
 * An acceptor's durable memory in Redis (one acceptor per keyspace; see {@link acceptorKeys}).
 *
 * `load()` connects, checks that Redis is durable, checks the incarnation marker (the amnesia
 * guard) and reads the state strictly. `persist()` is one Lua script call, atomic and fsync'd
 * before it answers under `appendfsync always`; it writes nothing unless the marker this store
 * loaded is still there, and never lowers the promise. After a reconnection the durability
 * check runs again before the next write (Redis may have restarted with another config).
 *
 * The lost-writes guard: every persist raises a write counter in Redis by one, and the store
 * remembers the counter after its last acknowledged write. A persist writes nothing unless the
 * counter is exactly that; `verifyMarker()` and a later `load()` of the same store refuse when
 * it is lower (LOST_WRITES): Redis came back without writes it had acknowledged, e.g. from a
 * truncated AOF. A new store (a restarted acceptor) cannot tell; see
 * docs/decisions/012-write-counter.md. Persists must not overlap (the runtime's driver awaits
 * each one); an overlapping call is a programmer error. Errors are {@link StoreError}s.
 */
export class RedisAcceptorStore implements AcceptorStore {
  /** The key layout of this acceptor. */
  readonly keys: AcceptorKeys;
  private readonly link: RedisLink;
  private readonly o: RedisAcceptorStoreOptions;
  private readonly limits: Limits;
  /** The marker JSON that persist requires, set by `load()`. */
  private marker: string | null = null;
  /**
   * The write counter after this store's last acknowledged write (or as `load()` found it)
   * under {@link marker}: Redis must never hold less.
   */
  private writes = 0;
  /** True while a persist is in flight: each one expects the counter the previous one left. */
  private persisting = false;
  /** False after a reconnection: Redis may have restarted with another configuration. */
  private durableChecked = false;
  private durableCheck: Promise<void> | null = null;

  /** Creates the store; nothing connects before `load()`. Throws on a bad URL or id. */
  constructor(options: RedisAcceptorStoreOptions) {
    this.o = options;
    this.keys = acceptorKeys(options.cluster, options.acceptorId);
    this.limits = resolveLimits(options.limits);
    this.link = new RedisLink(options.url, options.commandTimeoutMs,
      `synod-acceptor-${options.acceptorId}`);
    this.link.redis.on('close', () => {
      this.durableChecked = false;
    });
  }

  /** The Redis URL without its password. */
  get where(): string {
    return this.link.where;
  }

  /**
   * Connects and loads the durable state. Rejects with NOT_DURABLE, AMNESIA, WRONG_KEYSPACE,
   * CORRUPT or UNAVAILABLE; see {@link StoreErrorCode}. Loaded again by the same store (an
   * acceptor that stopped voting and reloads), it rejects with LOST_WRITES when the marker is
   * the one it knew but the write counter is below its last acknowledged write; a new marker
   * (readmission) starts a new count.
   */
  async load(): Promise<AcceptorDurableState> {
    await this.link.connect();
    await this.ensureDurable();
    for (let attempt = 0; ; attempt++) {
      const k = this.keys;
      const [marker, promised, floor, writes] = await this.link.call(
        'MGET marker promised floor writes',
        (r) => r.mget(k.marker, k.promised, k.floor, k.writes));
      if (marker !== null && marker !== undefined) {
        this.checkMarker(marker);
        const count = this.parseWrites(writes ?? null);
        if (marker === this.marker && count < this.writes) {
          throw this.lostWrites(count, 'load', null);
        }
        const state = await this.readState(promised ?? null, floor ?? null);
        this.marker = marker;
        this.writes = count;
        return state;
      }
      await this.refuseUnlessFresh();
      const created = this.newMarker();
      // The counter is absent, which counts as 0: a marker and its count in one step.
      const ok = await this.link.call('SET marker NX',
        (r) => r.set(this.keys.marker, created, 'NX'));
      if (ok === 'OK') {
        this.marker = created;
        this.writes = 0;
        return { promised: null, accepted: [] };
      }
      // Someone created the marker between our read and our write; read it again, once.
      if (attempt > 0) throw new Error('marker appeared and vanished while loading');
    }
  }

  /**
   * Makes `p` durable with one atomic script call. Rejects with AMNESIA (marker gone or
   * changed), LOST_WRITES (Redis lost acknowledged writes), REFUSED (would lower the promise,
   * or put an entry above it, or Redis holds a write this store never saw acknowledged),
   * NOT_DURABLE (Redis came back without AOF always), CORRUPT or UNAVAILABLE. A refusal of
   * the script writes nothing.
   */
  async persist(p: AcceptorPersist): Promise<void> {
    const marker = this.marker;
    if (marker === null) throw new Error('RedisAcceptorStore: load() must succeed before persist');
    if (this.persisting) throw new Error('RedisAcceptorStore: persists must not overlap');
    this.persisting = true;
    try {
      const expected = this.writes;
      const args = [marker, String(expected), ...this.promiseArgs(p.promised)];
      const c = p.compact;
      args.push(c === undefined ? '' : String(c.floor), String(c?.dropped.length ?? 0));
      if (c !== undefined) for (const s of c.dropped) args.push(String(s));
      for (const e of p.accepted) args.push(...this.entryArgs(e));
      if (!this.durableChecked) await this.ensureDurable();
      const k = this.keys;
      const keys = [k.marker, k.promised, k.accepted, k.floor, k.writes];
      const now = await this.link.call('persist',
        () => this.link.script(ACCEPTOR_PERSIST, keys, args),
        (e) => this.refusalError(e, expected));
      if (now !== expected + 1) {
        throw new Error(`persist script answered ${String(now)}, not ${expected + 1}`);
      }
      this.writes = expected + 1;
    } finally {
      this.persisting = false;
    }
  }

  /**
   * Checks, writing nothing, that the marker `load()` found is still there and that Redis holds
   * every write this store saw acknowledged: a Redis wiped, replaced, or restarted from a
   * truncated AOF under a running acceptor is then noticed before a vote needs it (an acceptor
   * that no accept reaches, under thrifty phase 2 or in an idle cluster, would otherwise notice
   * only at its next write). Rejects with AMNESIA (marker gone or changed), LOST_WRITES,
   * CORRUPT (the counter does not parse), UNAVAILABLE, or the error Redis gave (e.g. an ACL
   * refusal). A counter above the store's is no verdict: a persist may be in flight.
   */
  async verifyMarker(): Promise<void> {
    const marker = this.marker;
    if (marker === null) throw new Error('RedisAcceptorStore: load() must succeed before use');
    // Every write acknowledged before the read is sent must show in what it reads.
    const acked = this.writes;
    const [now, writes] = await this.link.call('MGET marker writes',
      (r) => r.mget(this.keys.marker, this.keys.writes));
    if (now === marker) {
      const count = this.parseWrites(writes ?? null);
      if (count < acked) throw this.lostWrites(count, 'check', null, acked);
      return;
    }
    const id = this.o.acceptorId;
    throw new StoreError(StoreErrorCode.Amnesia, now === null || now === undefined
      ? `acceptor ${id}'s marker vanished from Redis at ${this.where} while it was running ` +
        '(FLUSHALL, wiped or replaced Redis). It will not vote until re-admitted: see ' +
        READMIT_DOC
      : `acceptor ${id}'s marker at ${this.where} changed while it was running (Redis was ` +
        `re-initialised). It will not vote until re-admitted: see ${READMIT_DOC}`);
  }

  /** Closes the connection; anything still queued for Redis is dropped. */
  async close(): Promise<void> {
    await this.link.close();
  }

  private promiseArgs(b: Ballot | null): string[] {
    if (b === null) return ['0', '', '', '', ''];
    return ['1', encodeBallot(b, this.limits), String(b.round), b.proposer,
      String(b.incarnation)];
  }

  private entryArgs(e: AcceptedEntry): string[] {
    const b = e.ballot;
    return [String(e.slot), encodeEntry(e, this.limits), String(b.round), b.proposer,
      String(b.incarnation)];
  }

  private ensureDurable(): Promise<void> {
    if (this.o.allowNonDurable === true) {
      this.durableChecked = true;
      return Promise.resolve();
    }
    this.durableCheck ??= this.link.checkDurable().then(
      () => {
        this.durableCheck = null;
        this.durableChecked = true;
      },
      (e: unknown) => {
        this.durableCheck = null;
        throw e;
      },
    );
    return this.durableCheck;
  }

  private checkMarker(raw: string): void {
    const m = parseMarker(raw, { key: this.keys.marker });
    if (m.cluster !== this.o.cluster || m.acceptor !== this.o.acceptorId) {
      throw new StoreError(StoreErrorCode.WrongKeyspace,
        `${this.keys.marker} at ${this.where} belongs to acceptor ${m.acceptor} of cluster ` +
        `${m.cluster}, not to acceptor ${this.o.acceptorId} of cluster ${this.o.cluster}: ` +
        'wrong Redis, database or keys copied from another acceptor; refusing to vote');
    }
  }

  /**
   * Resolves only when nothing of this acceptor is stored, `init` was given, and this store has
   * never held a marker (init holds for the first load of a process, not after an outage).
   */
  private async refuseUnlessFresh(): Promise<void> {
    const id = this.o.acceptorId;
    const stray = await this.findAnyKey();
    if (stray !== null) {
      throw new StoreError(StoreErrorCode.Amnesia,
        `acceptor ${id}'s Redis at ${this.where} has ${stray} but no marker: part of its ` +
        'state was lost (partial wipe, or restored from an old backup). It will not vote ' +
        `until re-admitted: see ${READMIT_DOC}`);
    }
    if (this.marker !== null) {
      // `init` is for the very first start: once this store has held a marker, a Redis found
      // empty later (wiped during an outage, then back) lost the acceptor's memory.
      throw new StoreError(StoreErrorCode.Amnesia,
        `acceptor ${id}'s Redis at ${this.where} has no state and no marker, though this ` +
        'process loaded its marker before: its memory was lost (wiped or replaced Redis). It ' +
        `will not vote until re-admitted: see ${READMIT_DOC}`);
    }
    if (this.o.init !== true) {
      throw new StoreError(StoreErrorCode.Amnesia,
        `acceptor ${id}'s Redis at ${this.where} has no state and no marker: it may have lost ` +
        'its memory (wiped or replaced Redis). It will not vote until re-admitted: see ' +
        `${READMIT_DOC} (a brand-new acceptor is started once with init)`);
    }
  }

  /** Any key under this acceptor's prefix (SCAN, so a shared Redis is not blocked), or null. */
  private async findAnyKey(): Promise<string | null> {
    let cursor = '0';
    do {
      const [next, found] = await this.link.call('SCAN',
        (r) => r.scan(cursor, 'MATCH', `${this.keys.prefix}*`, 'COUNT', SCAN_COUNT));
      if (found.length > 0) return found[0] as string;
      cursor = next;
    } while (cursor !== '0');
    return null;
  }

  /** The write counter as stored (absent: 0); CORRUPT unless a safe non-negative integer. */
  private parseWrites(raw: string | null): number {
    const n = raw === null ? 0 : /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n)) {
      throw new StoreError(StoreErrorCode.Corrupt,
        `corrupt state at key ${this.keys.writes}: not a write count: ${raw?.slice(0, 50)}`);
    }
    return n;
  }

  /**
   * LOST_WRITES: Redis has counter `count`, below `acked`, the count after this store's last
   * acknowledged write. `when` says which operation found it.
   */
  private lostWrites(count: number, when: 'load' | 'check' | 'persist', cause: unknown,
    acked: number = this.writes): StoreError {
    const nothing = when === 'persist' ? '; nothing was written' : '';
    return new StoreError(StoreErrorCode.LostWrites,
      `acceptor ${this.o.acceptorId}'s Redis at ${this.where} has write counter ${count} but ` +
      `this acceptor's last acknowledged write was ${acked}: ${acked - count} acknowledged ` +
      'write(s) were lost (Redis restarted from a truncated or damaged AOF, or an older copy ' +
      `of its data)${nothing}. Its votes can no longer be trusted: it will not vote until ` +
      `re-admitted (delete its keys, then readmit): see ${LOST_WRITES_DOC}`,
      cause ?? undefined);
  }

  private newMarker(): string {
    return encodeMarker({
      cluster: this.o.cluster,
      acceptor: this.o.acceptorId,
      createdAt: this.o.createdAt ?? new Date().toISOString(),
      version: MARKER_VERSION,
    });
  }

  private async readState(
    promisedRaw: string | null,
    floorRaw: string | null,
  ): Promise<AcceptorDurableState> {
    const promised = promisedRaw === null
      ? null : parseBallot(promisedRaw, { key: this.keys.promised }, this.limits);
    const floor = floorRaw === null ? 0 : Number(floorRaw);
    if (!Number.isSafeInteger(floor) || floor < 0) {
      throw new StoreError(StoreErrorCode.Corrupt,
        `corrupt state at key ${this.keys.floor}: not a slot number: ${floorRaw}`);
    }
    const bySlot = new Map<number, AcceptedEntry>();
    let cursor = '0';
    do {
      const [next, flat] = await this.link.call('HSCAN accepted',
        (r) => r.hscan(this.keys.accepted, cursor, 'COUNT', SCAN_COUNT));
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const field = flat[i] as string;
        const at = { key: this.keys.accepted, field };
        const e = parseEntry(field, flat[i + 1] as string, at, this.limits);
        if (compareMaybeBallots(e.ballot, promised) > 0) {
          throw new StoreError(StoreErrorCode.Corrupt,
            `corrupt state at key ${this.keys.accepted} field ${field}: accepted ballot ` +
            `${describeBallot(e.ballot)} is above the promise ${describeBallot(promised)}`);
        }
        if (e.slot >= floor) bySlot.set(e.slot, e);
      }
      cursor = next;
    } while (cursor !== '0');
    const accepted = [...bySlot.values()].sort((a, b) => a.slot - b.slot);
    return floor > 0 ? { promised, accepted, floor } : { promised, accepted };
  }

  /** The StoreError for a refusal of the persist script, or null for any other error. */
  private refusalError(e: unknown, expected: number): StoreError | null {
    const r = scriptRefusal(e);
    if (r === null) return null;
    const id = this.o.acceptorId;
    switch (r.why) {
      case 'AMNESIA':
        return new StoreError(StoreErrorCode.Amnesia,
          `acceptor ${id}'s marker vanished from Redis at ${this.where} while it was running ` +
          '(FLUSHALL, wiped or replaced Redis); nothing was written. It will not vote until ' +
          `re-admitted: see ${READMIT_DOC}`, e);
      case 'MARKER':
        return new StoreError(StoreErrorCode.Amnesia,
          `acceptor ${id}'s marker at ${this.where} changed while it was running (Redis was ` +
          `re-initialised: ${r.detail}); nothing was written. See ${READMIT_DOC}`, e);
      case 'BEHIND':
        return this.lostWrites(Number(r.detail), 'persist', e, expected);
      case 'AHEAD':
        return new StoreError(StoreErrorCode.Refused,
          `acceptor ${id}'s Redis at ${this.where} has write counter ${r.detail}, above the ` +
          `${expected} of its last acknowledged write: it holds a write this store never saw ` +
          'acknowledged (a copy of an earlier call that ran late, or another process writing ' +
          'as this acceptor); nothing was written. Load the state again before voting', e);
      case 'CORRUPT':
        return new StoreError(StoreErrorCode.Corrupt,
          `corrupt record: ${r.detail}; nothing was written`, e);
      case 'LOWER':
      case 'ABOVE':
        return new StoreError(StoreErrorCode.Refused,
          `acceptor ${id}'s persist script refused the write (${r.detail}); nothing was written`,
          e);
      default:
        return null;
    }
  }
}
