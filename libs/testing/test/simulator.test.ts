import { PLANTED_BUGS, type PlantedBug } from '@synod/protocol';
import { MS_PER_TICK, runSeed, Simulation, type ViolationKind } from '../src/index.js';

/** The seed budget of CI (`npm run sim -- --seeds 20000 --check`). */
const CI_SEED_BUDGET = 20_000;

describe('simulator', () => {
  test('the same seed gives the same trace hash and the same outcome', () => {
    for (const seed of [1, 7, 4242]) {
      const a = runSeed(seed);
      const b = runSeed(seed);
      expect(b.traceHash).toBe(a.traceHash);
      expect(b).toEqual(a);
    }
  });

  test('different seeds give different traces', () => {
    const hashes = new Set([1, 2, 3, 4, 5, 6, 7, 8].map((s) => runSeed(s).traceHash));
    expect(hashes.size).toBe(8);
  });

  test('100 seeds of swarm faults: no safety violation, every seed live after healing', () => {
    const bad: string[] = [];
    let decisions = 0;
    for (let seed = 10_001; seed <= 10_100; seed++) {
      const r = runSeed(seed);
      decisions += r.decisions;
      if (r.violations.length > 0) bad.push(`seed ${seed}: ${r.violations[0]?.detail}`);
      if (!r.live) bad.push(`seed ${seed}: not live`);
    }
    expect(bad).toEqual([]);
    expect(decisions / 100).toBeGreaterThan(30);
  });
});

/** Which checker each planted bug must trip first (the checker that exists to catch it). */
const EXPECTED: Record<PlantedBug, ViolationKind> = {
  'reply-before-persist': 'durability',
  'accept-below-promise': 'promise-broken',
  'ignore-highest-accepted': 'agreement',
  'minority-quorum': 'integrity',
  'shared-ballot': 'ballot-reuse',
  'learner-across-ballots': 'integrity',
  'invent-value': 'validity',
  'ack-before-chosen': 'acknowledged-lost',
  'learner-noop-gap': 'prefix',
  'retry-without-request-id': 'duplicate-effect',
  'election-grant-while-held': 'election-fencing',
  'election-renew-after-expiry': 'election-lease',
  'learner-progress-ahead': 'compaction',
  'compact-ignoring-learners': 'compaction',
  'recover-from-one-report': 'integrity',
  'adopt-first-reported-vote': 'agreement',
  'promise-without-floor': 'integrity',
};

describe('election on the log, under the swarm', () => {
  test('150 seeds: leases are granted, renewed, released and expire, and every learner ' +
    'computes the same holders, with no fencing or lease violation', () => {
    const total = { grants: 0, renewals: 0, releases: 0, expiries: 0, commands: 0 };
    const bad: string[] = [];
    for (let seed = 20_001; seed <= 20_150; seed++) {
      const sim = new Simulation(seed);
      const r = sim.run();
      const v = r.violations.find((x) => x.kind.startsWith('election'));
      if (v !== undefined) bad.push(`seed ${seed}: ${v.detail}`);
      for (const k of Object.keys(total) as (keyof typeof total)[]) {
        total[k] += sim.election.tally[k];
      }
    }
    expect(bad).toEqual([]);
    // Coverage floors, well below what these seeds do (about 1,900 grants, 500 renewals, 75-85
    // releases and 1,650 expiries): every kind of election event happens many times.
    expect(total.grants).toBeGreaterThan(1000);
    expect(total.renewals).toBeGreaterThan(300);
    expect(total.releases).toBeGreaterThan(40);
    expect(total.expiries).toBeGreaterThan(1000);
  });

  test('proposers stamp batches with their simulated clocks: log time follows simulated time, ' +
    'within the clock skew', () => {
    const skew = 300;
    const sim = new Simulation(4242, { overrides: { clockSkewMs: skew } });
    const r = sim.run();
    for (const log of sim.learnerLogs()) {
      const stamps = log.flatMap((v) => (v.kind === 'cmds' && v.stamp !== undefined
        ? [v.stamp] : []));
      expect(stamps.length).toBeGreaterThan(10);
      const span = Math.max(...stamps) - Math.min(...stamps);
      expect(span).toBeGreaterThan(0);
      expect(span).toBeLessThanOrEqual(r.ticks * MS_PER_TICK + 2 * skew);
    }
  });
});

describe('planted bugs are caught within the CI seed budget', () => {
  const seen = new Set<ViolationKind>();
  for (const bug of PLANTED_BUGS) {
    test(`mutant ${bug} is caught by the ${EXPECTED[bug]} checker`, () => {
      let caughtAt = -1;
      for (let seed = 1; seed <= CI_SEED_BUDGET && caughtAt < 0; seed++) {
        const r = runSeed(seed, { plantedBug: bug });
        for (const v of r.violations) seen.add(v.kind);
        if (r.violations.some((v) => v.kind === EXPECTED[bug])) caughtAt = seed;
      }
      expect(caughtAt).toBeGreaterThan(0);
    });
  }

  test('every safety checker has caught at least one planted bug', () => {
    const checkers: ViolationKind[] = [
      'validity', 'agreement', 'ballot-reuse', 'promise-broken', 'durability', 'integrity',
      'duplicate-effect', 'acknowledged-lost', 'prefix', 'election-fencing', 'election-lease',
    ];
    expect(checkers.filter((k) => !seen.has(k))).toEqual([]);
  });
});
