import {
  readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync,
} from 'node:fs';
import { join, sep } from 'node:path';
import { SynodClient } from '@synod/client';
import { statusSubject } from '@synod/runtime';

/**
 * Set in the runner's environment, so that every process it starts (nats-server, redis-servers,
 * services) carries the data directory it belongs to: {@link findLeftovers} finds them by it.
 */
export const RUNNER_DIR_ENV = 'SYNOD_LOCAL_RUNNER_DIR';

/** A process of an earlier `npm start` on this data directory that still runs. */
export interface Leftover {
  readonly pid: number;
  readonly command: string;
}

/**
 * The processes of an earlier `npm start` on the data directory `base` that still run (Linux,
 * through /proc; elsewhere none are found): those whose environment names `base` in
 * {@link RUNNER_DIR_ENV}, and any redis-server working in `<base>/data` (started by a runner
 * from before that variable). A process of another user cannot be read, and is not ours.
 */
export function findLeftovers(base: string): Leftover[] {
  let pids: number[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  } catch {
    return [];
  }
  const marker = `${RUNNER_DIR_ENV}=${base}`;
  const dataDir = join(base, 'data') + sep;
  const found: Leftover[] = [];
  for (const pid of pids) {
    if (pid === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      const ours = environ.includes(marker) ||
        (comm.startsWith('redis-server') && `${readlinkSync(`/proc/${pid}/cwd`)}${sep}`
          .startsWith(dataDir));
      if (!ours) continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
        .filter((a) => a !== '').join(' ');
      found.push({ pid, command: (cmdline === '' ? comm : cmdline).slice(0, 120) });
    } catch {
      // gone meanwhile, or another user's
    }
  }
  return found;
}

/**
 * Throws, naming them and how to stop them, when processes of an earlier `npm start` on `base`
 * still run (its runner was killed with -9 where a parent-death signal could not be set, or they
 * did not exit on it): a second set of redis-servers would write the same AOF files. Waits up
 * to `graceMs` for processes that are exiting (a runner just killed: its children got SIGTERM).
 */
export async function refuseLeftovers(base: string, graceMs = 5000): Promise<void> {
  const until = Date.now() + graceMs;
  let left = findLeftovers(base);
  while (left.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 200));
    left = findLeftovers(base);
  }
  if (left.length === 0) return;
  throw new Error(`processes of an earlier npm start on ${base} still run (its runner is ` +
    `gone):\n${left.map((l) => `  pid ${l.pid}: ${l.command}`).join('\n')}\nA second cluster ` +
    'would share their Redis data. Stop them first: kill ' +
    `${left.map((l) => l.pid).join(' ')}   (then npm start again)`);
}

/**
 * Writes `file` whole or not at all: a temp file beside it, then renamed over it. A reader (the
 * CLI, the demos) sees the old content or the new, never half of it.
 */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Checks the syntax of `NATS_URL` (a comma-separated list of `nats://host:port` or `host:port`)
 * and `REDIS_URL` (`redis://[user:password@]host:port`) when set; returns the host and port of
 * each set one to probe. Throws naming the variable, the expected form and the fix.
 */
export function parseEnvUrls(env: Readonly<Record<string, string | undefined>>): {
  nats?: { url: string; host: string; port: number };
  redis?: { url: string; host: string; port: number };
} {
  const out: ReturnType<typeof parseEnvUrls> = {};
  const nats = env['NATS_URL'] ?? '';
  if (nats !== '') {
    const first = hostPort(nats.split(',')[0]?.trim() ?? '', /^(nats|tls|wss?):$/, 4222);
    const all = nats.split(',').every((u) =>
      hostPort(u.trim(), /^(nats|tls|wss?):$/, 4222) !== undefined);
    if (first === undefined || !all) {
      throw new Error(`NATS_URL=${nats} is not a NATS URL: expected nats://host:port (or a ` +
        'comma-separated list of them), e.g. nats://127.0.0.1:4222; or unset NATS_URL to let ' +
        'npm start run its own NATS');
    }
    out.nats = { url: nats, ...first };
  }
  const redis = env['REDIS_URL'] ?? '';
  if (redis !== '') {
    const hp = hostPort(redis, /^rediss?:$/, 6379);
    if (hp === undefined || !/^rediss?:\/\//.test(redis)) {
      throw new Error(`REDIS_URL=${redis} is not a Redis URL: expected ` +
        'redis://[user:password@]host:port, e.g. redis://127.0.0.1:6379; or unset REDIS_URL ' +
        'to let npm start run a Redis of its own for each acceptor and learner');
    }
    out.redis = { url: redis, ...hp };
  }
  return out;
}

/** Host and port of `url` (`scheme://host[:port]` with a scheme `scheme` accepts, or host:port). */
function hostPort(url: string, scheme: RegExp, defaultPort: number):
  { host: string; port: number } | undefined {
  try {
    const u = new URL(url.includes('://') ? url : `tcp://${url}`);
    if (url.includes('://') && !scheme.test(u.protocol)) return undefined;
    if (!url.includes('://') && u.port === '') return undefined;
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = u.port === '' ? defaultPort : Number(u.port);
    return host === '' || !Number.isInteger(port) ? undefined : { host, port };
  } catch {
    return undefined;
  }
}

/**
 * Throws when services of cluster `cluster` already answer on the NATS at `natsUrl` (another
 * `npm start`, or a deployment, on the same cluster name): a second set of a1, p1, l1... would
 * join that cluster under the same ids (proposers pre-empting each other, two acceptors a1).
 * Asks `synod.<cluster>.status` and waits `waitMs` for answers.
 */
export async function refuseSharedCluster(natsUrl: string, cluster: string,
  env: Readonly<Record<string, string | undefined>>, waitMs = 700): Promise<void> {
  const user = env['NATS_USER'] ?? '';
  const pass = env['NATS_PASSWORD'] ?? '';
  let client: SynodClient;
  try {
    client = await SynodClient.connect({
      servers: natsUrl.split(',').map((s) => s.trim()), cluster, timeoutMs: 3000,
      ...(user === '' ? {} : { user }), ...(pass === '' ? {} : { pass }),
    });
  } catch (e) {
    throw new Error(`NATS_URL=${natsUrl} answers but refuses a client: ` +
      `${e instanceof Error ? e.message : String(e)}. Fix NATS_USER/NATS_PASSWORD, or unset ` +
      'NATS_URL to let npm start run its own NATS');
  }
  let answered: readonly { role: string; id: string }[];
  try {
    answered = (await client.status({ waitMs })).services;
  } finally {
    await client.close();
  }
  if (answered.length === 0) return;
  const who = answered.map((s) => `${s.role} ${s.id}`).join(', ');
  throw new Error(`cluster '${cluster}' already runs on NATS_URL=${natsUrl}: ${who} answered ` +
    `on ${statusSubject(cluster)}. Services started here would join it under the same ids ` +
    `(two ${answered[0]?.id ?? 'a1'}, proposers pre-empting each other). Start this one ` +
    'under a name of its own (npm start -- --cluster <other name>), or unset NATS_URL to ' +
    'let npm start run its own NATS');
}
