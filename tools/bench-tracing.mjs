#!/usr/bin/env node
// `npm run bench:tracing [-- --seconds N --rounds N --modes off,metrics,traced,sampled]`:
// bundles libs/e2e/bench/tracing-cost.ts (workspace libs from source, like tools/lib/build.mjs
// does for apps) into dist/bench/ and runs it. It measures what tracing costs on real
// processes; it is a benchmark, not a test: nothing fails on its figures.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { nodeBundleOptions, repoRoot } from './lib/build.mjs';

const outdir = join(repoRoot, 'dist', 'bench');
mkdirSync(outdir, { recursive: true });
writeFileSync(join(outdir, 'package.json'), '{ "type": "commonjs" }\n');
await esbuild.build({
  absWorkingDir: repoRoot,
  entryPoints: [{ in: join(repoRoot, 'libs/e2e/bench/tracing-cost.ts'), out: 'tracing-cost' }],
  outdir,
  ...nodeBundleOptions(),
  logLevel: 'warning',
});
const child = spawn(process.execPath, ['--enable-source-maps', join(outdir, 'tracing-cost.js'),
  ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, SYNOD_ROOT: repoRoot } });
child.on('exit', (code, signal) => process.exit(signal ? 1 : code ?? 1));
