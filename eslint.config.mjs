// ESLint flat config for the whole workspace. Each project's `lint` target runs `eslint .` in its
// own folder and ESLint finds this file by walking up.
//
// Layering is enforced twice, on purpose:
//  - `@nx/enforce-module-boundaries` checks project -> project edges by tag (and npm packages
//    that Nx knows from the lockfile);
//  - `no-restricted-imports`, scoped by the tags read below, catches what the Nx rule cannot see:
//    Node built-ins (`node:fs`) and packages not installed yet. The Nx rule skips both.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const root = import.meta.dirname;

/** Project roots (`libs/x`) per `nx.tags` entry, read from each workspace package.json. */
function projectRootsByTag() {
  const byTag = new Map();
  for (const dir of ['apps', 'libs']) {
    if (!existsSync(join(root, dir))) continue;
    for (const name of readdirSync(join(root, dir))) {
      const file = join(root, dir, name, 'package.json');
      if (!existsSync(file)) continue;
      const tags = JSON.parse(readFileSync(file, 'utf8')).nx?.tags ?? [];
      for (const tag of tags) byTag.set(tag, [...(byTag.get(tag) ?? []), `${dir}/${name}`]);
    }
  }
  return byTag;
}
const rootsByTag = projectRootsByTag();

const TEST_FILES = ['**/*.test.ts', '**/*.spec.ts', '**/test/**/*.ts', '**/__tests__/**/*.ts'];

// `globs` (default: every .ts file) under each project tagged `tag`; a never-matching glob if none.
function filesOf(tag, globs = ['**/*.ts']) {
  const roots = rootsByTag.get(tag) ?? [];
  if (roots.length === 0) return ['__no_project_tagged__/**'];
  return roots.flatMap((r) => globs.map((g) => `${r}/${g}`));
}

// Drivers live in adapter libs only (STYLE.md rule 3). Globs in Nx's syntax.
const DRIVERS = [
  '@nats-io/*',
  'nats',
  'ioredis',
  'redis',
  '@redis/*',
  '@opentelemetry/sdk-*',
  '@opentelemetry/exporter-*',
  '@opentelemetry/instrumentation*',
  '@opentelemetry/auto-instrumentations-*',
  'testcontainers',
  '@testcontainers/*',
];
const driverRegex = `^(${DRIVERS.map((g) => g.replaceAll('*', '[^/]*')).join('|')})(/.*)?$`;

// Rules for no-restricted-imports. A later config object replaces the whole rule, so every
// combination below repeats the deep-import ban.
const DEEP_IMPORT = {
  regex: '^@synod/[^/]+/.+',
  message: "Import another lib only through its curated entry point ('@synod/x'), never deeply.",
};
const NO_DRIVERS = {
  regex: driverRegex,
  message: 'Drivers (NATS, Redis, OTel SDK/exporters, testcontainers) belong in type:adapter libs.',
};
const CORE_NOTHING_EXTERNAL = {
  regex: '^(?!\\.{1,2}(/|$)|@synod/)',
  message: 'type:core imports nothing external: no Node built-ins, no npm packages.',
};
// Core tests may use the property-test library, Jest's globals and Node built-ins (golden files).
const CORE_TEST_EXTERNAL = {
  regex: '^(?!\\.{1,2}(/|$)|@synod/|node:|fast-check$|@jest/globals$)',
  message: 'type:core tests may import only fast-check, @jest/globals and node:* besides core.',
};
const restrictImports = (...patterns) => ['error', { patterns }];

const ONLY_ADAPTER_DRIVERS = { bannedExternalImports: DRIVERS };
/** Project -> project constraints by tag; `core` is also kept free of npm packages. */
function depConstraints({ coreExternals, tests = false }) {
  // Tests of every layer may use the test infrastructure (real servers, the simulator).
  const t = tests ? ['type:testing'] : [];
  return [
    {
      sourceTag: 'type:core',
      onlyDependOnLibsWithTags: ['type:core'],
      allowedExternalImports: coreExternals,
    },
    {
      sourceTag: 'type:wire',
      onlyDependOnLibsWithTags: ['type:core', 'type:wire', ...t],
      ...ONLY_ADAPTER_DRIVERS,
    },
    {
      sourceTag: 'type:runtime',
      onlyDependOnLibsWithTags: ['type:core', 'type:wire', 'type:runtime', ...t],
      ...ONLY_ADAPTER_DRIVERS,
    },
    {
      sourceTag: 'type:adapter',
      onlyDependOnLibsWithTags: ['type:core', 'type:wire', 'type:runtime', 'type:adapter', ...t],
    },
    {
      sourceTag: 'type:testing',
      onlyDependOnLibsWithTags: ['type:core', 'type:wire', 'type:runtime', 'type:testing'],
      ...ONLY_ADAPTER_DRIVERS,
    },
    { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['*'], ...ONLY_ADAPTER_DRIVERS },
    // End-to-end tests drive real services through the real client and bus.
    { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['*'] },
  ];
}
const boundaries = (coreExternals, { allowCircularSelfDependency = false, tests = false } = {}) => [
  'error',
  {
    allow: [],
    banTransitiveDependencies: true,
    allowCircularSelfDependency,
    depConstraints: depConstraints({ coreExternals, tests }),
  },
];

const tsOnly = (config) => ({ ...config, files: ['**/*.ts'] });

export default [
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '**/tmp/**',
      '**/coverage/**',
      '**/.nx/**',
      '**/results/**',
    ],
  },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  ...tseslint.configs.recommended.map(tsOnly),
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': boundaries([]),
      'no-restricted-imports': restrictImports(DEEP_IMPORT, NO_DRIVERS),
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      'max-len': ['error', { code: 100, ignoreUrls: true, ignoreRegExpLiterals: true }],
    },
  },
  // Adapters (and end-to-end tests) may import drivers.
  {
    files: [...filesOf('type:adapter'), ...filesOf('type:e2e')],
    rules: { 'no-restricted-imports': restrictImports(DEEP_IMPORT) },
  },
  // The core: nothing external, and deterministic (STYLE.md rule 1).
  {
    files: filesOf('type:core'),
    rules: {
      'no-restricted-imports': restrictImports(DEEP_IMPORT, CORE_NOTHING_EXTERNAL),
    },
  },
  {
    files: filesOf('type:core'),
    ignores: TEST_FILES,
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Use the injected seeded PRNG.' },
        { object: 'Date', property: 'now', message: 'The core has no clock: use logical ticks.' },
      ],
      'no-restricted-globals': [
        'error',
        ...['setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask'].map((name) => ({
          name,
          message: 'The core is synchronous: time is tick(), scheduling belongs to the runtime.',
        })),
        ...['clearTimeout', 'clearInterval', 'clearImmediate', 'performance', 'Date'].map(
          (name) => ({ name, message: 'The core has no clock: use logical ticks.' }),
        ),
        ...['process', 'crypto', 'fetch'].map((name) => ({
          name,
          message: 'The core does no I/O and draws randomness only from the injected PRNG.',
        })),
      ],
    },
  },
  {
    files: TEST_FILES,
    rules: {
      // Tests of the core may use fast-check and node:*; the Nx rule needs the same allowance.
      // Tests may also import their own lib by name, exercising its curated entry point.
      '@nx/enforce-module-boundaries': boundaries(['fast-check', '@jest/globals'], {
        allowCircularSelfDependency: true, tests: true,
      }),
    },
  },
  {
    files: filesOf('type:core', TEST_FILES),
    rules: { 'no-restricted-imports': restrictImports(DEEP_IMPORT, CORE_TEST_EXTERNAL) },
  },
];
