import { type Limits, resolveLimits } from '@synod/codec';
import type { Decision, LearnerDurableState } from '@synod/protocol';
import type { LearnerStore } from '@synod/runtime';
import { RedisLink, type RedisStoreOptions } from './connection.js';
import { StoreError, StoreErrorCode } from './errors.js';
import { type LearnerKeys, learnerKeys } from './keys.js';
import { encodeDecision, parseDecision, parseSlotValue } from './records.js';
import { LEARNER_PERSIST, scriptRefusal } from './scripts.js';

/** Slots per HMGET in `read`, and fields per HSCAN page. */
const CHUNK = 1000;

/** How full a learner's Redis is: see {@link RedisLearnerStore.usage}. */
export interface LearnerStoreUsage {
  /** Redis's `used_memory`: every byte it holds, the log and Redis's own. */
  readonly usedBytes: number;
  /** Redis's `maxmemory`; 0 when it has no bound (then it grows until the machine is full). */
  readonly maxBytes: number;
  /** Slots in the stored log. */
  readonly slots: number;
}

/** Options of {@link RedisLearnerStore}. */
export interface RedisLearnerStoreOptions extends RedisStoreOptions {
  /** Cluster name (a token); part of every key. */
  readonly cluster: string;
  /** This learner's node id (a token); part of every key. */
  readonly learnerId: string;
  /** Limits a stored value must meet (the wire limits; default the codec's). */
  readonly limits?: Partial<Limits>;
}

/**
 * A learner's log of decisions in Redis (see {@link learnerKeys}). `persist` is one atomic
 * script: it stores the decisions, refuses to change a slot that already holds another value
 * (REFUSED), and moves the delivery point only forward. `load` checks durability like the
 * acceptor store (unless `allowNonDurable`) but has no amnesia guard: a learner that lost its
 * log starts again from slot 0 and learns the decisions again from acceptors and proposers.
 */
export class RedisLearnerStore implements LearnerStore {
  /** The key layout of this learner. */
  readonly keys: LearnerKeys;
  private readonly link: RedisLink;
  private readonly o: RedisLearnerStoreOptions;
  private readonly limits: Limits;

  /** Creates the store; nothing connects before the first call. Throws on a bad URL or id. */
  constructor(options: RedisLearnerStoreOptions) {
    this.o = options;
    this.keys = learnerKeys(options.cluster, options.learnerId);
    this.limits = resolveLimits(options.limits);
    this.link = new RedisLink(options.url, options.commandTimeoutMs,
      `synod-learner-${options.learnerId}`);
  }

  /** The Redis URL without its password. */
  get where(): string {
    return this.link.where;
  }

  /** The delivery point and every stored decision at or above it, in slot order. */
  async load(): Promise<LearnerDurableState> {
    await this.link.connect();
    if (this.o.allowNonDurable !== true) await this.link.checkDurable();
    const raw = await this.link.call('GET next', (r) => r.get(this.keys.next));
    const nextSlot = raw === null ? 0 : parseSlotValue(raw, { key: this.keys.next });
    const decisions = await this.scan((slot) => slot >= nextSlot);
    return { nextSlot, decisions };
  }

  /**
   * Stores `decisions` and raises the delivery point to `nextSlot` (never lowers it), in one
   * atomic script call. REFUSED when a slot already holds a different value.
   */
  async persist(decisions: readonly Decision[], nextSlot: number): Promise<void> {
    checkSlot(nextSlot, 'nextSlot');
    const args = [String(nextSlot)];
    for (const d of decisions) args.push(String(d.slot), encodeDecision(d, this.limits));
    await this.link.call('persist',
      () => this.link.script(LEARNER_PERSIST, [this.keys.log, this.keys.next], args),
      (e) => this.refusalError(e));
  }

  /** Stored decisions in `[fromSlot, toSlot]`, in slot order; missing slots are skipped. */
  async read(fromSlot: number, toSlot: number): Promise<Decision[]> {
    checkSlot(fromSlot, 'fromSlot');
    checkSlot(toSlot, 'toSlot');
    if (toSlot < fromSlot) return [];
    const span = toSlot - fromSlot + 1;
    if (span > CHUNK) {
      // A range much wider than the log (e.g. "everything from 0") is cheaper to scan.
      const size = await this.link.call('HLEN log', (r) => r.hlen(this.keys.log));
      if (span > 2 * size) return this.scan((s) => s >= fromSlot && s <= toSlot);
    }
    const out: Decision[] = [];
    for (let lo = fromSlot; lo <= toSlot; lo += CHUNK) {
      const fields: string[] = [];
      for (let s = lo; s <= Math.min(toSlot, lo + CHUNK - 1); s++) fields.push(String(s));
      const values = await this.link.call('HMGET log', (r) => r.hmget(this.keys.log, ...fields));
      for (let i = 0; i < fields.length; i++) {
        const v = values[i];
        if (v === null || v === undefined) continue;
        const field = fields[i] as string;
        out.push(parseDecision(field, v, { key: this.keys.log, field }, this.limits));
      }
    }
    return out;
  }

  /**
   * How much memory the learner's Redis uses and may use (`INFO memory`), and how many slots
   * its log holds (`HLEN`). The log is never trimmed (docs/operations.md#learner-storage), so a
   * learner watches this to warn before a bounded Redis refuses its writes. UNAVAILABLE when
   * Redis does not answer; CORRUPT when the INFO answer lacks the fields.
   */
  async usage(): Promise<LearnerStoreUsage> {
    const [info, slots] = await this.link.call('INFO memory', (r) =>
      Promise.all([r.info('memory'), r.hlen(this.keys.log)]));
    const field = (name: string): number => {
      const m = new RegExp(`^${name}:(\\d+)\\r?$`, 'm').exec(info);
      const n = m === null ? NaN : Number(m[1]);
      if (!Number.isSafeInteger(n)) {
        throw new StoreError(StoreErrorCode.Corrupt,
          `INFO memory of ${this.where} has no ${name} field: is it a Redis server?`);
      }
      return n;
    };
    return { usedBytes: field('used_memory'), maxBytes: field('maxmemory'), slots };
  }

  /** Closes the connection; anything still queued for Redis is dropped. */
  async close(): Promise<void> {
    await this.link.close();
  }

  /** Every stored decision whose slot passes `keep`, in slot order (HSCAN, deduplicated). */
  private async scan(keep: (slot: number) => boolean): Promise<Decision[]> {
    const bySlot = new Map<number, Decision>();
    let cursor = '0';
    do {
      const [next, flat] = await this.link.call('HSCAN log',
        (r) => r.hscan(this.keys.log, cursor, 'COUNT', CHUNK));
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const field = flat[i] as string;
        const at = { key: this.keys.log, field };
        const d = parseDecision(field, flat[i + 1] as string, at, this.limits);
        if (keep(d.slot)) bySlot.set(d.slot, d);
      }
      cursor = next;
    } while (cursor !== '0');
    return [...bySlot.values()].sort((a, b) => a.slot - b.slot);
  }

  /** The StoreError for a refusal of the persist script, or null for any other error. */
  private refusalError(e: unknown): StoreError | null {
    const r = scriptRefusal(e);
    if (r === null) return null;
    switch (r.why) {
      case 'CONFLICT':
        return new StoreError(StoreErrorCode.Refused,
          `learner ${this.o.learnerId} at ${this.where}: ${r.detail}, a different value than ` +
          'the one being stored; two decisions for one slot mean agreement was lost. ' +
          'Nothing was written', e);
      case 'CORRUPT':
        return new StoreError(StoreErrorCode.Corrupt,
          `corrupt record at key ${this.keys.next}: ${r.detail}; nothing was written`, e);
      default:
        return null;
    }
  }
}

/** A slot argument: a non-negative safe integer, else a programmer error. */
function checkSlot(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`${what} must be a non-negative safe integer: ${n}`);
  }
}
