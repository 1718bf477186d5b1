import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a data directory was made for: checked on every later `npm start` that uses it. */
export interface DataShape {
  readonly cluster: string;
  readonly acceptors: number;
}

/** The file in `<data-dir>/data` that records the shape. */
export const SHAPE_FILE = 'synod-data.json';

/** A cluster name: what the services accept (`[A-Za-z0-9_-]`, 1 to 64). */
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws, naming the flag and the form, unless `name` is a valid cluster name. */
export function checkClusterName(name: string): void {
  if (!NAME.test(name)) {
    throw new Error(`--cluster ${JSON.stringify(name)}: a cluster name is 1 to 64 of ` +
      '[A-Za-z0-9_-], e.g. --cluster synod');
  }
}

/**
 * Checks `want` against the data directory `dataDir` (`<base>/data`) and records it there when
 * the directory is new. Throws an Error whose message names the flag and the fix when the
 * cluster name is not a valid token, or when the directory holds a cluster of another name or
 * another number of acceptors: a majority of a different acceptor set need not intersect the
 * old one, so a slot could be chosen twice (changing the set is a reconfiguration,
 * docs/deploy.md, not a flag).
 *
 * A directory made before the shape was recorded is adopted: its acceptors are a1..aN for the
 * highest `redis-aN` directory it holds; each of them is then recorded as initialised
 * (`initRecord`), since its Redis may hold votes (and one whose directory is gone lost them).
 */
export function checkDataShape(dataDir: string, want: DataShape,
  initRecord: (acceptorId: string) => string): void {
  checkClusterName(want.cluster);
  const file = join(dataDir, SHAPE_FILE);
  let have: DataShape | null = null;
  if (existsSync(file)) {
    try {
      const o = JSON.parse(readFileSync(file, 'utf8')) as Partial<DataShape>;
      if (typeof o.cluster === 'string' && Number.isSafeInteger(o.acceptors)) {
        have = { cluster: o.cluster, acceptors: o.acceptors as number };
      }
    } catch {
      // unreadable: reported below
    }
    if (have === null) {
      throw new Error(`${file} is not what npm start wrote (cluster name and acceptor count): ` +
        'restore it, or start a new, empty cluster with --fresh');
    }
  } else if (existsSync(dataDir)) {
    // Acceptors are a1..aN: N is the highest one found (one whose directory is missing was
    // there too, and lost its data: it must be refused as amnesic, not made new).
    const n = Math.max(0, ...readdirSync(dataDir).flatMap((d) => {
      const m = /^redis-a(\d+)$/.exec(d);
      return m === null ? [] : [Number(m[1])];
    }));
    if (n > 0) {
      for (let i = 1; i <= n; i++) {
        const id = `a${i}`;
        if (!existsSync(initRecord(id))) {
          writeFileSync(initRecord(id), `${id}: its Redis predates the init records; taken as ` +
            `initialised (${new Date().toISOString()})\n`);
        }
      }
      have = { cluster: want.cluster, acceptors: n };
    }
  }
  if (have !== null) {
    const fresh = 'use --fresh for a new, empty cluster (it wipes this one), or another --data-dir';
    if (have.acceptors !== want.acceptors) {
      throw new Error(`--acceptors ${want.acceptors}, but the data in ${dataDir} belongs to a ` +
        `cluster of ${have.acceptors} acceptors: a majority of a different set need not ` +
        'overlap the old one, so a slot could be chosen twice. Start it with --acceptors ' +
        `${have.acceptors}; changing the acceptor set is a reconfiguration (docs/deploy.md, ` +
        `"Changing the acceptor set"), not a flag; or ${fresh}`);
    }
    if (have.cluster !== want.cluster) {
      throw new Error(`--cluster ${want.cluster}, but the data in ${dataDir} belongs to cluster ` +
        `'${have.cluster}' (its acceptors would refuse to vote: WRONG_KEYSPACE). Start it with ` +
        `--cluster ${have.cluster}, or ${fresh}`);
    }
  }
  mkdirSync(dataDir, { recursive: true });
  if (!existsSync(file)) {
    writeFileSync(file, `${JSON.stringify({ ...want, createdAt: new Date().toISOString() })}\n`);
  }
}
