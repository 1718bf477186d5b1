/**
 * Ballot properties against a dumb oracle (fast-check, 10,000 runs each, fixed seed; a failure
 * prints the seed and path: replay with FC_SEED=<seed> FC_PATH=<path>): the order is total and
 * agrees with the oracle, and ballots never collide across proposers or runs of one proposer.
 */
import * as fc from 'fast-check';
import {
  type Ballot,
  ballotEquals,
  compareBallots,
  compareMaybeBallots,
  describeBallot,
  maxBallot,
  PlantedBug,
  ProposerCore,
  Sfc32,
} from '../src/index.js';
import {
  ACCEPTORS3,
  bal,
  drain,
  fcParams,
  heartbeat,
  must,
  mustEqual,
  nack,
  ofType,
  promise,
  raiseSeen,
} from './helpers.js';

const sign = (x: number): number => (x > 0 ? 1 : x < 0 ? -1 : 0);

/** The dumb oracle: round, then proposer by UTF-16 code units, then incarnation. */
function oracleCompare(a: Ballot, b: Ballot): number {
  if (a.round !== b.round) return a.round < b.round ? -1 : 1;
  const n = Math.min(a.proposer.length, b.proposer.length);
  for (let i = 0; i < n; i++) {
    const x = a.proposer.charCodeAt(i);
    const y = b.proposer.charCodeAt(i);
    if (x !== y) return x < y ? -1 : 1;
  }
  if (a.proposer.length !== b.proposer.length) {
    return a.proposer.length < b.proposer.length ? -1 : 1;
  }
  if (a.incarnation !== b.incarnation) return a.incarnation < b.incarnation ? -1 : 1;
  return 0;
}

const proposerIdArb = fc.oneof(
  fc.constantFrom('p1', 'p2', 'p10', 'P1', 'a', 'B', '', 'é', '\uD83D\uDE00', '\uFFFF',
    'p1\u0000'),
  fc.string({ unit: 'binary', maxLength: 4 }),
);
const uintArb = (small: number): fc.Arbitrary<number> =>
  fc.oneof(fc.integer({ min: 0, max: small }), fc.maxSafeNat());
const ballotArb: fc.Arbitrary<Ballot> = fc.record({
  round: uintArb(3), proposer: proposerIdArb, incarnation: uintArb(2),
});

describe('property: ballot order', () => {
  test('compareBallots agrees with the oracle (round, proposer code units, incarnation)', () => {
    fc.assert(fc.property(ballotArb, ballotArb, (a, b) => {
      const want = oracleCompare(a, b);
      must(sign(compareBallots(a, b)) === want, () => `compare disagrees with oracle ${want}`);
      must(ballotEquals(a, b) === (want === 0), () => 'ballotEquals');
      must(compareMaybeBallots(null, a) < 0 && compareMaybeBallots(a, null) > 0, () => 'null');
      const max = maxBallot(a, b) as Ballot;
      must(oracleCompare(max, a) >= 0 && oracleCompare(max, b) >= 0, () => 'maxBallot');
    }), fcParams());
  });

  test('antisymmetric: compare(a, b) = -compare(b, a), and equal iff the same triple', () => {
    fc.assert(fc.property(ballotArb, ballotArb, (a, b) => {
      must(sign(compareBallots(a, b)) + sign(compareBallots(b, a)) === 0, () => 'antisymmetry');
      must(compareBallots(a, { ...a }) === 0, () => 'reflexivity');
      const same = a.round === b.round && a.proposer === b.proposer &&
        a.incarnation === b.incarnation;
      must((compareBallots(a, b) === 0) === same, () => 'equal iff the same triple');
    }), fcParams());
  });

  test('transitive: a <= b and b <= c imply a <= c (strictly when either is strict)', () => {
    // Draw from a small pool so that chains of related ballots are common.
    const small = fc.record({
      round: fc.integer({ min: 0, max: 2 }), proposer: fc.constantFrom('a', 'b', 'B', 'ab'),
      incarnation: fc.integer({ min: 0, max: 1 }),
    });
    fc.assert(fc.property(small, small, small, (a, b, c) => {
      const ab = compareBallots(a, b);
      const bc = compareBallots(b, c);
      if (ab <= 0 && bc <= 0) {
        const ac = compareBallots(a, c);
        must(ac <= 0, () => 'a <= b <= c but a > c');
        must(ab === 0 && bc === 0 ? true : ac < 0, () => 'a < b <= c but not a < c');
      }
    }), fcParams());
  });

  test('total: sorting with compareBallots gives the oracle order', () => {
    fc.assert(fc.property(fc.array(ballotArb, { maxLength: 12 }), (bs) => {
      const mine = [...bs].sort(compareBallots).map(describeBallot);
      const oracle = [...bs].sort(oracleCompare).map(describeBallot);
      mustEqual(mine, oracle, 'sorted order');
      for (const a of bs) {
        for (const b of bs) {
          const c = compareBallots(a, b);
          must((c < 0 ? 1 : 0) + (c === 0 ? 1 : 0) + (c > 0 ? 1 : 0) === 1, () => 'trichotomy');
        }
      }
    }), fcParams());
  });

  test('proposer ids compare by code units, not code points or locale', () => {
    expect(compareBallots(bal(1, '\uD83D\uDE00'), bal(1, '\uFFFF'))).toBeLessThan(0);
    expect(compareBallots(bal(1, 'B'), bal(1, 'a'))).toBeLessThan(0);
    expect(compareBallots(bal(1, 'p10'), bal(1, 'p2'))).toBeLessThan(0);
    expect(compareBallots(bal(1, 'z'), bal(2, 'a'))).toBeLessThan(0);
    expect(compareBallots(bal(1, 'p', 9), bal(1, 'q', 0))).toBeLessThan(0);
  });
});

type IssueAct =
  | { readonly k: 'campaign'; readonly who: number }
  | { readonly k: 'nack'; readonly who: number; readonly promised: Ballot }
  | { readonly k: 'heartbeat'; readonly who: number; readonly ballot: Ballot }
  | { readonly k: 'cross'; readonly who: number }
  | { readonly k: 'promises'; readonly who: number }
  | { readonly k: 'tick'; readonly who: number; readonly n: number };

/** Two proposers under arbitrary nacks, heartbeats and timeouts; the ballots each issued. */
function issuedBallots(ps: readonly ProposerCore[], acts: readonly IssueAct[]): Ballot[][] {
  const issued: Ballot[][] = ps.map(() => []);
  const collect = (i: number): void => {
    const p = ps[i] as ProposerCore;
    for (const m of ofType(drain(p).messages, 'prepare')) (issued[i] as Ballot[]).push(m.ballot);
  };
  for (const act of acts) {
    const p = ps[act.who] as ProposerCore;
    const other = ps[1 - act.who] as ProposerCore;
    switch (act.k) {
      case 'campaign': p.campaign(); break;
      case 'nack': p.step(nack('a1', p.id, p.ballot, act.promised, null)); break;
      case 'heartbeat': p.step(heartbeat('px', act.ballot)); break;
      case 'cross': p.step(heartbeat(other.id, other.ballot)); break;
      case 'promises':
        for (const a of ACCEPTORS3) p.step(promise(a, p.id, p.ballot, []));
        break;
      case 'tick': for (let t = 0; t < act.n; t++) p.tick(); break;
    }
    collect(act.who);
  }
  return issued;
}

describe('property: ballots are unique', () => {
  const seenBallot = fc.record({
    round: fc.integer({ min: 0, max: 2 ** 40 }), proposer: proposerIdArb,
    incarnation: uintArb(2),
  });
  const who = fc.integer({ min: 0, max: 1 });
  const actArb: fc.Arbitrary<IssueAct> = fc.oneof(
    fc.record({ k: fc.constant('campaign' as const), who }),
    fc.record({ k: fc.constant('nack' as const), who, promised: seenBallot }),
    fc.record({ k: fc.constant('heartbeat' as const), who, ballot: seenBallot }),
    fc.record({ k: fc.constant('cross' as const), who }),
    fc.record({ k: fc.constant('promises' as const), who }),
    fc.record({ k: fc.constant('tick' as const), who, n: fc.integer({ min: 1, max: 25 }) }),
  );
  // Two different proposers, or two runs (incarnations) of the same proposer.
  const pairArb = fc.oneof(
    fc.tuple(proposerIdArb, proposerIdArb, uintArb(2), uintArb(2)).filter(([a, b]) => a !== b),
    fc.tuple(proposerIdArb, uintArb(2), uintArb(2)).filter(([, i, j]) => i !== j)
      .map(([id, i, j]) => [id, id, i, j] as const),
  );

  type Pair = readonly [string, string, number, number];
  function check(bug: PlantedBug | undefined): fc.IProperty<[Pair, IssueAct[]]> {
    const acts = fc.array(actArb, { maxLength: 30, size: 'max' });
    return fc.property(pairArb, acts, ([idA, idB, incA, incB], acts) => {
      const mk = (id: string, incarnation: number, seed: number): ProposerCore => new ProposerCore({
        id, acceptors: ACCEPTORS3, rng: new Sfc32(seed), incarnation,
        ...(bug === undefined ? {} : { plantedBug: bug }),
      });
      const ps = [mk(idA, incA, 1), mk(idB, incB, 2)];
      const [a, b] = issuedBallots(ps, acts) as [Ballot[], Ballot[]];
      for (const [mine, p] of [[a, ps[0]], [b, ps[1]]] as const) {
        for (let i = 1; i < mine.length; i++) {
          // Resent prepares repeat a ballot; a new one is strictly higher.
          must(compareBallots(mine[i] as Ballot, mine[i - 1] as Ballot) >= 0,
            () => `ballots went down: ${mine.map(describeBallot).join(' ')}`);
        }
        if (bug === undefined) {
          for (const x of mine) must(x.proposer === p?.id, () => `owner ${x.proposer}`);
        }
      }
      for (const x of a) {
        for (const y of b) must(!ballotEquals(x, y), () => `collision ${describeBallot(x)}`);
      }
    });
  }

  test('ballots issued by two different proposers (or two runs of one) never collide', () => {
    fc.assert(check(undefined), fcParams());
  });

  test('planted shared-ballot: the uniqueness property catches it', () => {
    expect(fc.check(check(PlantedBug.SharedBallot), fcParams()).failed).toBe(true);
  });

  test('a proposer never reissues a ballot, even after seeing round 2^53 - 1', () => {
    const p = new ProposerCore({ id: 'p1', acceptors: ACCEPTORS3, rng: new Sfc32(1) });
    raiseSeen(p, bal(Number.MAX_SAFE_INTEGER, 'p9'));
    for (let i = 0; i < 2; i++) {
      p.campaign();
      const r = drain(p);
      // Rounds are exhausted: it refuses to campaign rather than reuse or overflow a ballot.
      expect(r.messages.filter((m) => m.type === 'prepare')).toEqual([]);
      expect(r.events).toContainEqual(expect.objectContaining({ reason: 'round-exhausted' }));
    }
    expect(Number.isSafeInteger(p.ballot.round)).toBe(true);
  });
});
