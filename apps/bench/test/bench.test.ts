import { parseBenchArgs } from '../src/args.js';
import { Histogram } from '../src/histogram.js';
import { machineBusyS, sampleProc } from '../src/procstat.js';
import {
  chartSvg, comparisonTable, judgeTargets, resultsTable, targetsTable,
} from '../src/report.js';
import type { LevelResult } from '../src/runner.js';

describe('Histogram', () => {
  it('quantiles are within 1% of the exact ones, and merge like one histogram', () => {
    const a = new Histogram();
    const b = new Histogram();
    const all: number[] = [];
    for (let i = 1; i <= 10_000; i++) {
      const ms = (i % 997) * 0.013 + 0.05;
      all.push(ms);
      (i % 2 === 0 ? a : b).record(ms);
    }
    a.merge(b.toData());
    all.sort((x, y) => x - y);
    for (const q of [0.5, 0.99, 0.999]) {
      const exact = all[Math.ceil(q * all.length) - 1] as number;
      expect(Math.abs(a.quantile(q) - exact) / exact).toBeLessThan(0.011);
    }
    expect(a.count).toBe(10_000);
    expect(a.quantiles().maxMs).toBeCloseTo(all[all.length - 1] as number);
  });

  it('an empty histogram answers zeros', () => {
    expect(new Histogram().quantiles()).toMatchObject({ count: 0, p50Ms: 0, p999Ms: 0 });
  });
});

describe('parseBenchArgs', () => {
  it('has the documented defaults', () => {
    const o = parseBenchArgs([]);
    expect(o.concurrency).toEqual([1, 8, 64]);
    expect(o).toMatchObject({ durationS: 10, warmupS: 3, valueSize: 128, substrate: false,
      clientBatching: true });
    expect(parseBenchArgs(['--client-batching', 'off']).clientBatching).toBe(false);
    expect(parseBenchArgs([]).noFsync).toBe(false);
    expect(parseBenchArgs(['--no-fsync']).noFsync).toBe(true);
  });

  it('--smoke is short by default, and explicit options still win', () => {
    expect(parseBenchArgs(['--smoke'])).toMatchObject({
      smoke: true, concurrency: [4], durationS: 3, warmupS: 1 });
    expect(parseBenchArgs(['--smoke', '--duration', '5', '--concurrency', '2']))
      .toMatchObject({ concurrency: [2], durationS: 5, warmupS: 1 });
  });

  it('reads lists, repeated options and K=V pairs', () => {
    const o = parseBenchArgs(['--concurrency', '2,16', '--vs', 'etcd', '--substrate',
      '--env', 'SYNOD_MAX_BATCH=64', '--profile', 'acceptor', '--profile', 'loadgen']);
    expect(o.concurrency).toEqual([2, 16]);
    expect(o.vs).toEqual(['etcd']);
    expect(o.env).toEqual({ SYNOD_MAX_BATCH: '64' });
    expect(o.profile).toEqual(['acceptor', 'loadgen']);
  });

  it('--latency means one client', () => {
    expect(parseBenchArgs(['--latency', '--concurrency', '64']).concurrency).toEqual([1]);
  });

  it('refuses what it does not know, naming the option', () => {
    expect(() => parseBenchArgs(['--vs', 'zookeeper'])).toThrow(/--vs/);
    expect(() => parseBenchArgs(['--concurrency', '0'])).toThrow(/--concurrency/);
    expect(() => parseBenchArgs(['--env', 'nonsense'])).toThrow(/--env/);
    expect(() => parseBenchArgs(['--client-batching', 'yes'])).toThrow(/--client-batching/);
    expect(() => parseBenchArgs(['--profile', 'nats'])).toThrow(/--profile/);
    // Non-durable figures are never put beside durable ones.
    expect(() => parseBenchArgs(['--no-fsync', '--vs', 'etcd'])).toThrow(/--no-fsync/);
    expect(() => parseBenchArgs(['--no-fsync', '--substrate'])).toThrow(/--no-fsync/);
    expect(() => parseBenchArgs(['--frobnicate'])).toThrow();
  });
});

describe('procstat', () => {
  it('reads this process from /proc', () => {
    const s = sampleProc(process.pid);
    expect(s).not.toBeNull();
    expect(s?.rssMiB).toBeGreaterThan(1);
    expect(s?.peakRssMiB).toBeGreaterThanOrEqual(s?.rssMiB ?? 0);
    expect(machineBusyS()).toBeGreaterThan(0);
  });

  it('a process that is gone reads as null', () => {
    expect(sampleProc(2 ** 22 + 12345)).toBeNull();
  });
});

function level(system: string, concurrency: number, valuesPerS: number, p50Ms: number):
  LevelResult {
  return {
    system, concurrency, valueSize: 128, windowS: 10, values: valuesPerS * 10,
    decisions: valuesPerS * 5, valuesPerS, decisionsPerS: valuesPerS / 2, valuesPerDecision: 2,
    latency: { count: 10, meanMs: p50Ms, p50Ms, p90Ms: p50Ms * 2, p99Ms: p50Ms * 3,
      p999Ms: p50Ms * 4, maxMs: p50Ms * 5 },
    errors: {}, cpuByRole: { acceptor: 1, loadgen: 0.5 }, processes: [], foreignCpuS: 0,
    cpuUsPerValue: 100, notes: {},
  };
}

describe('report', () => {
  const results = [level('synod', 1, 500, 1), level('synod', 64, 9000, 7),
    level('etcd', 1, 700, 1.3), level('etcd', 64, 3000, 20)];

  it('puts Synod beside etcd with the ratios', () => {
    const t = comparisonTable(results) ?? '';
    expect(t).toContain('v/s ×etcd');
    expect(t).toMatch(/3\.00×/);
    expect(resultsTable(results).split('\n')).toHaveLength(5);
  });

  it('no comparison without a second system', () => {
    expect(comparisonTable(results.filter((r) => r.system === 'synod'))).toBeNull();
  });

  it('judges the targets of issue 5 from the run, and says what a run did not measure', () => {
    const peak = (id: string, role: string, mib: number, spanS = 13): {
      system: string; id: string; role: string; peakRssMiB: number; spanS: number;
    } => ({ system: 'synod', id, role, peakRssMiB: mib, spanS });
    const withSub = [...results, level('substrate', 1, 1000, 0.8),
      level('substrate', 64, 12000, 2)];
    const v = judgeTargets(withSub, [peak('a1', 'acceptor', 150), peak('p1', 'proposer', 170),
      peak('redis-a1', 'redis', 400)]);
    expect(v.map((x) => [x.target, x.verdict, x.measured])).toEqual([
      ['1 client: p50 <= 0.8x etcd', 'met', '1.00 vs 1.30 ms: 0.77x'],
      ['64 clients: values/s >= 5x etcd', 'not met', '9,000 vs 3,000: 3.00x'],
      ['>= 70% of the substrate, any concurrency', 'not met', '50% at 1, 75% at 64'],
      // 170 MiB is 178 MB; Redis is not a Synod service; a short run says it is short.
      ['peak RSS of each service < 200 MB', 'met',
        'highest 178 MB (p1, proposer) (a 13 s run; the target is for 10 minutes: ' +
        '--duration 600 --concurrency 64)'],
    ]);
    expect(judgeTargets(withSub, [peak('l1', 'learner', 200, 600)])[3]).toEqual({
      target: 'peak RSS of each service < 200 MB', verdict: 'not met',
      measured: 'highest 210 MB (l1, learner)' });
    // Synod alone: nothing to compare with.
    const alone = judgeTargets(results.filter((r) => r.system === 'synod'), []);
    expect(alone.map((x) => x.verdict)).toEqual(Array(4).fill('not measured'));
    expect(alone[0]?.measured).toBe('needs --vs etcd and 1 client');
    expect(targetsTable(v).split('\n')[0]).toMatch(/^target \(issue 5\) +verdict +measured/);
  });

  it('draws one p50 and one p99 line per system', () => {
    const svg = chartSvg(results, 'a <title>');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(4);
    expect(svg).toContain('a &lt;title&gt;');
    expect(svg).not.toContain('NaN');
  });
});
