import { execFileSync, spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { checkFailure, emptyTotals, type Totals } from '../src/stats.js';

/**
 * The simulator gate's verdict (`npm run sim -- --check`), as a function and as the command
 * the test suite runs: it must fail when it should, not only pass.
 */
const totals = (o: Partial<Totals>): Totals => ({ ...emptyTotals(), ...o });
const clean = { seeds: 100, mutant: null, minLive: 99.9 };

describe('checkFailure', () => {
  test('a clean run of every seed asked for passes', () => {
    expect(checkFailure(clean, totals({ seeds: 100 }))).toBeNull();
  });

  test('each way a run can be wrong fails it, and says how', () => {
    expect(checkFailure(clean, totals({ seeds: 100, violatingSeeds: 1 })))
      .toBe('1 seeds violated safety');
    expect(checkFailure(clean, totals({ seeds: 100, unsendable: 3 })))
      .toBe('3 messages too large for the simulated wire');
    expect(checkFailure(clean, totals({ seeds: 100, notLiveSeeds: 1 })))
      .toMatch(/^liveness in 99\.000% of seeds < 99\.9%$/);
    expect(checkFailure(clean, totals({ seeds: 99 }))).toBe('ran 99 seeds of the 100 asked for');
    expect(checkFailure({ ...clean, seeds: 0 }, totals({ seeds: 0 })))
      .toMatch(/^liveness in 0\.000%/);
  });

  test('with a mutant, passing means caught', () => {
    const m = { ...clean, mutant: 'learner-across-ballots' };
    expect(checkFailure(m, totals({ seeds: 7, violatingSeeds: 1 }))).toBeNull();
    expect(checkFailure(m, totals({ seeds: 100 })))
      .toBe('mutant learner-across-ballots was not caught in 100 seeds');
  });
});

describe('npm run sim -- --check, the command', () => {
  const root = resolve(__dirname, '../../..');
  const main = join(root, 'dist/apps/sim/main.js');
  beforeAll(() => {
    execFileSync(process.execPath, [join(root, 'tools/build-apps.mjs'), 'sim'],
      { cwd: root, stdio: 'pipe' });
  }, 60_000);
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [main, '--workers', '1', '--json', ...args],
      { cwd: root, encoding: 'utf8', timeout: 120_000 });
    return { code: r.status, summary: JSON.parse(r.stdout) as Record<string, unknown>,
      stderr: r.stderr };
  };

  test.each([['--seeds', '2'], ['--from', '5']])('--seed 1 with %s is refused (exit 2), not ' +
    'silently ignored', (opt, value) => {
    const r = spawnSync(process.execPath, [main, '--seed', '1', opt, value],
      { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`sim: --seed S runs one seed and ${opt} belongs to a range: ` +
      'give --seed S alone, or --from S --seeds N for N seeds from S');
  });

  test('a clean range passes and counts every seed', () => {
    const r = run('--seeds', '40', '--check');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ seeds: 40, violations: 0, unsendable: 0 });
  }, 120_000);

  test('a planted bug is caught (exit 0 with --check); stopped before the seed that ' +
    'catches it, the same run fails (exit 1)', () => {
    const caught = run('--seeds', '2000', '--mutant', 'learner-across-ballots', '--check');
    expect(caught.code).toBe(0);
    expect(caught.summary['violations']).toBe(1);
    const n = caught.summary['seeds'] as number; // the run stops at the first seed that catches
    expect(n).toBeGreaterThan(1);
    const missed = run('--seeds', String(n - 1), '--mutant', 'learner-across-ballots', '--check');
    expect(missed.code).toBe(1);
    expect(missed.stderr)
      .toContain(`mutant learner-across-ballots was not caught in ${n - 1} seeds`);
  }, 120_000);
});
