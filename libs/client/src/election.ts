import { EventEmitter } from 'node:events';
import {
  type ElectionCommand,
  type ElectionEvent,
  type ElectionOutcome,
  encodeElectionCommand,
  type Lease,
  MAX_TTL_MS,
  MIN_TTL_MS,
  NAME_PATTERN,
} from '@synod/election';
import type { ProposeOptions } from './client.js';
import type { ElectionView } from './election-view.js';
import {
  type LeaseLostReason,
  SynodAbortedError,
  SynodError,
  SynodLeaseLostError,
  SynodOutcomeUnknownError,
  SynodProtocolError,
  SynodStaleSeqError,
} from './errors.js';
import type { Proposed } from './propose.js';
import { anySignal, backoffMs, sleep } from './time.js';

/** Lease of {@link SynodClient.elect} when none is given, in milliseconds. */
export const DEFAULT_TTL_MS = 5000;

/** Options of {@link SynodClient.elect}. */
export interface ElectOptions {
  /** Lease length in milliseconds of log time, 10..86 400 000; default 5000. */
  readonly ttlMs?: number;
  /**
   * Stops campaigning (elect rejects with {@link SynodAbortedError}); once elected, aborting
   * it resigns.
   */
  readonly signal?: AbortSignal;
  /** Renew this often, in milliseconds; default a third of (ttl - margin). */
  readonly renewEveryMs?: number;
  /**
   * Safety margin in milliseconds: leadership ends this long before the lease would expire,
   * counted on this process's monotonic clock from the send time of the last confirmed
   * renewal. It must cover the clock assumption of docs/election.md; default a fifth of the
   * ttl, or 50 when that is more (but at most a quarter of the ttl).
   */
  readonly marginMs?: number;
  /**
   * Called whenever a campaign's proposal failed and is retried (no proposer answered, the
   * outcome is unknown, ...): `elect` itself only ends by election or by the signal, so this
   * is how a caller can say why it is still waiting.
   */
  readonly onRetry?: (e: SynodError) => void;
}

/** Options of {@link SynodClient.observe}. */
export interface ObserveOptions {
  /** Ends the iteration. */
  readonly signal?: AbortSignal;
  /** Also yield renewals (same holder, later expiry); default false. */
  readonly renewals?: boolean;
}

/** A change of a group's holder as the log says it, yielded by {@link SynodClient.observe}. */
export interface HolderChange {
  readonly group: string;
  /** The candidate holding the lease, or null when nobody does. */
  readonly holder: string | null;
  /** The fencing token of the holder's term, or null. */
  readonly token: number | null;
  /** Log time (ms) at which the holder's lease ends unless renewed, or null. */
  readonly expiresAt: number | null;
  /** The slot where the change happened (for `current`, the last slot applied, or -1). */
  readonly slot: number;
  /** Log time at that slot: the highest leader stamp at or below it. */
  readonly logTime: number;
  /**
   * `current`: the state when the observation started; then `granted`, `renewed` (with
   * `renewals`), `released` (the holder resigned) or `expired`.
   */
  readonly reason: 'current' | ElectionEvent['kind'];
}

/** What {@link Leadership} emits on `renewed`. */
export interface Renewal {
  readonly token: number;
  /** Log time at which the renewed lease ends. */
  readonly expiresAt: number;
  /** How long this process may still act as leader without a further renewal, in ms. */
  readonly validForMs: number;
}

/** What the election functions need from the client. */
export interface ElectionHost {
  readonly clientId: string;
  readonly timeoutMs: number;
  /** Aborted when the client closes. */
  readonly closed: AbortSignal;
  propose(payload: string, opts: ProposeOptions): Promise<Proposed>;
  /** The client's shared election view (acquire/release it). */
  view(): ElectionView;
}

interface Timing {
  readonly ttlMs: number;
  readonly renewEveryMs: number;
  readonly marginMs: number;
}

/** A listener as EventEmitter takes it. */
type Listener = Parameters<EventEmitter['on']>[1];

const WALL0 = Date.now();
const MONO0 = performance.now();
let wallAhead = 0;

/**
 * The clock of lease deadlines, in milliseconds: monotonic, and never behind the wall clock's
 * progress since this module loaded. `performance.now()` alone does not advance while the
 * machine is suspended (CLOCK_MONOTONIC on Linux: a laptop's lid, a paused VM), so a holder
 * resumed after its lease ran out would still read `held`; the wall clock does advance. Taking
 * the larger elapsed time (a ratchet: it never goes back) can end leadership early when the
 * wall clock is stepped forward, never late.
 */
export function leaseClock(): number {
  const mono = performance.now() - MONO0;
  const behind = Date.now() - WALL0 - mono;
  if (behind > wallAhead) wallAhead = behind;
  return MONO0 + mono + wallAhead;
}

/** Shortest wait between two campaigns of one candidate, in milliseconds. */
const MIN_CAMPAIGN_WAIT_MS = 20;

/**
 * Campaigns until `candidate` holds `group`, then hands over a running {@link Leadership}.
 * See {@link SynodClient.elect}.
 */
export async function electLeader(host: ElectionHost, group: string, candidate: string,
  opts: ElectOptions = {}): Promise<Leadership> {
  checkName(group, 'group');
  checkName(candidate, 'candidate');
  const timing = checkTiming(opts);
  const signal = anySignal([opts.signal, host.closed]);
  const view = host.view();
  view.acquire();
  let handedOver = false;
  try {
    await view.ready(signal);
    const cmd: ElectionCommand = { op: 'campaign', group, candidate, ttlMs: timing.ttlMs };
    for (;;) {
      // The lease runs from the campaign's entry, whose stamp is no earlier than this moment
      // (the leader stamps it after it arrives): counting from here is on the safe side.
      const sentAt = leaseClock();
      const outcome = await decide(host, view, cmd, signal, opts.onRetry);
      switch (outcome.kind) {
        case 'granted': {
          if (leaseClock() >= sentAt + timing.ttlMs - timing.marginMs) {
            // Granted, but confirmed too late to act on (the cluster or this process was slow
            // for longer than the lease): this process may not lead on it. The term is handed
            // back, so that nobody waits for it to expire, and the campaign goes on.
            await decide(host, view, { op: 'resign', group, candidate,
              token: outcome.lease.token }, signal);
            continue;
          }
          const l = new Leadership(host, view, outcome.lease, sentAt, timing, opts.signal);
          handedOver = true;
          return l;
        }
        case 'refused':
          await waitForChance(view, group, outcome.lease, outcome.reason === 'busy', signal);
          continue;
        default:
          throw new SynodProtocolError(`campaign for ${group}: unexpected outcome ` +
            `${outcome.kind}`);
      }
    }
  } finally {
    if (!handedOver) view.release();
  }
}

/**
 * Waits until the current lease of `group` should have run out (in log time, so that this
 * process's clock does not matter), or until the log shows the group released or expired.
 */
async function waitForChance(view: ElectionView, group: string, lease: Lease | null,
  busy: boolean, signal: AbortSignal): Promise<void> {
  const left = lease === null || busy ? 0 : lease.expiresAt - view.machine.logTime;
  const cap = lease?.ttlMs ?? MIN_CAMPAIGN_WAIT_MS;
  const jitter = Math.random() * Math.min(100, cap / 10);
  const waitMs = Math.min(Math.max(left, MIN_CAMPAIGN_WAIT_MS), cap) + jitter;
  let wake: (() => void) | null = null;
  const changed = new Promise<void>((resolve) => {
    wake = resolve;
  });
  const unsubscribe = view.subscribe((a) => {
    if (a.events.some((e) => e.lease.group === group && e.kind !== 'renewed')) wake?.();
  });
  const stop = new AbortController();
  try {
    await Promise.race([sleep(waitMs, anySignal([signal, stop.signal])), changed]);
  } finally {
    stop.abort();
    unsubscribe();
  }
  if (signal.aborted) throw new SynodAbortedError('elect aborted', { cause: signal.reason });
}

/**
 * Gets `cmd` decided and returns what it did. A proposal whose outcome is unknown is retried
 * with the same seq (it can never be applied twice); nothing-proposed failures are retried
 * after a back-off. Only the signal ends it (SynodAbortedError).
 */
async function decide(host: ElectionHost, view: ElectionView, cmd: ElectionCommand,
  signal: AbortSignal, onRetry?: (e: SynodError) => void): Promise<ElectionOutcome> {
  const payload = encodeElectionCommand(cmd);
  let seq: number | undefined;
  let failures = 0;
  for (;;) {
    try {
      const p = await host.propose(payload, {
        signal, timeoutMs: host.timeoutMs, ...(seq === undefined ? {} : { seq }),
      });
      return await view.outcomeOf(p, p.slot, signal);
    } catch (e) {
      if (signal.aborted) throw new SynodAbortedError('aborted', { cause: signal.reason });
      if (e instanceof SynodAbortedError) throw e;
      if (e instanceof SynodOutcomeUnknownError) {
        seq = e.seq;
        onRetry?.(e);
        continue;
      }
      // A retry too old to send (the client went more than its seq window past it): its outcome
      // stays unknown, and the caller hears so rather than a retry loop that cannot succeed.
      if (!(e instanceof SynodError) || e instanceof SynodProtocolError ||
        e instanceof SynodStaleSeqError) throw e;
      onRetry?.(e);
      await sleep(backoffMs(++failures, 50, 1000), signal);
    }
  }
}

/**
 * This process holds the lease of a group: the result of {@link SynodClient.elect}. It renews
 * in the background and ends — `signal` aborts with a {@link SynodLeaseLostError}, `lost` is
 * emitted — the moment leadership can no longer be confirmed: no renewal confirmed by the
 * safety margin before the lease would expire (counted on the monotonic clock from the send
 * time of the last confirmed renewal), a renewal refused, or the log showing the term over.
 *
 * Send {@link token} with every write to the resources you protect, and have them refuse
 * tokens lower than the highest they have seen (see docs/election.md): the signal tells this
 * process to stop, the token stops it from doing harm if it could not hear in time (a long
 * pause between a check of {@link held} and the write).
 *
 * Events: `renewed` ({@link Renewal}), `lost` ({@link SynodLeaseLostError}).
 */
export class Leadership extends EventEmitter {
  readonly group: string;
  readonly candidate: string;
  /** The fencing token of this term: the slot of the entry that granted it. */
  readonly token: number;
  readonly ttlMs: number;
  private lease: Lease;
  private deadline: number;
  private lostError: SynodLeaseLostError | null = null;
  private readonly lostCtl = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  private readonly cleanups: (() => void)[] = [];
  private resigning: Promise<void> | null = null;

  /** @internal Built by {@link electLeader}. */
  constructor(
    private readonly host: ElectionHost,
    private readonly view: ElectionView,
    lease: Lease,
    sentAt: number,
    private readonly timing: Timing,
    electSignal: AbortSignal | undefined,
  ) {
    super();
    this.group = lease.group;
    this.candidate = lease.holder;
    this.token = lease.token;
    this.ttlMs = timing.ttlMs;
    this.lease = lease;
    this.deadline = sentAt + timing.ttlMs - timing.marginMs;
    this.cleanups.push(view.subscribe((a) => {
      for (const e of a.events) this.onLogEvent(e);
    }));
    this.onAbort(host.closed, () => this.lose('closed', 'the client was closed'));
    if (electSignal !== undefined) this.onAbort(electSignal, () => void this.resign());
    this.armTimer();
    void this.renewLoop();
    // The view may have applied later entries between the grant and this subscription (a
    // page read at once): a grant to someone else or the end of this term among them would
    // not reach onLogEvent. What the view holds now says so. (Last, so that losing here clears
    // the timer and listeners just set up, as any later loss does.)
    const now = view.lease(this.group);
    if (now === null || now.token !== this.token) {
      this.lose('superseded', now === null
        ? `the log already ended the term (the replica is at slot ${view.machine.nextSlot})`
        : `the log already granted ${this.group} to ${now.holder} (token ${now.token})`);
    }
  }

  /** Aborts (with the {@link SynodLeaseLostError}) when leadership ends. */
  get signal(): AbortSignal {
    return this.lostCtl.signal;
  }

  /**
   * True while this process may act as leader. It reads the monotonic clock, so check it right
   * before each protected action: a paused process may run other code before the timer that
   * aborts {@link signal} fires.
   */
  get held(): boolean {
    if (this.lostError !== null) return false;
    if (leaseClock() >= this.deadline) {
      this.lose('unconfirmed', 'no renewal was confirmed within the safety margin');
      return false;
    }
    return true;
  }

  /** Milliseconds this process may still act as leader without another renewal (0 if lost). */
  get validForMs(): number {
    return this.held ? Math.max(0, this.deadline - leaseClock()) : 0;
  }

  /** The term as the log last showed it (its expiry in log time). */
  get current(): Lease {
    return this.lease;
  }

  /** Why leadership ended, or null while held. */
  get lostReason(): SynodLeaseLostError | null {
    return this.lostError;
  }

  /**
   * Steps down: leadership ends at once (`lost` with reason `resigned`), then the release is
   * written to the log so that another candidate need not wait for the lease to expire.
   * Resolves when the release is decided (or could not be, within the client's timeout).
   * Calling it again returns the same promise; after a loss for another reason it does nothing.
   */
  resign(): Promise<void> {
    if (this.resigning !== null) return this.resigning;
    if (this.lostError !== null) return Promise.resolve();
    this.resigning = this.release();
    return this.resigning;
  }

  private async release(): Promise<void> {
    this.view.acquire();
    try {
      this.lose('resigned', 'resigned');
      const stop = anySignal([this.host.closed, AbortSignal.timeout(this.host.timeoutMs)]);
      const cmd: ElectionCommand = { op: 'resign', group: this.group, candidate: this.candidate,
        token: this.token };
      await decide(this.host, this.view, cmd, stop).catch(() => undefined);
    } finally {
      this.view.release();
    }
  }

  override on(event: 'renewed', f: (r: Renewal) => void): this;
  override on(event: 'lost', f: (e: SynodLeaseLostError) => void): this;
  override on(event: string | symbol, f: Listener): this {
    return super.on(event, f);
  }

  override once(event: 'renewed', f: (r: Renewal) => void): this;
  override once(event: 'lost', f: (e: SynodLeaseLostError) => void): this;
  override once(event: string | symbol, f: Listener): this {
    return super.once(event, f);
  }

  private async renewLoop(): Promise<void> {
    const cmd: ElectionCommand = { op: 'renew', group: this.group, candidate: this.candidate,
      token: this.token, ttlMs: this.timing.ttlMs };
    while (this.lostError === null) {
      if (!(await sleep(this.timing.renewEveryMs, this.signal))) return;
      const sentAt = leaseClock();
      let outcome: ElectionOutcome;
      try {
        outcome = await decide(this.host, this.view, cmd, this.signal);
      } catch (e) {
        if (this.lostError !== null) return;
        this.lose('unconfirmed', `renewal failed: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      if (outcome.kind === 'renewed') this.confirm(sentAt, outcome.lease);
      else {
        this.lose('refused', `renewal refused by the log: ${describeOutcome(outcome)}`);
      }
    }
  }

  private confirm(sentAt: number, lease: Lease): void {
    if (this.lostError !== null) return;
    const d = sentAt + this.timing.ttlMs - this.timing.marginMs;
    if (d > this.deadline) this.deadline = d;
    this.lease = lease;
    if (!this.held) return; // confirmed too late: the margin had already run out
    this.armTimer();
    this.emit('renewed', {
      token: this.token, expiresAt: lease.expiresAt, validForMs: this.deadline - leaseClock(),
    } satisfies Renewal);
  }

  private onLogEvent(e: ElectionEvent): void {
    if (e.lease.group !== this.group || this.lostError !== null) return;
    if (e.lease.token === this.token) {
      if (e.kind === 'renewed' || e.kind === 'granted') {
        this.lease = e.lease;
        return;
      }
      this.lose('superseded', `the log says the term ${e.kind} at log time ${e.at} (slot ` +
        `${e.slot})`);
      return;
    }
    if (e.kind === 'granted') {
      this.lose('superseded', `the log granted ${this.group} to ${e.lease.holder} (token ` +
        `${e.lease.token}) at slot ${e.slot}`);
    }
  }

  private armTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    const ms = Math.max(0, this.deadline - leaseClock());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.held; // reads the clock; ends leadership when the deadline has passed
      if (this.lostError === null) this.armTimer();
    }, ms + 1);
  }

  private lose(reason: LeaseLostReason, detail: string): void {
    if (this.lostError !== null) return;
    const err = new SynodLeaseLostError(this.group, this.token, reason,
      `lost the lease of ${this.group} (token ${this.token}): ${detail}`);
    this.lostError = err;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const f of this.cleanups.splice(0)) f();
    this.lostCtl.abort(err);
    this.view.release();
    if (reason === 'unconfirmed') {
      // The term may still be live in the log: release it, so that others need not wait.
      const payload = encodeElectionCommand({ op: 'resign', group: this.group,
        candidate: this.candidate, token: this.token });
      this.host.propose(payload, { timeoutMs: this.host.timeoutMs }).catch(() => undefined);
    }
    this.emit('lost', err);
  }

  private onAbort(signal: AbortSignal, f: () => void): void {
    if (signal.aborted) {
      queueMicrotask(f);
      return;
    }
    signal.addEventListener('abort', f, { once: true });
    this.cleanups.push(() => signal.removeEventListener('abort', f));
  }
}

/**
 * Streams the changes of `group`'s holder as the log shows them: first the current state,
 * then every grant, release and expiry (and renewal with `renewals`). See
 * {@link SynodClient.observe}.
 */
export function observeGroup(host: ElectionHost, group: string,
  opts: ObserveOptions = {}): AsyncIterable<HolderChange> {
  checkName(group, 'group');
  const signal = anySignal([opts.signal, host.closed]);
  return {
    [Symbol.asyncIterator]: () => observe(host.view(), group, signal, opts.renewals === true),
  };
}

async function* observe(view: ElectionView, group: string, signal: AbortSignal,
  renewals: boolean): AsyncGenerator<HolderChange, void, undefined> {
  view.acquire();
  const queue: HolderChange[] = [];
  let wake: (() => void) | null = null;
  const unsubscribe = view.subscribe((a) => {
    for (const e of a.events) {
      if (e.lease.group !== group || (e.kind === 'renewed' && !renewals)) continue;
      const gone = e.kind === 'released' || e.kind === 'expired';
      queue.push({
        group, holder: gone ? null : e.lease.holder, token: gone ? null : e.lease.token,
        expiresAt: gone ? null : e.lease.expiresAt, slot: e.slot, logTime: e.at, reason: e.kind,
      });
    }
    wake?.();
  });
  const onAbort = (): void => wake?.();
  signal.addEventListener('abort', onAbort);
  try {
    try {
      await view.ready(signal);
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    }
    const from = view.machine.nextSlot;
    const l = view.lease(group);
    yield {
      group, holder: l?.holder ?? null, token: l?.token ?? null, expiresAt: l?.expiresAt ?? null,
      slot: from - 1, logTime: view.machine.logTime, reason: 'current',
    };
    while (!signal.aborted) {
      const next = queue.shift();
      if (next !== undefined) {
        if (next.slot >= from) yield next;
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = null;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    unsubscribe();
    view.release();
  }
}

function describeOutcome(o: ElectionOutcome): string {
  switch (o.kind) {
    case 'refused':
      return `${o.reason}${o.lease === null ? '' : ` (holder ${o.lease.holder}, token ` +
        `${o.lease.token})`}`;
    case 'malformed':
      return `malformed: ${o.reason}`;
    default:
      return o.kind;
  }
}

function checkName(x: string, what: string): void {
  if (typeof x !== 'string' || !NAME_PATTERN.test(x)) {
    throw new RangeError(`${what} must be 1 to 128 characters of [A-Za-z0-9._:/-], got ` +
      JSON.stringify(x));
  }
}

function checkTiming(o: ElectOptions): Timing {
  const ttlMs = o.ttlMs ?? DEFAULT_TTL_MS;
  if (!Number.isSafeInteger(ttlMs) || ttlMs < MIN_TTL_MS || ttlMs > MAX_TTL_MS) {
    throw new RangeError(`ttlMs must be an integer in ${MIN_TTL_MS}..${MAX_TTL_MS}, got ${ttlMs}`);
  }
  const marginMs = o.marginMs ??
    Math.max(Math.round(ttlMs / 5), Math.min(50, Math.round(ttlMs / 4)));
  const renewEveryMs = o.renewEveryMs ?? Math.max(1, Math.round((ttlMs - marginMs) / 3));
  if (!(marginMs > 0 && marginMs < ttlMs)) {
    throw new RangeError(`marginMs must be in (0, ttlMs), got ${marginMs}`);
  }
  if (!(renewEveryMs > 0 && renewEveryMs < ttlMs - marginMs)) {
    throw new RangeError(`renewEveryMs must be in (0, ttlMs - marginMs), got ${renewEveryMs}`);
  }
  return { ttlMs, renewEveryMs, marginMs };
}
