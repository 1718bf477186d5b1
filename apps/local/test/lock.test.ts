import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import { lockDataDir } from '../src/lock.js';

/**
 * `npm-start.lock` (apps/local/src/lock.ts) when several `npm start` start together: each of
 * several processes calls lockDataDir on the same directories at the same instants, and
 * exactly one of them must end up holding each.
 */
let dir: string;
let bundle: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'synod-lock-'));
  bundle = join(dir, 'lock.js');
  buildSync({
    entryPoints: [resolve(__dirname, '../src/lock.ts')], bundle: true, platform: 'node',
    format: 'cjs', outfile: bundle, logLevel: 'silent',
  });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A contender: at `t0 + r * stepMs` (all of them at once) it calls lockDataDir on `dirs[r]`,
 * keeps what it took, prints the rounds it won and the errors it did not expect, and stays
 * alive until its stdin ends (after every contender is done), so that its locks stay live.
 */
const CONTENDER = `
const { lockDataDir } = require(process.argv[1]);
const { dirs, t0, stepMs } = JSON.parse(process.argv[2]);
const nap = new Int32Array(new SharedArrayBuffer(4));
const wins = [];
const errors = [];
dirs.forEach((d, r) => {
  const at = t0 + r * stepMs;
  if (at - Date.now() > 3) Atomics.wait(nap, 0, 0, at - Date.now() - 3);
  while (Date.now() < at) { /* the last milliseconds spinning: start together */ }
  try {
    lockDataDir(d);
    wins.push(r);
  } catch (e) {
    if (!String(e.message).includes('another npm start')) errors.push(String(e.message));
  }
});
process.stdout.write(JSON.stringify({ pid: process.pid, wins, errors }) + '\\n');
process.stdin.on('end', () => process.exit(0)).resume();
`;

interface Result { pid: number; wins: number[]; errors: string[] }

/** Starts a contender: its result, and how to let it exit (resolves when it has). */
function contender(dirs: string[], t0: number, stepMs: number):
  { result: Promise<Result>; end(): Promise<void> } {
  const child = spawn(process.execPath,
    ['-e', CONTENDER, bundle, JSON.stringify({ dirs, t0, stepMs })],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((res) => child.on('exit', res));
  let out = '';
  const result = new Promise<Result>((res, rej) => {
    child.on('error', rej);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.endsWith('\n')) res(JSON.parse(out) as Result);
    });
    void exited.then((code) => rej(new Error(`a contender exited with ${code}: ${out}`)));
  });
  return {
    result,
    end: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

test('contenders starting together on a stale lock (or none): exactly one takes each ' +
  'directory', async () => {
  // A pid that ran and no longer does: the lock of an npm start that was killed.
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  expect(() => process.kill(dead, 0)).toThrow();
  const rounds = 40;
  const dirs: string[] = [];
  for (let r = 0; r < rounds; r++) {
    const d = join(dir, `data-${r}`);
    mkdirSync(d);
    // Even rounds: a stale lock to take over; odd ones: no lock at all.
    if (r % 2 === 0) writeFileSync(join(d, 'npm-start.lock'), `${dead}\n`);
    dirs.push(d);
  }
  const stepMs = 25;
  const t0 = Date.now() + 2000; // time for every contender to start and load
  const contenders = [1, 2, 3, 4].map(() => contender(dirs, t0, stepMs));
  let results: Result[];
  try {
    results = await Promise.all(contenders.map((c) => c.result));
  } finally {
    await Promise.all(contenders.map((c) => c.end()));
  }
  const winners = dirs.map((_, r) => results.filter((x) => x.wins.includes(r)).map((x) => x.pid));
  // Each directory has one holder, every other contender was told who holds it...
  expect({
    wrong: winners.map((w, round) => ({ round, winners: w.length })).filter((x) => x.winners !== 1),
    errors: results.flatMap((x) => x.errors),
  }).toEqual({ wrong: [], errors: [] });
  // ...and the lock names the one that took it.
  dirs.forEach((d, r) => {
    expect(readFileSync(join(d, 'npm-start.lock'), 'utf8')).toBe(`${winners[r]?.[0]}\n`);
  });
}, 60_000);

test('a takeover interrupted by a kill leaves its token: later ones refuse and say what to ' +
  'remove', () => {
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  const d = join(dir, 'interrupted');
  mkdirSync(d);
  writeFileSync(join(d, 'npm-start.lock'), `${dead}\n`);
  writeFileSync(join(d, 'npm-start.lock.takeover'), `${dead}\n`);
  expect(() => lockDataDir(d)).toThrow(/did not finish\. If no npm start .*, remove both files/);
  rmSync(join(d, 'npm-start.lock.takeover'));
  const release = lockDataDir(d);
  expect(readFileSync(join(d, 'npm-start.lock'), 'utf8')).toBe(`${process.pid}\n`);
  release();
  expect(() => readFileSync(join(d, 'npm-start.lock'))).toThrow();
});
