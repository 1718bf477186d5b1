/**
 * Local Nx plugin for Synod.
 *
 * 1. Projects here are package.json-based (`nx.tags` only), and nx.json `targetDefaults` only
 *    configure targets that already exist. This plugin makes the standard targets exist for every
 *    `apps/*` and `libs/*` project: `lint` always, `typecheck` when a tsconfig.json is present,
 *    `test` when a jest.config.cjs is present. What they run lives in nx.json `targetDefaults`.
 * 2. When SYNOD_NX_TASK_RESULTS names a file, it writes the status of every task of the run there
 *    (`{ "<project>:<target>": { status, code } }`) so tools/test.mjs can count failures without
 *    parsing Nx's terminal output. Only in-process runs call the hook: run with NX_DAEMON=false.
 */
const fs = require('node:fs');
const path = require('node:path');

/**
 * Which standard targets the project at `root` (relative to `workspaceRoot`) gets.
 * Shared with tools/test.mjs, which must know what to expect without asking Nx.
 * @param {string} workspaceRoot @param {string} root @returns {string[]}
 */
function standardTargets(workspaceRoot, root) {
  const has = (file) => fs.existsSync(path.join(workspaceRoot, root, file));
  const targets = ['lint'];
  if (has('tsconfig.json')) targets.push('typecheck');
  if (has('jest.config.cjs')) targets.push('test');
  return targets;
}

/** @type {import('nx/src/project-graph/plugins/public-api').CreateNodes} */
const createNodes = [
  '{apps,libs}/*/package.json',
  (files, _options, context) =>
    files.map((file) => {
      const root = path.dirname(file);
      const targets = {};
      for (const name of standardTargets(context.workspaceRoot, root)) {
        targets[name] = { executor: 'nx:run-commands' };
      }
      return [file, { projects: { [root]: { targets } } }];
    }),
];

/** @type {import('nx/src/project-graph/plugins/public-api').PostTasksExecution} */
async function postTasksExecution(_options, context) {
  const out = process.env.SYNOD_NX_TASK_RESULTS;
  if (!out) return;
  const results = {};
  for (const [id, r] of Object.entries(context.taskResults)) {
    results[id] = { status: r.status, code: r.code ?? null };
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
}

module.exports = { name: 'synod', createNodes, postTasksExecution, standardTargets };
