/**
 * Summarises V8 CPU profiles (`--cpu-prof`) of the services: self time by module and by
 * function. The services are esbuild bundles, whose output marks each bundled module with a
 * `// path` comment line; a sampled frame's line number finds its module from those marks.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** One profile's summary. */
export interface ProfileSummary {
  readonly file: string;
  readonly totalMs: number;
  /** Self time by module (bundled file path, node internals, GC, idle), largest first. */
  readonly byModule: ReadonlyArray<readonly [string, number]>;
  /** Self time by function, largest first. */
  readonly byFunction: ReadonlyArray<readonly [string, number]>;
}

const bundleMarks = new Map<string, Array<[number, string]>>();

/** `[line, module]` marks of a bundle: esbuild writes `// libs/x/src/y.ts` before each module. */
function marksOf(url: string): Array<[number, string]> {
  const cached = bundleMarks.get(url);
  if (cached !== undefined) return cached;
  const marks: Array<[number, string]> = [];
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  if (existsSync(path)) {
    readFileSync(path, 'utf8').split('\n').forEach((line, i) => {
      const m = /^\/\/ ((?:libs|apps|node_modules)\/\S+)$/.exec(line);
      if (m !== null) marks.push([i, m[1] as string]);
    });
  }
  bundleMarks.set(url, marks);
  return marks;
}

function moduleOf(f: CallFrame): string {
  if (f.url === '') {
    const special = f.functionName;
    if (special === '(garbage collector)') return '(gc)';
    if (special === '(idle)' || special === '(program)') return special;
    return '(native)';
  }
  if (f.url.startsWith('node:')) return 'node internals';
  const marks = marksOf(f.url);
  let found = f.url.split('/').slice(-3).join('/');
  for (const [line, mod] of marks) {
    if (line > f.lineNumber) break;
    found = mod;
  }
  // node_modules/pkg/... -> pkg; libs/x/src/file.ts stays a file.
  const nm = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(found);
  return nm !== null ? `npm:${nm[1]}` : found;
}

/** Summarises one `.cpuprofile` file. */
export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  p.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const mods = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (n === undefined) continue;
    total += us;
    const mod = moduleOf(n.callFrame);
    mods.set(mod, (mods.get(mod) ?? 0) + us);
    const fn = `${n.callFrame.functionName || '(anonymous)'} [${mod}]`;
    fns.set(fn, (fns.get(fn) ?? 0) + us);
  }
  const sorted = (m: Map<string, number>): Array<[string, number]> =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => [k, v / 1000]);
  return { file, totalMs: total / 1000, byModule: sorted(mods), byFunction: sorted(fns) };
}

/** Every `.cpuprofile` in `dir`. */
export function profilesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f));
}

/** A printable summary. */
export function formatProfile(s: ProfileSummary): string {
  const pct = (v: number): string => `${((100 * v) / Math.max(1, s.totalMs)).toFixed(1)}%`;
  const busy = s.totalMs - (s.byModule.find(([k]) => k === '(idle)')?.[1] ?? 0);
  return [
    `${s.file}: ${(s.totalMs / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(1)} s busy`,
    '  self time by module:',
    ...s.byModule.map(([k, v]) => `    ${pct(v).padStart(6)}  ${k}`),
    '  self time by function:',
    ...s.byFunction.map(([k, v]) => `    ${pct(v).padStart(6)}  ${k}`),
  ].join('\n');
}
