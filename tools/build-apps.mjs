#!/usr/bin/env node
// Usage: node tools/build-apps.mjs [app...]   (no names: every app with a src/main.ts)
// Bundles apps into dist/apps/<app>/ without running them; see tools/lib/build.mjs.
import { relative } from 'node:path';
import { buildApp, listApps, repoRoot } from './lib/build.mjs';

const apps = process.argv.length > 2 ? process.argv.slice(2) : listApps();
let failed = 0;
for (const app of apps) {
  try {
    const { outputs, ms } = await buildApp(app);
    const files = outputs.map((f) => relative(repoRoot, f)).join(', ');
    process.stdout.write(`built ${app} in ${ms} ms: ${files}\n`);
  } catch (err) {
    failed++;
    if (!err?.errors) process.stderr.write(`${app}: ${err?.message ?? err}\n`);
  }
}
process.exit(failed > 0 ? 1 : 0);
