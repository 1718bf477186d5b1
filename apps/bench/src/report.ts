/** Turns level results into the printed tables and the SVG chart. */
import type { LevelResult } from './runner.js';

const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString('en-US', {
    minimumFractionDigits: digits, maximumFractionDigits: digits,
  }) : '-';
const ms = (n: number): string => (n >= 100 ? fmt(n, 0) : n >= 10 ? fmt(n, 1) : fmt(n, 2));

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

/** The main table: one row per system and concurrency. */
export function resultsTable(results: readonly LevelResult[]): string {
  const rows = results.map((r) => [
    r.system, String(r.concurrency), fmt(r.valuesPerS), fmt(r.decisionsPerS),
    fmt(r.valuesPerDecision, 1), ms(r.latency.p50Ms), ms(r.latency.p99Ms), ms(r.latency.p999Ms),
    fmt(r.cpuUsPerValue), fmt(r.cpuByRole['loadgen'] ?? 0, 1),
    String(Object.values(r.errors).reduce((a, b) => a + b, 0)),
    r.notes['acceptsPerPersist'] === undefined ? '' : String(r.notes['acceptsPerPersist']),
  ]);
  return table(['system', 'clients', 'values/s', 'decisions/s', 'v/dec', 'p50 ms', 'p99 ms',
    'p999 ms', 'cpu µs/value', 'loadgen cpu s', 'errors', 'accepts/persist'], rows);
}

/** CPU seconds per role for each level (the window's length is given for scale). */
export function cpuTable(results: readonly LevelResult[]): string {
  const roles = [...new Set(results.flatMap((r) => Object.keys(r.cpuByRole)))].sort();
  const rows = results.map((r) => [
    `${r.system} c=${r.concurrency}`, fmt(r.windowS, 1),
    ...roles.map((role) => (role in r.cpuByRole ? fmt(r.cpuByRole[role] ?? 0, 2) : '')),
    fmt(Object.values(r.cpuByRole).reduce((a, b) => a + b, 0), 2), fmt(r.foreignCpuS, 2),
  ]);
  return table(['cpu seconds', 'window s', ...roles, 'total', 'not bench'], rows);
}

/** Peak RSS per service of each system. */
export function rssTable(peaks: ReadonlyArray<{
  system: string; id: string; role: string; peakRssMiB: number; firstRssMiB: number;
  lastRssMiB: number; spanS: number;
}>): string {
  return table(['system', 'process', 'role', 'peak RSS MiB', 'first → last MiB', 'over s',
    'MiB/min'], peaks.map((p) => [
    p.system, p.id, p.role, fmt(p.peakRssMiB, 1),
    `${fmt(p.firstRssMiB, 0)} → ${fmt(p.lastRssMiB, 0)}`, fmt(p.spanS),
    p.spanS > 0 ? fmt(((p.lastRssMiB - p.firstRssMiB) * 60) / p.spanS, 1) : '-',
  ]));
}

/** Synod beside etcd and the substrate at each concurrency, with the ratios. */
export function comparisonTable(results: readonly LevelResult[]): string | null {
  const by = (sys: string, c: number): LevelResult | undefined =>
    results.find((r) => r.system === sys && r.concurrency === c);
  const levels = [...new Set(results.filter((r) => r.system === 'synod')
    .map((r) => r.concurrency))];
  const hasEtcd = results.some((r) => r.system === 'etcd');
  const hasSub = results.some((r) => r.system === 'substrate');
  if (!hasEtcd && !hasSub) return null;
  const rows = levels.map((c) => {
    const s = by('synod', c);
    const e = by('etcd', c);
    const p = by('substrate', c);
    const row = [String(c), fmt(s?.valuesPerS ?? NaN), ms(s?.latency.p50Ms ?? NaN)];
    if (hasEtcd) {
      row.push(fmt(e?.valuesPerS ?? NaN), ms(e?.latency.p50Ms ?? NaN),
        ratio(s?.valuesPerS, e?.valuesPerS), ratio(s?.latency.p50Ms, e?.latency.p50Ms));
    }
    if (hasSub) {
      row.push(fmt(p?.valuesPerS ?? NaN), ms(p?.latency.p50Ms ?? NaN),
        p === undefined || s === undefined ? '-' : `${fmt((100 * s.valuesPerS) / p.valuesPerS)}%`);
    }
    return row;
  });
  const head = ['clients', 'synod v/s', 'synod p50'];
  if (hasEtcd) head.push('etcd v/s', 'etcd p50', 'v/s ×etcd', 'p50 ×etcd');
  if (hasSub) head.push('substrate v/s', 'sub p50', 'synod share');
  return table(head, rows);
}

/** One of issue 5's targets, judged from one run. */
export interface TargetVerdict {
  readonly target: string;
  readonly measured: string;
  readonly verdict: 'met' | 'not met' | 'not measured';
}

/** Peak RSS of one process, as the bench reports it. */
interface PeakLike {
  readonly system: string;
  readonly id: string;
  readonly role: string;
  readonly peakRssMiB: number;
  readonly spanS: number;
}

/**
 * The targets of issue 5 (docs/performance.md), each judged from this run alone: the ratio to
 * etcd at 1 and 64 clients, Synod's share of the substrate at every concurrency it ran, and the
 * peak RSS of every Synod service (the target is for a 10-minute run; a shorter run says so).
 * A target the run has no figures for (no etcd, no 64-client level) is "not measured".
 */
export function judgeTargets(results: readonly LevelResult[], peaks: readonly PeakLike[]):
  TargetVerdict[] {
  const by = (sys: string, c: number): LevelResult | undefined =>
    results.find((r) => r.system === sys && r.concurrency === c);
  const out: TargetVerdict[] = [];
  const s1 = by('synod', 1);
  const e1 = by('etcd', 1);
  out.push(s1 === undefined || e1 === undefined || e1.latency.p50Ms === 0
    ? { target: '1 client: p50 <= 0.8x etcd', measured: 'needs --vs etcd and 1 client',
      verdict: 'not measured' }
    : verdict('1 client: p50 <= 0.8x etcd', s1.latency.p50Ms / e1.latency.p50Ms <= 0.8,
      `${ms(s1.latency.p50Ms)} vs ${ms(e1.latency.p50Ms)} ms: ` +
      `${fmt(s1.latency.p50Ms / e1.latency.p50Ms, 2)}x`));
  const s64 = by('synod', 64);
  const e64 = by('etcd', 64);
  out.push(s64 === undefined || e64 === undefined || e64.valuesPerS === 0
    ? { target: '64 clients: values/s >= 5x etcd', measured: 'needs --vs etcd and 64 clients',
      verdict: 'not measured' }
    : verdict('64 clients: values/s >= 5x etcd', s64.valuesPerS / e64.valuesPerS >= 5,
      `${fmt(s64.valuesPerS)} vs ${fmt(e64.valuesPerS)}: ` +
      `${fmt(s64.valuesPerS / e64.valuesPerS, 2)}x`));
  const shares = results.filter((r) => r.system === 'synod').flatMap((r) => {
    const p = by('substrate', r.concurrency);
    return p === undefined || p.valuesPerS === 0 ? []
      : [{ c: r.concurrency, share: r.valuesPerS / p.valuesPerS }];
  });
  out.push(shares.length === 0
    ? { target: '>= 70% of the substrate, any concurrency', measured: 'needs --substrate',
      verdict: 'not measured' }
    : verdict('>= 70% of the substrate, any concurrency', shares.every((x) => x.share >= 0.7),
      shares.map((x) => `${fmt(100 * x.share)}% at ${x.c}`).join(', ')));
  const services = peaks.filter((p) => p.system === 'synod' &&
    ['acceptor', 'proposer', 'learner'].includes(p.role));
  if (services.length === 0) {
    out.push({ target: 'peak RSS of each service < 200 MB', measured: 'no Synod services ran',
      verdict: 'not measured' });
  } else {
    const top = services.reduce((a, b) => (b.peakRssMiB > a.peakRssMiB ? b : a));
    const mb = (top.peakRssMiB * 1024 * 1024) / 1e6;
    const span = Math.min(...services.map((p) => p.spanS));
    const short = span < 600 ? ` (a ${fmt(span)} s run; the target is for 10 minutes: ` +
      '--duration 600 --concurrency 64)' : '';
    out.push(verdict('peak RSS of each service < 200 MB', mb < 200,
      `highest ${fmt(mb)} MB (${top.id}, ${top.role})${short}`));
  }
  return out;
}

function verdict(target: string, met: boolean, measured: string): TargetVerdict {
  return { target, measured, verdict: met ? 'met' : 'not met' };
}

/** {@link judgeTargets} as a printed table. */
export function targetsTable(verdicts: readonly TargetVerdict[]): string {
  return table(['target (issue 5)', 'verdict', 'measured in this run'],
    verdicts.map((v) => [v.target, v.verdict, v.measured]));
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b === 0) return '-';
  return `${fmt(a / b, 2)}×`;
}

const COLORS: Record<string, string> = { synod: '#1f77b4', etcd: '#d62728', substrate: '#7f7f7f' };

/**
 * Latency (log scale) against values/s, one line per system and quantile (p50 solid, p99
 * dashed), each point labelled with its client count.
 */
export function chartSvg(results: readonly LevelResult[], title: string): string {
  const W = 760;
  const H = 460;
  const m = { l: 70, r: 150, t: 40, b: 55 };
  const xs = results.map((r) => r.valuesPerS);
  const ys = results.flatMap((r) => [r.latency.p50Ms, r.latency.p99Ms]).filter((y) => y > 0);
  const xMax = niceCeil(Math.max(1, ...xs) * 1.05);
  const yMin = 10 ** Math.floor(Math.log10(Math.max(0.01, Math.min(...ys, 1))));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...ys, 1)));
  const px = (x: number): number => m.l + (x / xMax) * (W - m.l - m.r);
  const py = (y: number): number => {
    const f = (Math.log10(Math.max(y, yMin)) - Math.log10(yMin)) /
      (Math.log10(yMax) - Math.log10(yMin));
    return H - m.b - f * (H - m.t - m.b);
  };
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
      `font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const x = (xMax * i) / 5;
    out.push(`<line x1="${px(x)}" y1="${m.t}" x2="${px(x)}" y2="${H - m.b}" stroke="#eee"/>`,
      `<text x="${px(x)}" y="${H - m.b + 16}" text-anchor="middle">${fmt(x)}</text>`);
  }
  const ticks: number[] = [];
  for (let d = yMin; d <= yMax * 1.0001; d *= 10) {
    for (const k of [1, 2, 5]) if (d * k <= yMax * 1.0001) ticks.push(d * k);
  }
  for (const y of ticks) {
    out.push(`<line x1="${m.l}" y1="${py(y)}" x2="${W - m.r}" y2="${py(y)}" stroke="#eee"/>`,
      `<text x="${m.l - 6}" y="${py(y) + 4}" text-anchor="end">` +
      `${y < 1 ? y.toFixed(2) : fmt(y)}</text>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" ` +
      'fill="none" stroke="#333"/>',
  `<text x="${(m.l + W - m.r) / 2}" y="${H - 15}" text-anchor="middle">values per second</text>`,
  `<text transform="translate(18 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">` +
      'latency, ms (log)</text>');
  const systems = [...new Set(results.map((r) => r.system))];
  systems.forEach((sys, si) => {
    const pts = results.filter((r) => r.system === sys)
      .sort((a, b) => a.concurrency - b.concurrency);
    const color = COLORS[sys] ?? '#2ca02c';
    for (const [q, dash] of [['p50Ms', ''], ['p99Ms', ' stroke-dasharray="5 4"']] as const) {
      const path = pts.map((r) => `${px(r.valuesPerS).toFixed(1)},${py(r.latency[q]).toFixed(1)}`);
      out.push(`<polyline points="${path.join(' ')}" fill="none" stroke="${color}" ` +
        `stroke-width="2"${dash}/>`);
      for (const r of pts) {
        out.push(
          `<circle cx="${px(r.valuesPerS)}" cy="${py(r.latency[q])}" r="3" fill="${color}"/>`,
          `<text x="${px(r.valuesPerS) + 5}" y="${py(r.latency[q]) - 5}" fill="${color}" ` +
          `font-size="10">${r.concurrency}</text>`);
      }
    }
    const ly = m.t + 10 + si * 40;
    out.push(`<line x1="${W - m.r + 12}" y1="${ly}" x2="${W - m.r + 40}" y2="${ly}" ` +
        `stroke="${color}" stroke-width="2"/>`,
    `<text x="${W - m.r + 45}" y="${ly + 4}">${esc(sys)} p50</text>`,
    `<line x1="${W - m.r + 12}" y1="${ly + 16}" x2="${W - m.r + 40}" y2="${ly + 16}" ` +
        `stroke="${color}" stroke-width="2" stroke-dasharray="5 4"/>`,
    `<text x="${W - m.r + 45}" y="${ly + 20}">${esc(sys)} p99</text>`);
  });
  out.push(`<text x="${W - m.r + 12}" y="${H - m.b}" font-size="10" fill="#555">` +
    'labels: clients</text>',
    '</svg>');
  return `${out.join('\n')}\n`;
}

function niceCeil(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x));
  for (const k of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (k * p >= x) return k * p;
  return 10 * p;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
