/**
 * Properties against dumb oracles (fast-check, 10,000 runs each, fixed seed; a failure prints
 * the seed and path: replay with FC_SEED=<seed> FC_PATH=<path>). Each property is paired with
 * a planted bug that it must catch, or it proves nothing.
 */
import * as fc from 'fast-check';
import {
  type AcceptedEntry,
  type AcceptorConfig,
  AcceptorCore,
  type Ballot,
  ballotEquals,
  compareBallots,
  compareMaybeBallots,
  describeBallot,
  effectiveQuorum,
  faultTolerance,
  isQuorum,
  type Message,
  NOOP,
  PlantedBug,
  ProposerCore,
  quorumSize,
  Sfc32,
  Tally,
  type Value,
  valueEquals,
} from '../src/index.js';
import {
  ACCEPTORS3,
  ACCEPTORS5,
  bal,
  chosenMsg,
  cmd,
  cmds,
  drain,
  FakeStore,
  fcParams,
  must,
  mustEqual,
  ofType,
  only,
  promise,
  raiseSeen,
  request,
  val,
} from './helpers.js';

describe('property: quorum math', () => {
  test('quorumSize(n) = floor(n/2) + 1; isQuorum(k, n) iff 2k > n; faultTolerance = n - q', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 100_000 }), fc.nat(), (n, k0) => {
      const k = k0 % (n + 1);
      must(quorumSize(n) === Math.floor(n / 2) + 1, () => 'quorumSize');
      must(isQuorum(k, n) === 2 * k > n, () => 'isQuorum');
      must(faultTolerance(n) === n - quorumSize(n), () => 'faultTolerance');
      must(effectiveQuorum(n, undefined) === quorumSize(n), () => 'effectiveQuorum');
    }), fcParams());
  });

  const quorumPair = (q: (n: number) => number): fc.Arbitrary<[string[], string[]]> =>
    fc.integer({ min: 1, max: 40 }).chain((n) => {
      const ids = Array.from({ length: n }, (_, i) => `a${i}`);
      const quorum = fc.shuffledSubarray(ids, { minLength: q(n) });
      return fc.tuple(quorum, quorum);
    });

  test('any two quorums of n acceptors intersect', () => {
    fc.assert(fc.property(quorumPair(quorumSize), ([s, t]) => s.some((x) => t.includes(x))),
      fcParams());
  });

  test('planted minority-quorum: the intersection property catches it', () => {
    const bad = (n: number): number => effectiveQuorum(n, PlantedBug.MinorityQuorum);
    const r = fc.check(fc.property(quorumPair(bad), ([s, t]) => s.some((x) => t.includes(x))),
      fcParams());
    expect(r.failed).toBe(true);
  });

  test('brute force for n <= 9: quorumSize is the least size whose sets pairwise intersect, ' +
    'and every two quorums intersect', () => {
    const popcount = (x: number): number => (x === 0 ? 0 : (x & 1) + popcount(x >>> 1));
    for (let n = 1; n <= 9; n++) {
      const all = Array.from({ length: 1 << n }, (_, m) => m);
      const pairwise = (k: number): boolean => {
        const sets = all.filter((m) => popcount(m) === k);
        return sets.every((s) => sets.every((t) => (s & t) !== 0));
      };
      let least = 1;
      while (!pairwise(least)) least++;
      expect(quorumSize(n)).toBe(least);
      const quorums = all.filter((m) => isQuorum(popcount(m), n));
      expect(quorums.every((s) => quorums.every((t) => (s & t) !== 0))).toBe(true);
      // Losing faultTolerance(n) acceptors still leaves a quorum; losing one more does not.
      expect(isQuorum(n - faultTolerance(n), n)).toBe(true);
      expect(isQuorum(n - faultTolerance(n) - 1, n)).toBe(false);
    }
  });
});

describe('property: Tally decides only with a same-ballot majority', () => {
  interface Vote { readonly slot: number; readonly ballot: Ballot; readonly from: string }
  type Op = Vote | { readonly forget: number };
  const valueOf = (slot: number, b: Ballot): Value => val(`${slot}@${describeBallot(b)}`);
  const opArb = (n: number): fc.Arbitrary<Op> => fc.oneof(
    { weight: 12, arbitrary: fc.record({
      slot: fc.integer({ min: 0, max: 2 }),
      ballot: fc.record({
        round: fc.integer({ min: 0, max: 2 }), proposer: fc.constantFrom('p1', 'p2'),
        incarnation: fc.constant(0),
      }),
      from: fc.integer({ min: 0, max: n - 1 }).map((i) => `a${i}`),
    }) },
    { weight: 1, arbitrary: fc.record({ forget: fc.integer({ min: 0, max: 2 }) }) },
  );
  const scenario = fc.integer({ min: 1, max: 7 })
    .chain((n) => fc.tuple(fc.constant(n), fc.array(opArb(n), { maxLength: 40, size: 'max' })));

  const property = (across: boolean): fc.IProperty<[[number, Op[]]]> =>
    fc.property(scenario, ([n, ops]) => {
      const q = quorumSize(n);
      const tally = new Tally(q, across);
      const oracle = new Map<string, Set<string>>();
      for (const op of ops) {
        if ('forget' in op) {
          tally.forget(op.forget);
          for (const k of [...oracle.keys()]) if (k.startsWith(`${op.forget}/`)) oracle.delete(k);
          continue;
        }
        const key = `${op.slot}/${describeBallot(op.ballot)}`;
        const voters = oracle.get(key) ?? new Set<string>();
        oracle.set(key, voters);
        const fresh = !voters.has(op.from);
        voters.add(op.from);
        const want = fresh && voters.size === q ? valueOf(op.slot, op.ballot) : null;
        const got = tally.add(op.slot, op.ballot, valueOf(op.slot, op.ballot), op.from);
        mustEqual(got, want, `add ${JSON.stringify(op)}`);
      }
    });

  test('add() returns the value exactly when one ballot first reaches a quorum', () => {
    fc.assert(property(false), fcParams());
  });

  test('planted across-ballots: the oracle comparison catches it', () => {
    expect(fc.check(property(true), fcParams()).failed).toBe(true);
  });
});

type AccAct =
  | { readonly k: 'prepare'; readonly ballot: Ballot; readonly fromSlot: number }
  | { readonly k: 'accept'; readonly ballot: Ballot; readonly slot: number }
  | { readonly k: 'catchup'; readonly fromSlot: number; readonly toSlot: number }
  | { readonly k: 'restart' };

describe('property: the acceptor never promises or accepts below its promise', () => {
  // Plain objects (fc.record may build null-prototype ones), so deep equality is exact.
  const smallBallot = fc.record({
    round: fc.integer({ min: 0, max: 5 }), proposer: fc.constantFrom('p1', 'p2', 'p3'),
    incarnation: fc.integer({ min: 0, max: 1 }),
  }).map((x) => bal(x.round, x.proposer, x.incarnation));
  const slot = fc.integer({ min: 0, max: 4 });
  const actArb: fc.Arbitrary<AccAct> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ k: fc.constant('prepare' as const), ballot: smallBallot,
      fromSlot: slot }) },
    { weight: 5, arbitrary: fc.record({ k: fc.constant('accept' as const), ballot: smallBallot,
      slot }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('catchup' as const), fromSlot: slot,
      toSlot: slot }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('restart' as const) }) },
  );
  // A proposer sends one value per (ballot, slot): the value is a function of both.
  const valueOf = (b: Ballot, s: number): Value => val(`${describeBallot(b)}@${s}`);

  function toMessage(act: AccAct): Message | null {
    switch (act.k) {
      case 'prepare': return { type: 'prepare', from: act.ballot.proposer, ballot: act.ballot,
        fromSlot: act.fromSlot };
      case 'accept': return { type: 'accept', from: act.ballot.proposer, ballot: act.ballot,
        slot: act.slot, value: valueOf(act.ballot, act.slot) };
      case 'catchup': return { type: 'catchup', from: 'l1', fromSlot: act.fromSlot,
        toSlot: act.toSlot };
      case 'restart': return null;
    }
  }

  /** Checks one step; returns the acceptor to continue with (a restart makes a new one). */
  function stepAndCheck(
    a: AcceptorCore, store: FakeStore, act: AccAct, config: AcceptorConfig,
  ): AcceptorCore {
    const m = toMessage(act);
    if (m === null) return new AcceptorCore(config, store.state());
    const before = a.promised;
    const entriesBefore = a.acceptedEntries();
    a.step(m);
    const r = drain(a);
    store.apply(r.persist);
    const was = describeBallot(before);
    // promised never decreases; every accepted entry is at or below the promise.
    must(compareMaybeBallots(a.promised, before) >= 0,
      () => `promise went down: ${was} -> ${describeBallot(a.promised)}`);
    for (const e of a.acceptedEntries()) {
      must(compareMaybeBallots(e.ballot, a.promised) <= 0,
        () => `slot ${e.slot} accepted ${describeBallot(e.ballot)} above the promise`);
    }
    // No promise below the promised ballot; no vote below it either.
    for (const p of ofType(r.messages, 'promise')) {
      must(compareMaybeBallots(p.ballot, before) >= 0,
        () => `promised ${describeBallot(p.ballot)} below ${was}`);
      mustEqual(p.accepted, entriesBefore.filter((e) => e.slot >= p.fromSlot), 'promise report');
    }
    for (const v of ofType(r.messages, 'accepted')) {
      must(v.to !== undefined || compareMaybeBallots(v.ballot, before) >= 0,
        () => `accepted ${describeBallot(v.ballot)} below the promise ${was}`);
    }
    if (m.type === 'accept' || m.type === 'prepare') {
      const below = compareMaybeBallots(m.ballot, before) < 0;
      must(r.messages.length === 1, () => `one reply, got ${r.messages.length}`);
      must((r.messages[0]?.type === 'nack') === below, () => `nack iff below ${was}`);
      if (m.type === 'accept' && !below) {
        mustEqual(a.acceptedAt(m.slot), { slot: m.slot, ballot: m.ballot, value: m.value },
          'accepted entry');
      }
    }
    // What the Ready asked to persist is exactly what a restart needs.
    const reborn = new AcceptorCore(config, store.state());
    mustEqual(reborn.promised, a.promised, 'durable promise');
    mustEqual(reborn.acceptedEntries(), a.acceptedEntries(), 'durable entries');
    return a;
  }

  const property = (bug: PlantedBug | undefined): fc.IProperty<[AccAct[]]> =>
    fc.property(fc.array(actArb, { maxLength: 40, size: 'max' }), (acts) => {
      const config: AcceptorConfig = bug === undefined
        ? { id: 'a1' }
        : { id: 'a1', plantedBug: bug };
      const store = new FakeStore();
      let a = new AcceptorCore(config);
      for (const act of acts) a = stepAndCheck(a, store, act, config);
    });

  test('under arbitrary prepare/accept sequences (with restarts from durable state)', () => {
    fc.assert(property(undefined), fcParams());
  });

  test('planted accept-below-promise: the property catches it', () => {
    expect(fc.check(property(PlantedBug.AcceptBelowPromise), fcParams()).failed).toBe(true);
  });
});

interface AdoptCase {
  readonly n: number;
  readonly seen: number;
  readonly decided: readonly number[];
  readonly entries: readonly (readonly { slot: number; round: number; proposer: string }[])[];
  readonly order: readonly number[];
  readonly ownCommand: boolean;
}

describe('property: the proposer adopts the highest-ballot accepted value per slot (P2c)', () => {
  const caseArb: fc.Arbitrary<AdoptCase> = fc.constantFrom(3, 5).chain((n) => fc.record({
    n: fc.constant(n),
    seen: fc.integer({ min: 0, max: 6 }),
    decided: fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { maxLength: 4 }),
    entries: fc.array(fc.array(fc.record({
      slot: fc.integer({ min: 0, max: 7 }), round: fc.integer({ min: 0, max: 6 }),
      proposer: fc.constantFrom('x', 'y', 'z'),
    }), { maxLength: 6 }), { minLength: n, maxLength: n }),
    // Index n is an unknown acceptor; repeats are duplicate promises.
    order: fc.array(fc.integer({ min: 0, max: n }), { maxLength: 2 * n + 2 }),
    ownCommand: fc.boolean(),
  }));
  const valueOf = (slot: number, b: Ballot): Value => val(`${slot}@${describeBallot(b)}`);

  /** The entries acceptor i reports: one per slot, rounds kept below the proposer's. */
  function reported(c: AdoptCase, i: number): AcceptedEntry[] {
    const bySlot = new Map<number, AcceptedEntry>();
    for (const e of c.entries[i] ?? []) {
      const b = bal(Math.min(e.round, c.seen), e.proposer);
      if (!bySlot.has(e.slot)) {
        bySlot.set(e.slot, { slot: e.slot, ballot: b, value: valueOf(e.slot, b) });
      }
    }
    return [...bySlot.values()];
  }

  const property = (bug: PlantedBug | undefined): fc.IProperty<[AdoptCase]> =>
    fc.property(caseArb, (c) => {
      const ids = c.n === 3 ? ACCEPTORS3 : ACCEPTORS5;
      const p = new ProposerCore({
        id: 'p1', acceptors: ids, rng: new Sfc32(c.n),
        ...(bug === undefined ? {} : { plantedBug: bug }),
      });
      raiseSeen(p, bal(c.seen, 'zz'));
      for (const s of c.decided) p.step(chosenMsg('pd', bal(0, 'pd'), s, val(`decided${s}`)));
      const own = cmd('client', 1);
      if (c.ownCommand) p.step(request('client', own));
      drain(p);
      p.campaign();
      const prep = only(drain(p).messages, 'prepare');
      must(compareBallots(prep.ballot, bal(c.seen, 'zz')) > 0, () => 'campaign below seen');
      const counted: number[] = [];
      const out: Message[] = [];
      for (const i of c.order) {
        const from = i < c.n ? (ids[i] as string) : 'stranger';
        p.step(promise(from, 'p1', prep.ballot, i < c.n ? reported(c, i) : [], prep.fromSlot));
        if (i < c.n && !counted.includes(i) && counted.length < quorumSize(c.n)) counted.push(i);
        out.push(...drain(p).messages);
      }
      if (counted.length < quorumSize(c.n)) {
        must(p.role === 'candidate', () => `${p.role} without a quorum of promises`);
        must(ofType(out, 'accept').length === 0, () => 'accepts without a quorum');
        return;
      }
      // The oracle: the first quorum's reports, highest ballot per slot, gaps are no-ops.
      const decided = new Set(c.decided);
      const best = new Map<number, AcceptedEntry>();
      for (const i of counted) {
        for (const e of reported(c, i)) {
          if (e.slot < prep.fromSlot) continue;
          const prev = best.get(e.slot);
          if (prev === undefined || compareBallots(e.ballot, prev.ballot) > 0) best.set(e.slot, e);
        }
      }
      const maxSlot = Math.max(-1, ...c.decided, ...best.keys());
      const want: [number, Value][] = [];
      for (let s = prep.fromSlot; s <= maxSlot; s++) {
        if (!decided.has(s)) want.push([s, best.get(s)?.value ?? NOOP]);
      }
      if (c.ownCommand) want.push([Math.max(prep.fromSlot, maxSlot + 1), cmds(own)]);
      const got = ofType(out, 'accept');
      must(got.every((m) => ballotEquals(m.ballot, prep.ballot)), () => 'accept ballot');
      mustEqual(got.map((m): [number, Value] => [m.slot, m.value]), want, 'accepts');
      must(p.role === 'leader', () => p.role);
    });

  test('from an arbitrary set of promises, the accepts it sends as leader match the oracle',
    () => {
      fc.assert(property(undefined), fcParams());
    });

  test('planted ignore-highest-accepted: the property catches it', () => {
    expect(fc.check(property(PlantedBug.IgnoreHighestAccepted), fcParams()).failed).toBe(true);
  });

  test('planted invent-value: the property catches it', () => {
    expect(fc.check(property(PlantedBug.InventValue), fcParams()).failed).toBe(true);
  });

  test('values compare structurally', () => {
    expect(valueEquals(val('a'), val('a'))).toBe(true);
    expect(valueEquals(val('a'), NOOP)).toBe(false);
  });
});
