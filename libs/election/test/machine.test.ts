/**
 * The election state machine: leases in log time, fencing tokens, and the rules of campaign,
 * renew and resign, each stated as a test; then properties over random logs.
 */
import fc from 'fast-check';
import { type Command, PlantedBug, type Value } from '@synod/protocol';
import {
  type Applied,
  type ElectionCommand,
  type ElectionEvent,
  ELECTION_PREFIX,
  ElectionMachine,
  type ElectionSnapshot,
  encodeElectionCommand,
  FencingGuard,
} from '../src/index.js';

let seq = 0;
/** A command of client `client` carrying the election command `e`. */
function cmd(client: string, e: ElectionCommand): Command {
  return { clientId: client, seq: ++seq, payload: encodeElectionCommand(e) };
}
const campaign = (client: string, group = 'g', ttlMs = 1000): Command =>
  cmd(client, { op: 'campaign', group, candidate: client, ttlMs });
const renew = (client: string, token: number, group = 'g', ttlMs = 1000): Command =>
  cmd(client, { op: 'renew', group, candidate: client, token, ttlMs });
const resign = (client: string, token: number, group = 'g'): Command =>
  cmd(client, { op: 'resign', group, candidate: client, token });
const at = (stamp: number, ...cs: Command[]): Value => ({ kind: 'cmds', cmds: cs, stamp });

/** Applies values in order from the machine's next slot; returns what each slot did. */
function run(m: ElectionMachine, ...values: Value[]): Applied[] {
  return values.map((v) => m.apply(m.nextSlot, v));
}

describe('ElectionMachine: leases and tokens', () => {
  test('a campaign on a free group is granted; the token is the granting slot', () => {
    const m = new ElectionMachine();
    const [, r] = run(m, { kind: 'noop' }, at(100, campaign('a')));
    expect(r?.results[0]?.outcome).toEqual({
      kind: 'granted',
      lease: { group: 'g', holder: 'a', owner: 'a', token: 1, grantedAt: 100, renewedAt: 100,
        expiresAt: 1100, ttlMs: 1000 },
    });
    expect(m.lease('g')?.holder).toBe('a');
  });

  test('a campaign while the lease is live is refused, even to the holder itself', () => {
    const m = new ElectionMachine();
    const [, r] = run(m, at(100, campaign('a')), at(500, campaign('b'), campaign('a')));
    expect(r?.results.map((x) => x.outcome.kind)).toEqual(['refused', 'refused']);
    expect(r?.results[0]?.outcome).toMatchObject({ reason: 'held', lease: { holder: 'a' } });
  });

  test('log time is the highest stamp so far: unstamped slots and lower stamps keep it', () => {
    const m = new ElectionMachine();
    const times = run(m, at(100, campaign('a')), { kind: 'noop' }, at(50, campaign('b')),
      { kind: 'cmds', cmds: [campaign('c')] }).map((r) => r.at);
    expect(times).toEqual([100, 100, 100, 100]);
    expect(m.lease('g')?.holder).toBe('a');
  });

  test('the lease expires at the first slot whose log time reaches grant + ttl, before that ' +
    "slot's commands: a campaign there is granted with a higher token", () => {
    const m = new ElectionMachine();
    const [, before, after] = run(m, at(100, campaign('a')), at(1099, campaign('b')),
      at(1100, campaign('b')));
    expect(before?.results[0]?.outcome.kind).toBe('refused');
    expect(after?.events.map((e) => [e.kind, e.lease.holder, e.lease.token])).toEqual([
      ['expired', 'a', 0], ['granted', 'b', 2],
    ]);
  });

  test('a renew by the holder extends the lease from its own log time', () => {
    const m = new ElectionMachine();
    const [, r] = run(m, at(100, campaign('a')), at(900, renew('a', 0, 'g', 2000)));
    expect(r?.results[0]?.outcome).toMatchObject({
      kind: 'renewed', lease: { token: 0, grantedAt: 100, renewedAt: 900, expiresAt: 2900 },
    });
    run(m, at(2000, campaign('b')));
    expect(m.lease('g')?.holder).toBe('a');
  });

  test('a renew after expiry, with another token, or from another client id is refused', () => {
    const m = new ElectionMachine();
    run(m, at(100, campaign('a')));
    const stale = run(m, at(200, renew('a', 7)))[0];
    const other = run(m, at(300, cmd('x', { op: 'renew', group: 'g', candidate: 'a', token: 0,
      ttlMs: 1000 })))[0];
    const late = run(m, at(1100, renew('a', 0)))[0];
    for (const r of [stale, other, late]) {
      expect(r?.results[0]?.outcome).toMatchObject({ kind: 'refused', reason: 'not-holder' });
    }
  });

  test('a resign ends the term at once; the next campaign is granted in a later slot', () => {
    const m = new ElectionMachine();
    const [, r, s] = run(m, at(100, campaign('a')), at(200, resign('a', 0)),
      at(201, campaign('b')));
    expect(r?.events.map((e) => e.kind)).toEqual(['released']);
    expect(s?.results[0]?.outcome).toMatchObject({ kind: 'granted', lease: { token: 2 } });
  });

  test('at most one grant per group per slot, so tokens strictly increase', () => {
    const m = new ElectionMachine();
    const [r] = run(m, at(100, campaign('a'), resign('a', 0), campaign('b'), campaign('c', 'h')));
    expect(r?.results.map((x) => x.outcome.kind)).toEqual([
      'granted', 'released', 'refused', 'granted',
    ]);
    expect(r?.results[2]?.outcome).toMatchObject({ reason: 'busy' });
  });

  test('the first copy of a (clientId, seq) takes effect; later copies are skipped', () => {
    const m = new ElectionMachine();
    const c = campaign('a');
    const [, r] = run(m, at(100, c), at(2000, c));
    expect(r?.results).toEqual([]);
    expect(m.stats.duplicates).toBe(1);
    expect(m.lease('g')).toBeNull(); // expired at 1100, and the copy did not campaign again
  });

  test('foreign payloads are left alone and malformed ones counted by reason', () => {
    const m = new ElectionMachine();
    const bad = { clientId: 'z', seq: 1, payload: '{"synod":"election","v":9}' };
    const [r] = run(m, at(1, { clientId: 'z', seq: 2, payload: 'SET x 1' }, bad));
    expect(r?.results).toEqual([{ clientId: 'z', seq: 1, command: null,
      outcome: { kind: 'malformed', reason: 'version' } }]);
    expect(m.stats).toMatchObject({ foreign: 1, malformed: { version: 1 }, commands: 0 });
  });

  test('slots are applied in order, without gaps (anything else is a programmer error)', () => {
    const m = new ElectionMachine();
    expect(() => m.apply(1, { kind: 'noop' })).toThrow(RangeError);
  });
});

describe('FencingGuard', () => {
  test('admits the same or a higher token, refuses a lower one', () => {
    const g = new FencingGuard();
    expect([5, 5, 9, 5, 9, 12].map((t) => g.admit(t))).toEqual([true, true, true, false, true,
      true]);
    expect(g.highestToken).toBe(12);
  });
});

// ---- properties over random logs ------------------------------------------------------------

const CLIENTS = ['a', 'b', 'c'];
const GROUPS = ['g', 'h'];

/** A random log: each slot a no-op or a batch of election (and foreign) commands. */
const logArb = fc.array(fc.oneof(
  { weight: 1, arbitrary: fc.constant<'noop'>('noop') },
  {
    weight: 6,
    arbitrary: fc.record({
      stamp: fc.option(fc.integer({ min: 0, max: 3000 }), { nil: undefined }),
      ops: fc.array(fc.record({
        client: fc.constantFrom(...CLIENTS), group: fc.constantFrom(...GROUPS),
        op: fc.constantFrom('campaign', 'renew', 'resign', 'foreign'),
        token: fc.nat({ max: 40 }), guess: fc.boolean(),
        ttlMs: fc.integer({ min: 10, max: 600 }), dup: fc.boolean(),
      }), { minLength: 1, maxLength: 4 }),
    }),
  },
), { maxLength: 40 });

/**
 * Builds the log's values. A `dup` op repeats the previous command of its client; a renew or
 * resign with `guess` names the slot of its client's last campaign in that group (the token it
 * would hold if that campaign was granted), else a random token.
 */
function buildLog(raw: readonly ('noop' | { stamp: number | undefined;
  ops: { client: string; group: string; op: string; token: number; guess: boolean;
    ttlMs: number; dup: boolean }[] })[]): Value[] {
  const last = new Map<string, Command>();
  const campaigned = new Map<string, number>();
  let n = 0;
  return raw.map((s, slot): Value => {
    if (s === 'noop') return { kind: 'noop' };
    const cmds = s.ops.map((o): Command => {
      const prev = last.get(o.client);
      if (o.dup && prev !== undefined) return prev;
      const base = { group: o.group, candidate: o.client };
      const key = `${o.client}/${o.group}`;
      if (o.op === 'campaign') campaigned.set(key, slot);
      const token = o.guess ? campaigned.get(key) ?? o.token : o.token;
      const payload = o.op === 'foreign' ? `SET ${o.group} ${n}`
        : encodeElectionCommand(o.op === 'campaign' ? { op: 'campaign', ...base, ttlMs: o.ttlMs }
          : o.op === 'renew' ? { op: 'renew', ...base, token, ttlMs: o.ttlMs }
            : { op: 'resign', ...base, token });
      const c = { clientId: o.client, seq: ++n, payload };
      last.set(o.client, c);
      return c;
    });
    return s.stamp === undefined ? { kind: 'cmds', cmds } : { kind: 'cmds', cmds, stamp: s.stamp };
  });
}

/**
 * The invariants, judged from the events alone with an independent view of each group's term:
 * returns the first broken one, or null.
 */
function broken(events: readonly ElectionEvent[], counts?: Map<string, number>): string | null {
  const terms = new Map<string, { token: number; expiresAt: number; open: boolean }>();
  for (const e of events) {
    counts?.set(e.kind, (counts.get(e.kind) ?? 0) + 1);
    const t = terms.get(e.lease.group);
    switch (e.kind) {
      case 'granted':
        if (t !== undefined && e.lease.token <= t.token) return `token ${e.lease.token} reused`;
        if (t?.open === true && e.at < t.expiresAt) return `grant at ${e.at} overlaps a lease`;
        terms.set(e.lease.group, { token: e.lease.token, expiresAt: e.lease.expiresAt,
          open: true });
        break;
      case 'renewed':
        if (t === undefined || !t.open || t.token !== e.lease.token) return 'renew of no term';
        if (e.at >= t.expiresAt) return `renew at ${e.at} after expiry ${t.expiresAt}`;
        t.expiresAt = e.lease.expiresAt;
        break;
      case 'released':
      case 'expired':
        if (t === undefined || !t.open) return `${e.kind} of no term`;
        if (e.kind === 'expired' && e.at < t.expiresAt) return 'expired early';
        t.open = false;
        break;
    }
  }
  return null;
}

function replay(values: readonly Value[], bug?: PlantedBug): { events: ElectionEvent[];
  machine: ElectionMachine } {
  const machine = new ElectionMachine(bug === undefined ? {} : { plantedBug: bug });
  const events = values.flatMap((v, slot) => machine.apply(slot, v).events);
  return { events, machine };
}

describe('ElectionMachine: properties over random logs', () => {
  test('two machines fed the same log compute the same outcomes, events and leases', () => {
    fc.assert(fc.property(logArb, (raw) => {
      const log = buildLog(raw);
      const a = new ElectionMachine();
      const b = new ElectionMachine();
      for (let s = 0; s < log.length; s++) {
        expect(b.apply(s, log[s] as Value)).toEqual(a.apply(s, log[s] as Value));
      }
      expect(b.allLeases()).toEqual(a.allLeases());
    }), { numRuns: 1000 });
  });

  test('tokens strictly increase, terms never overlap, no renewal outlives its lease', () => {
    const counts = new Map<string, number>();
    fc.assert(fc.property(logArb, (raw) => {
      expect(broken(replay(buildLog(raw)).events, counts)).toBeNull();
    }), { numRuns: 3000 });
    // The random logs exercise every transition, many times.
    for (const kind of ['granted', 'renewed', 'released', 'expired']) {
      expect(counts.get(kind) ?? 0).toBeGreaterThan(100);
    }
  });

  test('the same judge catches both planted bugs on some random log', () => {
    for (const bug of [PlantedBug.ElectionGrantWhileHeld, PlantedBug.ElectionRenewAfterExpiry]) {
      const found = fc.check(fc.property(logArb, (raw) =>
        broken(replay(buildLog(raw), bug).events) === null), { numRuns: 3000, seed: 42 });
      expect(found.failed).toBe(true);
    }
  });
});

describe('ElectionMachine snapshots', () => {
  /** The log with a malformed election payload added to every fifth slot with commands. */
  const withMalformed = (log: Value[]): Value[] => log.map((v, i) => (v.kind === 'cmds' &&
    i % 5 === 0 ? { ...v, cmds: [...v.cmds, { clientId: 'm', seq: 1000 + i,
      payload: `${ELECTION_PREFIX}{not json` }] } : v));

  test('restored from a snapshot (through JSON) at any slot, a machine applies the rest of ' +
    'any log exactly as the original does', () => {
    fc.assert(fc.property(logArb, fc.nat(), (raw, cut0) => {
      const log = withMalformed(buildLog(raw));
      const cut = cut0 % (log.length + 1);
      const whole = new ElectionMachine();
      for (let s = 0; s < cut; s++) whole.apply(s, log[s] as Value);
      const snap = JSON.parse(JSON.stringify(whole.snapshot())) as ElectionSnapshot;
      const restored = ElectionMachine.restore(snap);
      expect(restored.snapshot()).toEqual(whole.snapshot());
      for (let s = cut; s < log.length; s++) {
        expect(restored.apply(s, log[s] as Value)).toEqual(whole.apply(s, log[s] as Value));
      }
      expect(restored.snapshot()).toEqual(whole.snapshot());
      expect(restored.allLeases()).toEqual(whole.allLeases());
    }), { numRuns: 2000, seed: 7 });
  });

  test('any JSON put anywhere in a snapshot: restore refuses it with a RangeError or builds a ' +
    'machine that round-trips and applies logs, never anything else', () => {
    // Every path into a snapshot: the value at it is replaced with arbitrary JSON.
    const paths = (x: unknown, at: (string | number)[] = []): (string | number)[][] => {
      if (typeof x !== 'object' || x === null) return [at];
      const keys = Array.isArray(x) ? x.map((_, i) => i) : Object.keys(x);
      return [at, ...keys.flatMap((k) => paths((x as Record<string | number, unknown>)[k],
        [...at, k]))];
    };
    let refused = 0;
    let built = 0;
    fc.assert(fc.property(logArb, fc.nat(), fc.jsonValue(), logArb, (raw, pick, junk, more) => {
      const m = new ElectionMachine();
      const log = buildLog(raw);
      log.forEach((v, s) => m.apply(s, v));
      const snap = JSON.parse(JSON.stringify(m.snapshot())) as Record<string, unknown>;
      const all = paths(snap).filter((p) => p.length > 0);
      const path = all[pick % all.length] as (string | number)[];
      let o = snap as Record<string | number, unknown>;
      for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
      o[path[path.length - 1] as string | number] = junk;
      let r: ElectionMachine;
      try {
        r = ElectionMachine.restore(snap as unknown as ElectionSnapshot);
      } catch (e) {
        expect(e).toBeInstanceOf(RangeError);
        refused++;
        return;
      }
      built++;
      expect(ElectionMachine.restore(r.snapshot()).snapshot()).toEqual(r.snapshot());
      const next = buildLog(more);
      for (const v of next) r.apply(r.nextSlot, v);
      expect(r.nextSlot).toBe(log.length + next.length);
    }), { numRuns: 3000, seed: 11 });
    // Both outcomes happen (a counter, a lease's holder or a seq can take another valid value).
    expect(refused).toBeGreaterThan(1000);
    expect(built).toBeGreaterThan(10);
  });

  test('a malformed, inconsistent or foreign-settings snapshot is refused, naming the problem',
    () => {
      const m = new ElectionMachine();
      run(m, at(100, campaign('a')), at(300, renew('a', 0), cmd('b', { op: 'campaign',
        group: 'h', candidate: 'b', ttlMs: 50 })), at(301, { clientId: 'x', seq: 1,
        payload: `${ELECTION_PREFIX}{` }));
      const good = m.snapshot();
      expect(good).toMatchObject({ v: 1, nextSlot: 3, logTime: 301,
        stats: { slots: 3, commands: 3, malformed: { json: 1 } } });
      expect(ElectionMachine.restore(good).lease('g')?.holder).toBe('a');
      const bad = (patch: Record<string, unknown>): () => ElectionMachine =>
        () => ElectionMachine.restore({ ...good, ...patch } as unknown as ElectionSnapshot);
      const lease = good.leases[0] as unknown as Record<string, unknown>;
      const leaseWith = (p: Record<string, unknown>): Record<string, unknown> =>
        ({ leases: [{ ...lease, ...p }] });
      expect(() => ElectionMachine.restore(null as unknown as ElectionSnapshot))
        .toThrow(/not an object/);
      expect(bad({ v: 2 })).toThrow(/version 2/);
      expect(bad({ nextSlot: -1 })).toThrow(/nextSlot/);
      expect(bad({ logTime: 'x' })).toThrow(/logTime/);
      expect(bad({ stats: null })).toThrow(/stats missing/);
      expect(bad({ stats: { ...good.stats, slots: 1.5 } })).toThrow(/stats.slots/);
      expect(bad({ stats: { ...good.stats, malformed: { nope: 1 } } })).toThrow(/unknown reason/);
      expect(bad({ leases: {} })).toThrow(/leases must be a list/);
      expect(bad(leaseWith({ group: 'bad group' }))).toThrow(/group is not a name/);
      expect(bad(leaseWith({ owner: '' }))).toThrow(/owner/);
      expect(bad(leaseWith({ ttlMs: 5 }))).toThrow(/ttlMs out of range/);
      expect(bad(leaseWith({ token: 3 }))).toThrow(/inconsistent/);
      expect(bad(leaseWith({ expiresAt: 1 }))).toThrow(/inconsistent/);
      expect(bad(leaseWith({ renewedAt: 400 }))).toThrow(/inconsistent/);
      expect(bad({ leases: [lease, lease] })).toThrow(/listed twice/);
      // Held but already over at the machine's log time: no machine is ever in that state.
      expect(bad(leaseWith({ renewedAt: 100, ttlMs: 200, expiresAt: 300 }))).toThrow(/inconsistent/);
      expect(bad({ v: { toString: 0 } })).toThrow(RangeError);
      expect(bad({ stats: { ...good.stats, slots: 4 } })).toThrow(/stats.slots differs/);
      expect(bad({ dedupe: null })).toThrow(/dedupe missing/);
      expect(bad({ dedupe: { ...good.dedupe, maxClients: 5 } })).toThrow(/deduplicator settings/);
      expect(() => ElectionMachine.restore(good, { dedupeWindow: 16 }))
        .toThrow(/deduplicator settings/);
      expect(bad({ dedupe: { ...good.dedupe, clients: [['a', -1]] } })).toThrow(/floor/);
    });
});
