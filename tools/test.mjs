#!/usr/bin/env node
// The project's test entry point (`npm test`, and so CI through .ci/run).
//
//   node tools/test.mjs                     lint, typecheck and test every project, then the gates
//   node tools/test.mjs --quick             the same without the gates
//   node tools/test.mjs --project protocol  one project (repeatable, or comma-separated), no gates
//   node tools/test.mjs --gates-only        only the gates
//
// 1. `nx run-many -t lint typecheck test` streams every task's output. Each Jest run writes its
//    JSON results to tmp/test-results/<project>.json (nx.json `targetDefaults.test`), and the
//    local Nx plugin (tools/nx/synod-plugin.cjs) writes every task's status to
//    tmp/test-results/nx-tasks.json.
// 2. The gates in GATES below run one after another; a gate passes when it exits 0.
// 3. A summary, ending with exactly one line `N passed, N failed`: passed = Jest tests passed +
//    gates passed; failed = Jest tests failed + Jest suites that failed without a failed test
//    (e.g. a compile error) + gates failed + 1 per project whose lint or typecheck failed, whose
//    Jest JSON is missing, or whose test task failed without a failed test to show for it.
// Exit status 1 when anything failed.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const { standardTargets } = require('./nx/synod-plugin.cjs');

/**
 * Extra checks run after the Nx targets. Add one by appending an entry: `command` is argv
 * (index 0 is the program; 'node' means this Node.js), run from the workspace root with no stdin.
 * Keep the Nx timeout (30 min) plus every gate's `timeoutMs` under CI's 90 minutes.
 */
const GATES = [
  {
    name: 'sim',
    what: 'T1 simulation: seeded fault swarm, safety and liveness checkers',
    command: [
      'node',
      'tools/run.mjs',
      'sim',
      '--',
      '--seeds',
      process.env.SYNOD_SIM_SEEDS || '20000',
      '--check',
    ],
    timeoutMs: 40 * 60_000,
  },
  {
    name: 'demo',
    what: 'npm run demo against a cluster of real processes: leader race, kill -9, exactly once',
    command: ['node', 'tools/run.mjs', 'demo'],
    timeoutMs: 5 * 60_000,
  },
  {
    name: 'demo:election',
    what: 'npm run demo:election: 3 app instances, leader killed, takeover, stale write fenced',
    command: ['node', 'tools/run.mjs', 'election-demo'],
    timeoutMs: 5 * 60_000,
  },
  {
    // A smoke run so that the bench cannot rot: it passes when the bench ran against a real
    // cluster and its output is sane (values chosen, quantiles ordered, CPU per role, files
    // written). No timing is asserted: this machine's speed is not the suite's business.
    name: 'bench',
    what: 'npm run bench smoke run: real cluster and the substrate, 4 clients, 3 s, sane output',
    // With the substrate, and a per-operation timeout (2.5 s) shorter than warm-up plus window,
    // so that a stalled operation shows up as an error (the smoke run fails on any).
    command: [
      'node', 'tools/run.mjs', 'bench', '--',
      '--duration', '3', '--warmup', '1', '--concurrency', '4', '--substrate',
      '--timeout-ms', '2500', '--smoke', '--out', 'tmp/bench-smoke',
    ],
    timeoutMs: 3 * 60_000,
  },
];

const RESULTS_DIR = join(root, 'tmp', 'test-results');
const TASKS_FILE = join(RESULTS_DIR, 'nx-tasks.json');
const TARGETS = ['lint', 'typecheck', 'test'];
const CI = process.env.CI === 'true' || process.env.CI === '1';
const NX_TIMEOUT_S = Number(process.env.SYNOD_NX_TIMEOUT_S || 30 * 60);

// ---------------------------------------------------------------------------------------------
// Arguments

function usage(message) {
  if (message) process.stderr.write(`test: ${message}\n`);
  process.stderr.write(
    'usage: node tools/test.mjs [--quick] [--project <name>]... [--gates-only]\n' +
      '  --quick          skip the gates\n' +
      '  --project, -p    only this project (name, @synod/name or folder); skips the gates\n' +
      '  --gates-only     only the gates\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { quick: false, gatesOnly: false, projects: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') opts.quick = true;
    else if (arg === '--gates-only') opts.gatesOnly = true;
    else if (arg === '--project' || arg === '--projects' || arg === '-p') {
      const value = argv[++i];
      if (value === undefined) usage(`${arg} needs a value`);
      opts.projects.push(...value.split(','));
    } else if (arg.startsWith('--project=') || arg.startsWith('--projects=')) {
      opts.projects.push(...arg.slice(arg.indexOf('=') + 1).split(','));
    } else if (arg === '--help' || arg === '-h') usage();
    else usage(`unknown argument ${arg}`);
  }
  return opts;
}

// ---------------------------------------------------------------------------------------------
// Projects, from the same files the Nx plugin reads

function discoverProjects() {
  const projects = [];
  for (const dir of ['apps', 'libs']) {
    if (!existsSync(join(root, dir))) continue;
    for (const folder of readdirSync(join(root, dir)).sort()) {
      const pkgFile = join(root, dir, folder, 'package.json');
      if (!existsSync(pkgFile)) continue;
      const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
      const projectRoot = `${dir}/${folder}`;
      const name = pkg.nx?.name ?? pkg.name ?? projectRoot;
      const targets = standardTargets(root, projectRoot);
      projects.push({ name, root: projectRoot, folder, targets });
    }
  }
  return projects;
}

function selectProjects(all, wanted) {
  if (wanted.length === 0) return all;
  return wanted.map((w) => {
    const found = all.find(
      (p) => p.name === w || p.name === `@synod/${w}` || p.root === w || p.folder === w,
    );
    if (!found) usage(`no project ${w}; projects: ${all.map((p) => p.folder).join(', ')}`);
    return found;
  });
}

// ---------------------------------------------------------------------------------------------
// Running things

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const say = (line) => process.stdout.write(`${line}\n`);
const banner = (line) => say(`\n==> ${line}`);

/** Runs argv with inherited stdout/stderr and no stdin; resolves `{ code, signal, ms }`. */
function run(argv, { env = {}, timeoutMs = 0 } = {}) {
  const started = Date.now();
  const [program, ...args] = argv;
  return new Promise((resolve) => {
    const child = spawn(program === 'node' ? process.execPath : program, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    let timer;
    let timedOut = false;
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        say(`test: ${argv.join(' ')} timed out after ${seconds(timeoutMs)}; stopping it`);
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }, timeoutMs);
    }
    child.on('error', (err) => {
      clearTimeout(timer);
      say(`test: cannot start ${program}: ${err.message}`);
      resolve({ code: 127, signal: null, ms: Date.now() - started, timedOut });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, ms: Date.now() - started, timedOut });
    });
  });
}

// Ctrl-C reaches the running child through the terminal: stay alive once to print the summary
// of what ran; a second signal ends this process at once.
let interrupted = null;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = signal;
  });
}

// ---------------------------------------------------------------------------------------------
// Reading results

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

const stripAnsi = (text) => text.replace(/\u001b\[[0-9;]*m/g, '');

/** Counts from one Jest `--json` file. */
function jestCounts(report) {
  const failedTests = [];
  const brokenSuites = [];
  for (const suite of report.testResults ?? []) {
    const file = suite.name.startsWith(root) ? suite.name.slice(root.length) : suite.name;
    const failed = (suite.assertionResults ?? []).filter((a) => a.status === 'failed');
    for (const a of failed) failedTests.push(`${file}: ${a.fullName ?? a.title}`);
    if (suite.status === 'failed' && failed.length === 0) {
      // The message starts with a "Test suite failed to run" heading; show the first line below.
      const lines = stripAnsi(suite.message || suite.failureMessage || '')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !/^●?\s*Test suite failed to run$/.test(l));
      brokenSuites.push(`${file}: suite failed to run: ${lines[0] ?? 'no message'}`);
    }
  }
  return {
    passed: report.numPassedTests ?? 0,
    failed: report.numFailedTests ?? 0,
    skipped: (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0),
    suites: report.numTotalTestSuites ?? 0,
    failedTests,
    brokenSuites,
  };
}

const OK_STATUSES = new Set([
  'success',
  'local-cache',
  'local-cache-kept-existing',
  'remote-cache',
]);

/** One row per project: target statuses, Jest counts, and whether the project counts as 1 fail. */
function projectRows(projects, tasks) {
  return projects.map((p) => {
    const row = { project: p, status: {}, jest: undefined, problems: [] };
    for (const target of TARGETS.filter((t) => p.targets.includes(t))) {
      const task = tasks?.[`${p.name}:${target}`];
      row.status[target] = task === undefined ? 'not run' : task.status;
    }
    for (const target of ['lint', 'typecheck']) {
      const s = row.status[target];
      if (s !== undefined && !OK_STATUSES.has(s)) row.problems.push(`${target} ${s}`);
    }
    if (p.targets.includes('test')) {
      const report = readJson(join(RESULTS_DIR, `${p.name}.json`));
      if (report === undefined) row.problems.push('no Jest JSON results');
      else {
        row.jest = jestCounts(report);
        // A project with a test target runs at least one suite: none means its tests were not
        // found (a renamed folder, a broken testMatch), not that they passed.
        if (row.jest.suites === 0) row.problems.push('no test suites ran');
        const shown = row.jest.failed + row.jest.brokenSuites.length;
        if (!OK_STATUSES.has(row.status.test) && shown === 0) {
          row.problems.push(`test task ${row.status.test} with no failed test in its JSON`);
        }
      }
    }
    return row;
  });
}

// ---------------------------------------------------------------------------------------------
// Main

const opts = parseArgs(process.argv.slice(2));
const allProjects = discoverProjects();
const projects = selectProjects(allProjects, opts.projects);
const runGates = !opts.quick && opts.projects.length === 0;
const runNx = !opts.gatesOnly;
const startedAll = Date.now();

let nxResult;
let rows = [];
if (runNx) {
  rmSync(RESULTS_DIR, { recursive: true, force: true });
  const nxArgs = ['run-many', '-t', ...TARGETS, '--output-style=stream'];
  if (opts.projects.length > 0) nxArgs.push(`--projects=${projects.map((p) => p.name).join(',')}`);
  if (CI) nxArgs.push('--skip-nx-cache');
  banner(`[1/${runGates ? 2 : 1}] nx ${nxArgs.join(' ')}  (${projects.length} projects)`);
  nxResult = await run([join(root, 'node_modules', '.bin', 'nx'), ...nxArgs], {
    env: { NX_DAEMON: 'false', NX_NO_CLOUD: 'true', SYNOD_NX_TASK_RESULTS: TASKS_FILE },
    // A test that leaves a handle open keeps Jest alive forever; fail instead of hanging CI.
    timeoutMs: NX_TIMEOUT_S * 1000,
  });
  rows = projectRows(projects, readJson(TASKS_FILE));
  say(`\ntest: nx run-many finished in ${seconds(nxResult.ms)} (exit ${nxResult.code})`);
}

const gateResults = [];
if ((runGates || opts.gatesOnly) && !interrupted) {
  for (const [i, gate] of GATES.entries()) {
    if (interrupted) break;
    banner(`[gate ${i + 1}/${GATES.length}] ${gate.name}: ${gate.what}`);
    say(`    $ ${gate.command.join(' ')}`);
    const r = await run(gate.command, { timeoutMs: gate.timeoutMs ?? 0 });
    gateResults.push({ gate, ...r, ok: r.code === 0 });
    say(`test: gate ${gate.name} ${r.code === 0 ? 'passed' : 'FAILED'} in ${seconds(r.ms)}`);
  }
}

// Summary.
let passed = 0;
let failed = 0;
banner(`summary (${seconds(Date.now() - startedAll)})`);
const width = Math.max(0, ...rows.map((r) => r.project.name.length));
for (const row of rows) {
  const parts = TARGETS.filter((t) => row.status[t] !== undefined).map((t) => {
    const s = row.status[t];
    return `${t} ${OK_STATUSES.has(s) ? 'ok' : s.toUpperCase()}`;
  });
  if (row.jest) {
    const j = row.jest;
    passed += j.passed;
    failed += j.failed + j.brokenSuites.length;
    const skipped = j.skipped > 0 ? `, ${j.skipped} skipped` : '';
    parts.push(`jest ${j.passed} passed, ${j.failed} failed${skipped} in ${j.suites} suites`);
  }
  if (row.problems.length > 0) failed += 1;
  say(`  ${row.project.name.padEnd(width)}  ${parts.join('  ')}`);
  for (const problem of row.problems) say(`      ! ${problem}`);
  const failures = [...(row.jest?.brokenSuites ?? []), ...(row.jest?.failedTests ?? [])];
  for (const f of failures.slice(0, 20)) say(`      x ${f}`);
  if (failures.length > 20) say(`      ... and ${failures.length - 20} more`);
}
if (runNx && nxResult.timedOut) {
  failed += 1;
  say(`  ! nx run-many timed out after ${NX_TIMEOUT_S} s (SYNOD_NX_TIMEOUT_S)`);
} else if (runNx && nxResult.code !== 0 && failed === 0) {
  failed += 1;
  say(`  ! nx run-many exited ${nxResult.code ?? nxResult.signal} and no task reported a failure`);
}
for (const g of gateResults) {
  if (g.ok) passed += 1;
  else failed += 1;
  const how = g.ok
    ? 'passed'
    : g.timedOut
      ? 'FAILED (timed out)'
      : `FAILED (exit ${g.code ?? g.signal})`;
  say(`  gate ${g.gate.name}: ${how} in ${seconds(g.ms)}`);
}
if (runGates === false && !opts.gatesOnly) say('  gates: skipped (--quick or --project)');
if (interrupted) {
  failed += 1;
  say(`  ! interrupted by ${interrupted}`);
}
say(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
