#!/usr/bin/env node
// `synod`: the command-line client of a Synod cluster (see `synod --help`).
//
// Runs dist/apps/cli/main.js in this very process (so Ctrl-C reaches the command directly),
// after bundling it with tools/lib/build.mjs when it is missing or older than any source file
// under apps/cli/src or libs/*/src.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const root = path.resolve(__dirname, '..', '..', '..');
const main = path.join(root, 'dist', 'apps', 'cli', 'main.js');

/** Newest modification time (ms) of the files under `dir`, or 0 when there is none. */
function newestUnder(dir) {
  let newest = 0;
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestUnder(p));
    else if (e.isFile()) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

function isStale() {
  let built;
  try {
    built = fs.statSync(main).mtimeMs;
  } catch {
    return true;
  }
  const sources = [path.join(root, 'apps', 'cli', 'src')];
  const libs = path.join(root, 'libs');
  for (const name of fs.existsSync(libs) ? fs.readdirSync(libs) : []) {
    sources.push(path.join(libs, name, 'src'));
  }
  return sources.some((dir) => newestUnder(dir) > built);
}

async function ensureBuilt() {
  if (!isStale()) return;
  const build = pathToFileURL(path.join(root, 'tools', 'lib', 'build.mjs')).href;
  const { buildApp } = await import(build);
  await buildApp('cli');
}

ensureBuilt().then(
  () => {
    require(main);
  },
  (err) => {
    // esbuild has already printed its diagnostics when it has some.
    if (!(err && err.errors)) {
      process.stderr.write(`synod: ${err && err.message ? err.message : err}\n`);
    }
    process.stderr.write('synod: could not build the CLI (dist/apps/cli/main.js)\n');
    process.exitCode = 1;
  },
);
