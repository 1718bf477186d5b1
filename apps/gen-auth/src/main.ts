// Usage: npm run gen-auth [-- --check]
//
// Writes the NATS authorization files of every deployment (compose, Kubernetes overlays) and the
// Redis ACL templates from the subject table and the stores' rules (see @synod/deploy). Each
// deployment's env file gives its cluster name, its acceptors and the pools of proposer and
// learner ids (SYNOD_PROPOSER_POOL, SYNOD_LEARNER_POOL): every id gets a NATS user of its own.
// With --check it writes nothing and exits 1 when a file is missing or differs from what the
// table and the env files make today.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { generatedFiles } from '@synod/deploy';

/** The repository root: the bundle lives in dist/apps/gen-auth/. */
const root = resolve(__dirname, '../../..');

const HELP = `npm run gen-auth: writes the NATS authorization files and Redis ACL templates

Writes, from the subject table (@synod/deploy) and each deployment's env file (its cluster
name, acceptors, and the pools of proposer and learner ids SYNOD_PROPOSER_POOL and
SYNOD_LEARNER_POOL), the NATS authorization of every deployment (docker-compose and the
Kubernetes overlays: one NATS user per id, allowed only its own subjects) and the Redis ACL
templates. Run it after changing a pool or the acceptors; commit what it writes.

Usage: npm run gen-auth [-- --check]

Options:
  --check     write nothing; exit 1 when a file is missing or differs from what the
              table and env files make today (the test suite runs this)
  -h, --help  this help
`;

function main(argv: readonly string[]): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  const check = argv.includes('--check');
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    process.stderr.write(`gen-auth: unknown argument ${unknown.join(' ')}\n` +
      'usage: npm run gen-auth [-- --check]   (--help for more)\n');
    return 2;
  }
  const files = generatedFiles((p) => readFileSync(join(root, p), 'utf8'));
  let stale = 0;
  for (const f of files) {
    const abs = join(root, f.path);
    const now = existsSync(abs) ? readFileSync(abs, 'utf8') : null;
    if (now === f.content) continue;
    stale++;
    if (check) {
      process.stdout.write(`gen-auth: ${f.path} is ${now === null ? 'missing' : 'stale'}\n`);
    } else {
      mkdirSync(dirname(abs), { recursive: true });
      writeFileSync(abs, f.content);
      process.stdout.write(`gen-auth: wrote ${f.path}\n`);
    }
  }
  if (check && stale > 0) {
    process.stdout.write(`gen-auth: ${stale} of ${files.length} files differ from the subject ` +
      'table: run `npm run gen-auth` and commit the result\n');
    return 1;
  }
  process.stdout.write(`gen-auth: ${files.length} files ${check ? 'up to date' : 'checked'}` +
    `${!check && stale > 0 ? `, ${stale} written` : ''}\n`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
