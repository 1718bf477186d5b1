import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type CommandLine, UsageError } from './args.js';

/** The default NATS URL when nothing else names one. */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** What `npm start` writes to `.synod/cluster.json` (only the fields the CLI uses). */
export interface ClusterFile {
  readonly path: string;
  readonly natsUrl?: string;
  readonly cluster?: string;
  /** How many acceptors the local cluster runs (from its `services` list). */
  readonly acceptors?: number;
  /** Where the local cluster keeps spans, and its OTLP/HTTP receiver (`traces`). */
  readonly traces?: { readonly file: string; readonly otlpEndpoint: string };
}

/** Where the CLI connects, and how. */
export interface Settings {
  readonly natsUrl: string;
  readonly cluster: string;
  readonly timeoutMs: number;
  readonly user?: string;
  readonly pass?: string;
  /** Acceptors the local cluster is known to run, for "answering x/y"; undefined if unknown. */
  readonly expectedAcceptors?: number;
  /** The local cluster's span file and receiver (see {@link ClusterFile.traces}). */
  readonly traces?: { readonly file: string; readonly otlpEndpoint: string };
}

/** The repository root above `start` (a package.json named `synod`), or null. */
export function findRepoRoot(start: string): string | null {
  let dir = start;
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        if ((JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name === 'synod') {
          return dir;
        }
      } catch {
        // Not ours; keep walking up.
      }
    }
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/**
 * Reads `<dataDir>/cluster.json` when `dataDir` is given (`SYNOD_DATA_DIR`: the `--data-dir`
 * of `npm start`), else `.synod/cluster.json` in `cwd`, else in the repo root; null if there is
 * none. One that exists but is not what `npm start` writes is a {@link UsageError} naming the
 * file and what is wrong: never skipped, so never a silent fall back to the defaults.
 */
export function readClusterFile(cwd: string, repoRoot: string | null, dataDir?: string):
  ClusterFile | null {
  const candidates = dataDir !== undefined && dataDir !== ''
    ? [join(dataDir, 'cluster.json')]
    : [cwd, ...(repoRoot === null ? [] : [repoRoot])].map((d) => join(d, '.synod', 'cluster.json'));
  const path = candidates.find((p) => existsSync(p));
  return path === undefined ? null : parseClusterFile(path);
}

function parseClusterFile(path: string): ClusterFile {
  const bad = (what: string): UsageError => new UsageError(`${path} ${what}: it is what a ` +
    'running `npm start` writes; restart npm start, or delete the file (and give --nats and ' +
    '--cluster)');
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw bad(`is not readable JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw bad('is not a JSON object');
  }
  const o = doc as { natsUrl?: unknown; cluster?: unknown; services?: unknown; traces?: unknown };
  if (o.natsUrl !== undefined && (typeof o.natsUrl !== 'string' || o.natsUrl === '')) {
    throw bad(`has "natsUrl" ${JSON.stringify(o.natsUrl)}, not a NATS URL`);
  }
  if (o.cluster !== undefined && (typeof o.cluster !== 'string' || o.cluster === '')) {
    throw bad(`has "cluster" ${JSON.stringify(o.cluster)}, not a cluster name`);
  }
  if (o.services !== undefined && (!Array.isArray(o.services) || !o.services.every((s) =>
    typeof (s as { role?: unknown } | null)?.role === 'string'))) {
    throw bad('has "services" that is not a list of services with a "role"');
  }
  const t = o.traces as { file?: unknown; otlpEndpoint?: unknown } | null | undefined;
  if (t !== undefined && t !== null &&
    (typeof t.file !== 'string' || typeof t.otlpEndpoint !== 'string')) {
    throw bad('has "traces" without a string "file" and "otlpEndpoint"');
  }
  const acceptors = Array.isArray(o.services)
    ? o.services.filter((s) => (s as { role: string }).role === 'acceptor').length
    : 0;
  return {
    path,
    ...(typeof o.natsUrl === 'string' ? { natsUrl: o.natsUrl } : {}),
    ...(typeof o.cluster === 'string' ? { cluster: o.cluster } : {}),
    ...(acceptors > 0 ? { acceptors } : {}),
    ...(typeof t?.file === 'string' && typeof t.otlpEndpoint === 'string'
      ? { traces: { file: t.file, otlpEndpoint: t.otlpEndpoint } } : {}),
  };
}

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Where to connect: each setting from its option, else the environment (`NATS_URL`,
 * `SYNOD_CLUSTER`, `NATS_USER`/`NATS_PASSWORD`), else `.synod/cluster.json`, else the default.
 */
export function resolveSettings(
  cl: CommandLine,
  env: Readonly<Record<string, string | undefined>>,
  file: ClusterFile | null,
): Settings {
  const nonEmpty = (s: string | undefined): string | undefined => (s === '' ? undefined : s);
  const dataDir = nonEmpty(env['SYNOD_DATA_DIR']);
  if (dataDir !== undefined && file === null && cl.nats === undefined &&
    nonEmpty(env['NATS_URL']) === undefined) {
    // A mistyped data dir would otherwise reach whatever cluster answers on the default URL.
    throw new UsageError(`SYNOD_DATA_DIR=${dataDir} holds no cluster.json: is \`npm start -- ` +
      `--data-dir ${dataDir}\` running? Fix SYNOD_DATA_DIR (unset, it means .synod/), or give ` +
      'the cluster with --nats URL or NATS_URL', cl.command);
  }
  const natsUrl = cl.nats ?? nonEmpty(env['NATS_URL']) ?? file?.natsUrl ?? DEFAULT_NATS_URL;
  const cluster = cl.cluster ?? nonEmpty(env['SYNOD_CLUSTER']) ?? file?.cluster ?? 'synod';
  if (!TOKEN.test(cluster)) {
    throw new UsageError(`cluster name must be 1 to 64 characters of [A-Za-z0-9_-], got ` +
      `'${cluster}'`, cl.command);
  }
  const fromFile = cl.nats === undefined && nonEmpty(env['NATS_URL']) === undefined &&
    file?.natsUrl !== undefined ? ` in ${file.path}` : '';
  for (const url of natsUrl.split(',')) {
    if (!/^(nats|tls|wss?):\/\/[^\s]+$/.test(url) && !/^[^\s/:]+:[0-9]+$/.test(url)) {
      throw new UsageError(`not a NATS URL${fromFile}: '${url}' (expected e.g. ` +
        `${DEFAULT_NATS_URL})`, cl.command);
    }
  }
  const user = nonEmpty(env['NATS_USER']);
  const pass = nonEmpty(env['NATS_PASSWORD']);
  // The local cluster's acceptor count applies only when talking to that very cluster.
  const sameAsFile = file !== null && (file.cluster ?? 'synod') === cluster &&
    (file.natsUrl === undefined || file.natsUrl === natsUrl);
  return {
    natsUrl,
    cluster,
    timeoutMs: cl.timeoutMs ?? 5000,
    ...(user === undefined ? {} : { user }),
    ...(pass === undefined ? {} : { pass }),
    ...(sameAsFile && file.acceptors !== undefined ? { expectedAcceptors: file.acceptors } : {}),
    ...(sameAsFile && file.traces !== undefined ? { traces: file.traces } : {}),
  };
}
