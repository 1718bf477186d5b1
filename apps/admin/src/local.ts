import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A command line or local file the admin tool cannot act on (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** One service of `cluster.json` (what `npm start` writes while it runs). */
export interface LocalService {
  readonly id: string;
  readonly role: string;
  readonly redis: string | null;
}

/**
 * What the admin tool knows of the local cluster of `npm start`: its data directory (`.synod/`
 * or `$SYNOD_DATA_DIR`), the `cluster.json` written while it runs, and the shape its data was
 * made with (`data/synod-data.json`: cluster name and acceptor count, kept after it stops).
 */
export interface LocalData {
  readonly dir: string;
  readonly running?: {
    readonly path: string; readonly cluster: string; readonly services: readonly LocalService[];
  };
  readonly shape?: { readonly path: string; readonly cluster: string; readonly acceptors: number };
}

/** The JSON object in `path`, or a UsageError naming the file and what is wrong. */
function readObject(path: string, fix: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`${path} is not readable JSON (${(e as Error).message}): ${fix}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new UsageError(`${path} is not a JSON object: ${fix}`);
  }
  return doc as Record<string, unknown>;
}

const CLUSTER_FIX = 'it is what a running `npm start` writes; restart npm start, or delete it ' +
  'and give --redis and --peer';

function runningCluster(path: string): NonNullable<LocalData['running']> {
  const o = readObject(path, CLUSTER_FIX);
  const bad = (what: string): UsageError =>
    new UsageError(`${path}: ${what}: ${CLUSTER_FIX}`);
  if (typeof o['cluster'] !== 'string' || o['cluster'] === '') {
    throw bad('"cluster" must be a non-empty string');
  }
  if (!Array.isArray(o['services'])) throw bad('"services" must be an array');
  const services = o['services'].map((x: unknown, i): LocalService => {
    const s = (typeof x === 'object' && x !== null ? x : {}) as Record<string, unknown>;
    const redis = s['redis'];
    if (typeof s['id'] !== 'string' || typeof s['role'] !== 'string' ||
      !(redis === null || typeof redis === 'string')) {
      throw bad(`services[${i}] must have a string "id" and "role", and "redis" a string or null`);
    }
    return { id: s['id'], role: s['role'], redis: redis };
  });
  return { path, cluster: o['cluster'], services };
}

function dataShape(path: string): NonNullable<LocalData['shape']> {
  const fix = 'npm start records the cluster name and acceptor count there; restore it';
  const o = readObject(path, fix);
  const acceptors = o['acceptors'];
  if (typeof o['cluster'] !== 'string' || typeof acceptors !== 'number' ||
    !Number.isSafeInteger(acceptors) || acceptors < 1) {
    throw new UsageError(`${path}: "cluster" must be a string and "acceptors" an integer >= 1: ` +
      fix);
  }
  return { path, cluster: o['cluster'], acceptors };
}

/**
 * The local cluster: in `$SYNOD_DATA_DIR` when set, else `.synod/` in `cwd`, else in the
 * repository root; null when none of them holds a `cluster.json` or `data/synod-data.json`.
 * A file that is there but unreadable or malformed is a UsageError naming it, never skipped.
 */
export function readLocalData(env: Readonly<Record<string, string | undefined>>, cwd: string,
  repoRoot: string): LocalData | null {
  const dataDir = env['SYNOD_DATA_DIR'];
  const dirs = dataDir !== undefined && dataDir !== '' ? [dataDir]
    : [join(cwd, '.synod'), join(repoRoot, '.synod')];
  for (const dir of dirs) {
    const clusterJson = join(dir, 'cluster.json');
    const shapeJson = join(dir, 'data', 'synod-data.json');
    const running = existsSync(clusterJson) ? runningCluster(clusterJson) : undefined;
    const shape = existsSync(shapeJson) ? dataShape(shapeJson) : undefined;
    if (running !== undefined || shape !== undefined) {
      return { dir, ...(running === undefined ? {} : { running }),
        ...(shape === undefined ? {} : { shape }) };
    }
  }
  return null;
}
