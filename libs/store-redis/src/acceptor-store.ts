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
 * Errors are {@link StoreError}s.
 */
export class RedisAcceptorStore implements AcceptorStore {
  /** The key layout of this acceptor. */
  readonly keys: AcceptorKeys;
  private readonly link: RedisLink;
  private readonly o: RedisAcceptorStoreOptions;
  private readonly limits: Limits;
  /** The marker JSON that persist requires, set by `load()`. */
  private marker: string | null = null;
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
   * CORRUPT or UNAVAILABLE; see {@link StoreErrorCode}.
   */
  async load(): Promise<AcceptorDurableState> {
    await this.link.connect();
    await this.ensureDurable();
    for (let attempt = 0; ; attempt++) {
      const [marker, promised, floor] = await this.link.call('MGET marker promised floor',
        (r) => r.mget(this.keys.marker, this.keys.promised, this.keys.floor));
      if (marker !== null && marker !== undefined) {
        this.checkMarker(marker);
        const state = await this.readState(promised ?? null, floor ?? null);
        this.marker = marker;
        return state;
      }
      await this.refuseUnlessFresh();
      const created = this.newMarker();
      const ok = await this.link.call('SET marker NX',
        (r) => r.set(this.keys.marker, created, 'NX'));
      if (ok === 'OK') {
        this.marker = created;
        return { promised: null, accepted: [] };
      }
      // Someone created the marker between our read and our write; read it again, once.
      if (attempt > 0) throw new Error('marker appeared and vanished while loading');
    }
  }

  /**
   * Makes `p` durable with one atomic script call. Rejects with AMNESIA (marker gone or
   * changed; nothing written), REFUSED (would lower the promise, or put an entry above it),
   * NOT_DURABLE (Redis came back without AOF always), CORRUPT or UNAVAILABLE.
   */
  async persist(p: AcceptorPersist): Promise<void> {
    const marker = this.marker;
    if (marker === null) throw new Error('RedisAcceptorStore: load() must succeed before persist');
    const args = [marker, ...this.promiseArgs(p.promised)];
    const c = p.compact;
    args.push(c === undefined ? '' : String(c.floor), String(c?.dropped.length ?? 0));
    if (c !== undefined) for (const s of c.dropped) args.push(String(s));
    for (const e of p.accepted) args.push(...this.entryArgs(e));
    if (!this.durableChecked) await this.ensureDurable();
    const k = this.keys;
    await this.link.call('persist',
      () => this.link.script(ACCEPTOR_PERSIST, [k.marker, k.promised, k.accepted, k.floor], args),
      (e) => this.refusalError(e));
  }

  /**
   * Checks, writing nothing, that the marker `load()` found is still there: a Redis wiped or
   * replaced under a running acceptor is then noticed before a vote needs it (an acceptor that
   * no accept reaches, under thrifty phase 2 or in an idle cluster, would otherwise notice only
   * at its next write). Rejects with AMNESIA (marker gone or changed), UNAVAILABLE, or the
   * error Redis gave (e.g. an ACL refusal).
   */
  async verifyMarker(): Promise<void> {
    const marker = this.marker;
    if (marker === null) throw new Error('RedisAcceptorStore: load() must succeed before use');
    const now = await this.link.call('GET marker', (r) => r.get(this.keys.marker));
    if (now === marker) return;
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

  /** Resolves only when nothing of this acceptor is stored and `init` was given. */
  private async refuseUnlessFresh(): Promise<void> {
    const id = this.o.acceptorId;
    const stray = await this.findAnyKey();
    if (stray !== null) {
      throw new StoreError(StoreErrorCode.Amnesia,
        `acceptor ${id}'s Redis at ${this.where} has ${stray} but no marker: part of its ` +
        'state was lost (partial wipe, or restored from an old backup). It will not vote ' +
        `until re-admitted: see ${READMIT_DOC}`);
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
  private refusalError(e: unknown): StoreError | null {
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
      case 'CORRUPT':
        return new StoreError(StoreErrorCode.Corrupt,
          `corrupt record at key ${this.keys.promised}: ${r.detail}; nothing was written`, e);
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
