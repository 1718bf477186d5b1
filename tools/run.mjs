#!/usr/bin/env node
// Usage: node tools/run.mjs <app> [--] [args...]
//
// Bundles apps/<app> (see tools/lib/build.mjs) into dist/apps/<app>/ and runs main.js with node,
// passing the args through. The exit code is forwarded; a child killed by a signal makes this
// process die of the same signal. SIGINT, SIGTERM and SIGHUP are relayed to the child, except a
// SIGINT while stdin is a terminal: Ctrl-C already reached the child through the terminal's
// process group, and relaying it would deliver it twice (a second SIGINT often means "force").
import { spawn } from 'node:child_process';
import { relative } from 'node:path';
import { buildApp, listApps, repoRoot } from './lib/build.mjs';

const [app, ...rest] = process.argv.slice(2);
if (!app || app === '--help' || app === '-h') {
  const apps = listApps().join(', ') || '(none yet)';
  process.stderr.write(`usage: node tools/run.mjs <app> [--] [args...]\napps: ${apps}\n`);
  process.exit(app ? 0 : 2);
}
const args = rest[0] === '--' ? rest.slice(1) : rest;

let built;
try {
  built = await buildApp(app);
} catch (err) {
  // esbuild has already printed its diagnostics; anything else is ours to print.
  if (!err?.errors) process.stderr.write(`run: ${err?.message ?? err}\n`);
  process.stderr.write(`run: build of ${app} failed\n`);
  process.exit(1);
}
if (process.env.SYNOD_RUN_QUIET !== '1') {
  process.stderr.write(`run: built ${relative(repoRoot, built.outdir)} in ${built.ms} ms\n`);
}

const child = spawn(process.execPath, ['--enable-source-maps', built.main, ...args], {
  stdio: 'inherit',
});

const relayed = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const relay = (signal) => {
  if (signal === 'SIGINT' && process.stdin.isTTY) return;
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
};
for (const signal of relayed) process.on(signal, relay);

child.on('error', (err) => {
  process.stderr.write(`run: cannot start ${app}: ${err.message}\n`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  if (signal !== null) {
    for (const s of relayed) process.off(s, relay);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 1);
});
