// Bundles an app (apps/<app>/src/main.ts plus every src/*.worker.ts) into dist/apps/<app>/ with
// esbuild. Workspace libs (@synod/*) are bundled from their TypeScript source through the
// `synod-source` export condition; every other package stays external and is loaded from
// node_modules at run time, so native and optional dependencies need no special handling.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

/** Absolute path of the workspace root. */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Names of the apps that have an `apps/<app>/src/main.ts`. */
export function listApps(root = repoRoot) {
  const appsDir = join(root, 'apps');
  if (!existsSync(appsDir)) return [];
  return readdirSync(appsDir)
    .filter((name) => existsSync(join(appsDir, name, 'src', 'main.ts')))
    .sort();
}

/**
 * esbuild plugin: bare imports are external except the workspace's own `@synod/*` libs, which
 * are bundled from source. `onExternal`, when given, hears every external import path.
 */
export function workspaceBundled(onExternal) {
  return {
    name: 'synod-externals',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith('@synod/')) return undefined; // bundle from source
        onExternal?.(args.path);
        return { path: args.path, external: true };
      });
    },
  };
}

/**
 * The esbuild options every bundle of this repository shares: Node 20, CommonJS, workspace libs
 * from their TypeScript source (`synod-source`), everything else external, source maps.
 */
export function nodeBundleOptions(onExternal) {
  return {
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    conditions: ['synod-source'],
    sourcemap: true,
    plugins: [workspaceBundled(onExternal)],
  };
}

/**
 * Builds one app. Resolves to `{ app, outdir, main, outputs, ms }`, where `main` is the absolute
 * path of the bundled entry and `outputs` lists every emitted entry (main first, then workers).
 * Rejects with esbuild's error (already printed) when the build fails.
 */
export async function buildApp(app, { root = repoRoot, minify = false } = {}) {
  const started = performance.now();
  const srcDir = join(root, 'apps', app, 'src');
  const mainTs = join(srcDir, 'main.ts');
  if (!existsSync(mainTs)) {
    throw new Error(`no such app: ${relative(root, mainTs)} does not exist`);
  }
  const workers = readdirSync(srcDir)
    .filter((f) => f.endsWith('.worker.ts'))
    .sort()
    .map((f) => ({ in: join(srcDir, f), out: f.slice(0, -'.ts'.length) }));
  const entryPoints = [{ in: mainTs, out: 'main' }, ...workers];
  const outdir = join(root, 'dist', 'apps', app);
  mkdirSync(outdir, { recursive: true });
  // The bundle is CommonJS whatever the root package.json says.
  writeFileSync(join(outdir, 'package.json'), '{ "type": "commonjs" }\n');
  await esbuild.build({
    absWorkingDir: root,
    entryPoints,
    outdir,
    ...nodeBundleOptions(),
    keepNames: true,
    minify,
    logLevel: 'warning',
  });
  return {
    app,
    outdir,
    main: join(outdir, 'main.js'),
    outputs: entryPoints.map((e) => join(outdir, `${e.out}.js`)),
    ms: Math.round(performance.now() - started),
  };
}
