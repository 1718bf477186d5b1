import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { natsAnswers } from './infra/nats.js';
import { firstHostPort } from './infra/net.js';

/** The cluster of `npm start` that answers (see {@link runningLocalCluster}). */
export interface RunningLocalCluster {
  /** Its `cluster.json`: read it again for PIDs that change. */
  readonly file: string;
  readonly natsUrl: string;
  readonly cluster: string;
}

/**
 * The cluster of `npm start` when its NATS answers: the one described by
 * `<SYNOD_DATA_DIR>/cluster.json` when `SYNOD_DATA_DIR` is set (the `--data-dir` of npm start,
 * as the CLI reads it), else by `<root>/.synod/cluster.json`; null when none runs. With
 * `SYNOD_DATA_DIR` set, throws when no cluster runs there (a mistyped directory must not make a
 * demo run on a cluster of its own, or on another), naming the variable and the fix.
 */
export async function runningLocalCluster(root: string,
  env: Readonly<Record<string, string | undefined>> = process.env):
  Promise<RunningLocalCluster | null> {
  const dataDir = env['SYNOD_DATA_DIR'] ?? '';
  const file = dataDir === '' ? join(root, '.synod', 'cluster.json')
    : join(resolve(dataDir), 'cluster.json');
  let found: RunningLocalCluster | null = null;
  if (existsSync(file)) {
    try {
      const o = JSON.parse(readFileSync(file, 'utf8')) as { natsUrl?: unknown; cluster?: unknown };
      const hp = typeof o.natsUrl === 'string' ? firstHostPort(o.natsUrl, 4222) : undefined;
      if (hp !== undefined && (await natsAnswers(hp.host, hp.port))) {
        found = { file, natsUrl: o.natsUrl as string,
          cluster: typeof o.cluster === 'string' ? o.cluster : 'synod' };
      }
    } catch {
      // not usable: as if absent
    }
  }
  if (found === null && dataDir !== '') {
    throw new Error(`SYNOD_DATA_DIR=${dataDir}: no cluster of npm start runs there (${file} ` +
      `${existsSync(file) ? 'names a NATS that does not answer' : 'does not exist'}). Start ` +
      `it (npm start -- --data-dir ${dataDir}), fix SYNOD_DATA_DIR, or unset it (the cluster ` +
      'of .synod/, else one of the demo\'s own)');
  }
  return found;
}
