#!/usr/bin/env node
// `npm start`: runs a whole Synod cluster on this machine, doing its own set-up first.
//  1. installs the Node dependencies when they are missing (npm ci, or npm install);
//  2. finds nats-server and redis-server, installing them with apt-get when it can (root on
//     Debian/Ubuntu), or prints the one command that does;
//  3. bundles the services and the local runner (apps/local), then runs it, passing the
//     arguments through (`npm start -- --help`); `--build-only` stops after the build.
// Only node: built-ins are imported before step 1, so this works on a fresh clone.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const say = (s) => process.stderr.write(`start: ${s}\n`);

// Help at once: before installing or building anything (the runner prints the same file).
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(readFileSync(join(root, 'apps/local/help.txt'), 'utf8'));
  process.exit(0);
}

// npm does not pass SIGINT on, and a SIGTERM or SIGKILL to npm leaves this process running,
// handed to another parent. Watch for that: when the parent is gone, stop the runner as for
// Ctrl-C (it stops the cluster), then exit; while still building, just exit. npm runs this
// script through a shell (sh -c) that outlives npm itself: when the parent is a shell, the
// shell's own parent (npm) is watched too, through /proc.
let child = null;
const parent = process.ppid;
const ppidOf = (pid) => {
  try {
    return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
  } catch {
    return null;
  }
};
const commOf = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
};
const grandparent = ['sh', 'dash', 'bash', 'ash', 'zsh'].includes(commOf(parent))
  ? ppidOf(parent) : null;
let orphaned = false;
setInterval(() => {
  let gone = null;
  if (process.ppid !== parent) gone = parent;
  else if (grandparent !== null && grandparent > 1) {
    const now = ppidOf(parent);
    if (now !== null && now !== grandparent) gone = grandparent;
  }
  if (gone === null) return;
  if (!orphaned) say(`parent process ${gone} exited: stopping${child === null ? '' : ' the cluster'}`);
  orphaned = true;
  if (child === null) process.exit(1);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
}, 1000).unref();

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function has(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

// 1. Node dependencies.
const installed = (pkg) => existsSync(join(root, 'node_modules', pkg));
if (!installed('esbuild') || !installed('nx')) {
  const lock = existsSync(join(root, 'package-lock.json'));
  say(`installing Node dependencies (npm ${lock ? 'ci' : 'install'})...`);
  if (run('npm', [lock ? 'ci' : 'install', '--no-audit', '--no-fund']) !== 0) {
    say('npm could not install the dependencies; see the output above.');
    process.exit(1);
  }
}

// 2. Servers: not needed when NATS_URL and REDIS_URL point at running ones (checked later).
const wanted = [];
if (!process.env.NATS_URL && !has('nats-server')) wanted.push('nats-server');
if (!process.env.REDIS_URL && !has('redis-server')) wanted.push('redis-server');
if (wanted.length > 0) {
  const cmd = `apt-get update && apt-get install -y ${wanted.join(' ')}`;
  const root_ = typeof process.getuid === 'function' && process.getuid() === 0;
  if (root_ && has('apt-get')) {
    say(`${wanted.join(' and ')} missing: running ${cmd}`);
    if (run('sh', ['-c', `DEBIAN_FRONTEND=noninteractive ${cmd}`]) !== 0) {
      say(`the install failed; install ${wanted.join(' and ')} by hand and run npm start again.`);
      process.exit(1);
    }
  } else {
    say(`${wanted.join(' and ')} not found. Install ${wanted.length > 1 ? 'them' : 'it'} with:`);
    say(`  sudo sh -c '${cmd}'`);
    say('or point NATS_URL / REDIS_URL at running servers.');
    process.exit(1);
  }
}

// 3. Build and run.
const { buildApp } = await import('./lib/build.mjs');
for (const app of ['acceptor', 'proposer', 'learner', 'cli', 'local']) {
  if (!existsSync(join(root, 'apps', app, 'src', 'main.ts'))) continue;
  try {
    await buildApp(app);
  } catch (e) {
    say(`build of ${app} failed: ${e?.message ?? e}`);
    process.exit(1);
  }
}
if (args.includes('--build-only')) process.exit(0);
const local = join(root, 'dist/apps/local/main.js');
child = spawn(process.execPath, ['--enable-source-maps', local, ...args], {
  stdio: 'inherit', cwd: root,
});
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(s, () => {
    // Ctrl-C in a terminal already reached the child through the process group.
    if (s === 'SIGINT' && process.stdin.isTTY) return;
    if (child.exitCode === null) child.kill(s);
  });
}
child.on('exit', (code, signal) => process.exit(signal ? 1 : code ?? 1));
