import { parseBenchArgs } from '../src/args.js';
import { Histogram } from '../src/histogram.js';
import { machineBusyS, sampleProc } from '../src/procstat.js';
import { chartSvg, comparisonTable, resultsTable } from '../src/report.js';
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

  it('draws one p50 and one p99 line per system', () => {
    const svg = chartSvg(results, 'a <title>');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(4);
    expect(svg).toContain('a &lt;title&gt;');
    expect(svg).not.toContain('NaN');
  });
});
