#!/usr/bin/env node
// Usage: node tools/build-sdk.mjs [--out DIR]      (npm run build:sdk; default dist/sdk/client)
//
// Builds the client SDK (@synod/client: propose, read, watch, status, elect) as a package an
// application can install: `npm install <repo>/dist/sdk/client`. The workspace libs it uses
// (@synod/codec, election, protocol, runtime, transport-nats) are bundled into one CommonJS
// file; third-party packages (nats.js, OpenTelemetry's API) stay dependencies, pinned to the
// versions this repository runs. Type declarations come from tsc (tools/sdk/tsconfig.json),
// with the workspace imports between them made relative.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync }
  from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as esbuild from 'esbuild';
import { nodeBundleOptions, repoRoot as root } from './lib/build.mjs';

const HELP = `npm run build:sdk [-- --out DIR]

Builds the client SDK (@synod/client) into DIR (default dist/sdk/client) as an installable
package: index.js (the workspace libs bundled), types/ (declarations), package.json (its
third-party dependencies, pinned). In an application: npm install <path of DIR>.`;

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}
let out = join(root, 'dist', 'sdk', 'client');
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out' && args[i + 1] !== undefined) out = resolve(args[++i]);
  else {
    process.stderr.write(`build-sdk: unknown argument ${args[i]}\n\n${HELP}\n`);
    process.exit(2);
  }
}

const started = performance.now();
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// 1. The code: libs/client and the workspace libs it imports, from source, in one file.
const external = new Set();
const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: [join(root, 'libs/client/src/index.ts')],
  outfile: join(out, 'index.js'),
  // Third-party imports stay external; their package names become the dependencies.
  ...nodeBundleOptions((path) => {
    if (path.startsWith('node:') || builtinModules.includes(path)) return;
    const parts = path.split('/');
    external.add(path.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]);
  }),
  logLevel: 'warning',
});
if (result.errors.length > 0) process.exit(1);

// 2. The types: declarations of the client and the libs it exposes, imports made relative.
const types = join(out, 'types');
const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'),
  '-p', join(root, 'tools/sdk/tsconfig.json'), '--outDir', types], { stdio: 'inherit' });
if (tsc.status !== 0) {
  process.stderr.write('build-sdk: tsc failed to emit the declarations\n');
  process.exit(1);
}
const dts = [];
const walk = (d) => {
  for (const f of readdirSync(d)) {
    const p = join(d, f);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.d.ts')) dts.push(p);
  }
};
walk(types);
for (const f of dts) {
  const text = readFileSync(f, 'utf8').replace(/(['"])@synod\/([a-z-]+)\1/g, (_m, q, lib) => {
    let rel = relative(dirname(f), join(types, lib, 'src', 'index.js'));
    if (!rel.startsWith('.')) rel = `./${rel}`;
    return `${q}${rel}${q}`;
  });
  writeFileSync(f, text);
}

// 3. The package: its third-party dependencies at the versions installed here.
const dependencies = {};
for (const name of [...external].sort()) {
  const pj = join(root, 'node_modules', name, 'package.json');
  if (!existsSync(pj)) {
    process.stderr.write(`build-sdk: ${name} is imported but not installed (npm ci first)\n`);
    process.exit(1);
  }
  dependencies[name] = JSON.parse(readFileSync(pj, 'utf8')).version;
}
const own = JSON.parse(readFileSync(join(root, 'libs/client/package.json'), 'utf8'));
writeFileSync(join(out, 'package.json'), `${JSON.stringify({
  name: '@synod/client',
  version: own.version,
  description: own.description,
  license: 'UNLICENSED',
  main: 'index.js',
  types: 'types/client/src/index.d.ts',
  engines: { node: '>=20' },
  dependencies,
}, null, 2)}\n`);
cpSync(join(root, 'tools/sdk/README.md'), join(out, 'README.md'));
const ms = Math.round(performance.now() - started);
process.stdout.write(`built the SDK in ${ms} ms: ${relative(process.cwd(), out) || '.'} ` +
  `(index.js, ${dts.length} declaration files; dependencies ${Object.entries(dependencies)
    .map(([n, v]) => `${n}@${v}`).join(', ')})\n` +
  `install it in an application with: npm install ${out}\n`);
