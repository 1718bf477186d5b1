import { appendFileSync, mkdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type OtlpReceiver, startOtlpReceiver } from '@synod/telemetry';
import {
  LocalCluster, natsAnswers, parentDeathSignalSupported, probeTcp, redisAnswers,
} from '@synod/testing';
import {
  parseEnvUrls, refuseLeftovers, refuseSharedCluster, RUNNER_DIR_ENV, writeFileAtomic,
} from './guards.js';
import { lockDataDir } from './lock.js';
import { checkClusterName, checkDataShape } from './shape.js';

/**
 * The help text: a plain file, so that tools/start.mjs prints it at once, before it installs or
 * builds anything.
 */
const HELP_FILE = 'apps/local/help.txt';


interface LogLine {
  time?: string;
  level?: string;
  node?: string;
  msg?: string;
  [k: string]: unknown;
}

const COLORS: Record<string, string> = { a: '36', p: '35', l: '33' };

function pretty(id: string, raw: string, tty: boolean): string | null {
  let o: LogLine;
  try {
    o = JSON.parse(raw) as LogLine;
  } catch {
    return `${id.padEnd(4)} ${raw}`;
  }
  if (o.level === 'debug') return null;
  const t = (o.time ?? '').slice(11, 23);
  const { time: _t, level, node: _n, msg, service: _s, pid: _p, hostname: _h, ...rest } = o;
  const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest).slice(0, 160)}` : '';
  const tag = tty ? `\x1b[${COLORS[id[0] ?? ''] ?? '37'}m${id.padEnd(4)}\x1b[0m` : id.padEnd(4);
  const lvl = level === 'info' ? '' : `${(level ?? '').toUpperCase()} `;
  return `${t} ${tag} ${lvl}${msg ?? ''}${extra}`;
}

/** What `.synod/cluster.json` says: where NATS is, each service's PID, health URL and Redis. */
function describe(cluster: LocalCluster, redisUrl: string | undefined): {
  cluster: string; natsUrl: string; pid: number;
  services: Array<{
    id: string; role: string; pid: number | null; health: string; redis: string | null;
  }>;
} {
  return {
    cluster: cluster.cluster, natsUrl: cluster.natsUrl, pid: process.pid,
    services: [...cluster.nodes.values()].map((n) => ({
      id: n.id, role: n.role, pid: n.proc?.pid ?? null, health: `http://127.0.0.1:${n.healthPort}`,
      redis: n.redis?.url ?? (n.role === 'proposer' ? null : redisUrl ?? null),
    })),
  };
}

/**
 * Refuses a `REDIS_URL` whose Redis does not fsync every write: the acceptors and the learner
 * would refuse it (NOT_DURABLE) and be restarted forever while this waited for them. Skipped
 * when the Redis wants a password (the services then tell) or with SYNOD_DEV_ALLOW_NONDURABLE.
 */
async function checkDurable(url: string): Promise<void> {
  if (/^(1|true|yes|on)$/i.test(process.env['SYNOD_DEV_ALLOW_NONDURABLE'] ?? '')) return;
  const u = new URL(url);
  const reply = await probeTcp(u.hostname, Number(u.port || 6379),
    { send: 'CONFIG GET append*\r\n', timeoutMs: 1000 });
  if (reply === undefined || !reply.startsWith('*')) return;
  const value = (name: string): string | undefined =>
    new RegExp(`\\$\\d+\\r\\n${name}\\r\\n\\$\\d+\\r\\n([^\\r]*)\\r\\n`).exec(reply)?.[1];
  const appendonly = value('appendonly');
  const appendfsync = value('appendfsync');
  if (appendonly === 'yes' && appendfsync === 'always') return;
  const where = `${u.hostname}:${u.port || 6379}`;
  throw new Error(`the Redis of REDIS_URL (${where}) runs with appendonly ${appendonly ?? '?'}, ` +
    `appendfsync ${appendfsync ?? '?'}: Synod's votes must be on disk before they are sent. ` +
    `Fix: redis-cli -h ${u.hostname} -p ${u.port || 6379} CONFIG SET appendonly yes, then ` +
    'CONFIG SET appendfsync always (and put both in its redis.conf); or unset REDIS_URL to ' +
    'let npm start run its own Redis servers; or, for a throwaway test only, ' +
    'SYNOD_DEV_ALLOW_NONDURABLE=1')
}

/**
 * The URL of `NATS_URL` or `REDIS_URL` when it is set and its server answers. When it is set but
 * does not answer, says so (npm start then runs its own server; the CLI would still use it).
 */
async function usable(name: 'NATS_URL' | 'REDIS_URL',
  target: { url: string; host: string; port: number } | undefined,
  probe: (h: string, p: number) => Promise<boolean>): Promise<string | undefined> {
  if (target === undefined) return undefined;
  if (await probe(target.host, target.port)) return target.url;
  const cli = name === 'NATS_URL'
    ? '\n  The CLI (npx synod) and npm run admin still use NATS_URL: unset NATS_URL, or ' +
      'export NATS_URL=<the NATS of the banner below>.'
    : '';
  process.stderr.write(`WARNING: ${name}=${target.url} was set but did not answer: not used; ` +
    `npm start runs its own ${name === 'NATS_URL' ? 'NATS' : 'Redis servers'}.${cli}\n` +
    `  To use that server instead, start it and run npm start again; to silence this, unset ` +
    `${name}.\n`);
  return undefined;
}

/**
 * The local span receiver, unless spans go elsewhere (`OTEL_EXPORTER_OTLP_ENDPOINT` set),
 * telemetry is off, or `--no-traces`: the services export to it, it appends to
 * `<base>/traces/spans.ndjson`, and `synod trace` reads that file.
 */
async function startTraceReceiver(base: string, off: boolean):
  Promise<{ receiver: OtlpReceiver; file: string; env: Record<string, string> } | null> {
  const env = process.env;
  const elsewhere = (env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? '') !== '' ||
    (env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ?? '') !== '';
  if (off || elsewhere || env['OTEL_SDK_DISABLED'] === 'true') return null;
  const file = join(base, 'traces', 'spans.ndjson');
  const receiver = await startOtlpReceiver({ file });
  return {
    receiver, file,
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      // Spans reach the file within a fraction of a second of the round.
      OTEL_BSP_SCHEDULE_DELAY: env['OTEL_BSP_SCHEDULE_DELAY'] ?? '200',
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      acceptors: { type: 'string' }, proposers: { type: 'string' }, learners: { type: 'string' },
      cluster: { type: 'string' }, 'data-dir': { type: 'string' }, fresh: { type: 'boolean' },
      quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      'no-traces': { type: 'boolean' },
    },
  });
  const root = resolve(__dirname, '../../..');
  if (values.help === true) {
    process.stdout.write(readFileSync(join(root, HELP_FILE), 'utf8'));
    return;
  }
  // Every flag and variable is checked before anything is written (the lock, the data dir's
  // shape): a start refused for a typo leaves the data dir as it was.
  const count = (name: string, v: string | undefined, d: number): number => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isSafeInteger(n) || n < 1 || n > 9) {
      throw new Error(`--${name} ${v}: must be a whole number from 1 to 9, e.g. --${name} ${d}`);
    }
    return n;
  };
  const acceptors = count('acceptors', values.acceptors, 3);
  const proposers = count('proposers', values.proposers, 2);
  const learners = count('learners', values.learners, 1);
  const clusterName = values.cluster ?? 'synod';
  checkClusterName(clusterName);
  const envUrls = parseEnvUrls(process.env);
  const base = resolve(values['data-dir'] ?? join(root, '.synod'));
  // What tells synod and npm run admin where this cluster is: nothing for the default dir.
  const dataDirEnv = base === join(root, '.synod') ? '' : `SYNOD_DATA_DIR=${base} `;
  if (values.fresh === true && envUrls.redis !== undefined) {
    // The acceptors' state lives in that Redis, not in the data dir: wiping only the data dir
    // would start "new" acceptors that still hold the old cluster's votes.
    const data = join(base, 'data');
    throw new Error(`--fresh cannot wipe the shared REDIS_URL, where this cluster's state ` +
      `lives. Start anew by hand: delete its keys there (redis-cli --scan --pattern ` +
      `'synod:{${clusterName}}:*' | xargs -r redis-cli del) and the data dir ` +
      `(rm -r ${data}), then ` +
      'start without --fresh; or use another --cluster');
  }
  const releaseLock = lockDataDir(base);
  process.on('exit', releaseLock);
  // The lock's holder is gone; its children may not be (see refuseLeftovers). Real paths on
  // both sides: a start through a symlink finds the processes of one through the real path.
  const realBase = realpathSync(base);
  await refuseLeftovers(realBase);
  // Every process started from here on carries the data dir: a later start finds leftovers.
  process.env[RUNNER_DIR_ENV] = realBase;
  const natsUrl = await usable('NATS_URL', envUrls.nats, natsAnswers);
  const redisUrl = await usable('REDIS_URL', envUrls.redis, redisAnswers);
  if (redisUrl !== undefined) await checkDurable(redisUrl);
  if (natsUrl !== undefined) await refuseSharedCluster(natsUrl, clusterName, process.env);
  if (values.fresh === true) {
    rmSync(join(base, 'data'), { recursive: true, force: true });
    rmSync(join(base, 'traces'), { recursive: true, force: true });
  }
  // Before anything starts: a data dir made for another cluster name or acceptor count is
  // refused (a different acceptor set could choose a slot twice).
  const dataDir = join(base, 'data');
  const initRecord = (id: string): string => join(dataDir, `acceptor-${id}.initialised`);
  checkDataShape(dataDir, { cluster: clusterName, acceptors }, initRecord);
  const logDir = join(base, 'logs');
  mkdirSync(logDir, { recursive: true });
  if (redisUrl !== undefined) {
    process.stderr.write('WARNING: REDIS_URL is shared by every acceptor: fine for development,\n' +
      'but one Redis failure then erases a quorum. Production gives each acceptor its own.\n');
  }
  const tty = process.stdout.isTTY === true;
  const quiet = values.quiet === true;
  const dist = join(root, 'dist', 'apps');
  const traces = await startTraceReceiver(base, values['no-traces'] === true);
  // Where `synod trace` reads spans, and where a local client may export its own.
  const tracesInfo = traces === null ? null
    : { file: traces.file, otlpEndpoint: traces.receiver.url };
  const clusterFile = join(base, 'cluster.json');
  let started: LocalCluster | null = null;
  const writeInfo = (): void => {
    if (started === null) return;
    writeFileAtomic(clusterFile,
      JSON.stringify({ ...describe(started, redisUrl), traces: tracesInfo }, null, 2) + '\n');
  };
  // Stopping: set up before the cluster starts, so that a signal, or the death of the parent
  // (npm, tools/start.mjs, a script), while it starts stops it as soon as it is up.
  let cluster: LocalCluster | null = null;
  let stopping = false;
  let pending: string | null = null;
  const stop = (why: string): void => {
    if (cluster === null) {
      if (pending !== null) return;
      pending = why;
      process.stdout.write(`\n${why}: stopping as soon as it has started...\n`);
      return;
    }
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${why}: stopping services, Redis and NATS...\n`);
    void cluster.stop().then(async () => {
      await traces?.receiver.close();
      rmSync(clusterFile, { force: true });
      process.stdout.write('stopped.\n');
      process.exit(0);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // The terminal closed: stop everything as for Ctrl-C (nats-server and redis-server would
  // otherwise outlive the runner, holding the data directory). Its output has nowhere to go.
  process.on('SIGHUP', () => {
    process.stdout.on('error', () => undefined);
    process.stderr.on('error', () => undefined);
    stop('SIGHUP');
  });
  // The parent died (npm killed by SIGTERM or SIGKILL, a script's shell gone): this process was
  // handed to another parent. Stop as for Ctrl-C rather than run on orphaned, holding the lock.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop(`parent process ${parent} exited`);
  }, 1000).unref();
  process.stdout.write('starting Synod...\n');
  cluster = await LocalCluster.start({
    mains: {
      acceptor: join(dist, 'acceptor', 'main.js'),
      proposer: join(dist, 'proposer', 'main.js'),
      learner: join(dist, 'learner', 'main.js'),
    },
    acceptors,
    proposers,
    learners,
    // None of them outlives this runner, even killed with -9 (Linux with setpriv; elsewhere,
    // the next start finds them: refuseLeftovers). SIGKILL, not SIGTERM: a service's output is
    // this runner's pipe, and with the runner gone a graceful stop blocks on its first log line
    // for ever. Nothing is lost: a vote is on disk (appendfsync always) before it is sent.
    parentDeathSignal: 'SIGKILL',
    cluster: clusterName,
    dataDir,
    initRecord,
    // An acceptor refusing to vote (AMNESIA, awaiting readmission) does not keep the cluster
    // down: with a majority voting it starts, and says how to readmit the others.
    acceptorMajority: { graceMs: 10_000 },
    supervise: true,
    onSpawn: () => writeInfo(),
    ...(natsUrl === undefined ? {} : { natsUrl }),
    ...(redisUrl === undefined ? {} : { redisUrl }),
    env: {
      ...Object.fromEntries(Object.entries(process.env)
        .filter((e): e is [string, string] => e[0].startsWith('OTEL_') && e[1] !== undefined)),
      ...traces?.env,
    },
    // What the supervisor did (a service or a server died, restarted): shown even with --quiet.
    onEvent: (id, line) => {
      appendFileSync(join(logDir, `${id}.log`), `${line}\n`);
      process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${id.padEnd(4)} ${line}\n`);
    },
    onLine: (id, line) => {
      appendFileSync(join(logDir, `${id}.log`), `${line}\n`);
      if (quiet) return;
      const p = pretty(id, line, tty);
      if (p !== null) process.stdout.write(`${p}\n`);
    },
  });
  started = cluster;
  writeInfo();
  if (pending !== null) {
    stop(pending);
    return;
  }
  for (const id of cluster.notReadyAcceptors) {
    const why = (await cluster.health(id, '/readyz').catch(() => ({ body: '' }))).body.trim();
    process.stderr.write(`WARNING: acceptor ${id} runs but does not vote${why === '' ? ''
      : `: ${why.slice(0, 300)}`}\n  A majority votes, so the cluster serves. If it lost its ` +
      `data, readmit it from another terminal:\n    ${dataDirEnv}npm run admin -- ` +
      `readmit --acceptor ${id}\n  (docs/operations.md#readmit)\n`);
  }
  const info = describe(cluster, redisUrl);
  // With --data-dir elsewhere, synod and npm run admin find this cluster through SYNOD_DATA_DIR.
  const dataDirHint = (dataDirEnv === '' ? ''
    : `\n  export ${dataDirEnv.trim()}   # so that synod and npm run admin find this cluster`) +
    // An unanswered NATS_URL (not used here) would still be used by synod: it wins over the file.
    (envUrls.nats === undefined || natsUrl !== undefined ? ''
      : `\n  export NATS_URL=${cluster.natsUrl}   # yours (${envUrls.nats.url}) did not answer`);
  if (!parentDeathSignalSupported()) {
    process.stderr.write('NOTE: no parent-death signal here (it needs Linux and setpriv, from ' +
      'util-linux): if this runner is killed with -9, NATS, Redis and the services run on; ' +
      (process.platform === 'linux' ? 'a later npm start on this data dir names them and ' +
        'refuses to start until they are stopped.\n'
        : `stop them before starting again: the services by the pids in ${clusterFile}, and ` +
          `the nats-server and redis-servers started from ${base} (ps shows them).\n`));
  }
  const rows = info.services.map((s) =>
    `  ${s.id.padEnd(4)} ${s.role.padEnd(9)} pid ${String(s.pid).padEnd(8)} ${s.health}` +
    `${s.redis === null ? '' : `  ${s.redis}`}`);
  process.stdout.write(`
Synod is up: cluster '${cluster.cluster}', NATS ${cluster.natsUrl}
${rows.join('\n')}
  data ${dataDir}   logs ${logDir}

From another terminal:${dataDirHint}
  npx synod propose hello      # choose a value; prints its slot
  npx synod read 0             # read slot 0 from a learner
  npx synod watch --from 0     # follow the log
  npx synod status             # leader, acceptors, last chosen slot
  npx synod trace <request-id> # one round as a timeline (the id that propose prints)
  npm run demo                 # a scripted story against this cluster

Ctrl-C stops everything; from a script: kill -INT ${process.pid} (this runner, the "pid" in
${clusterFile}; not npm's pid, which does not pass SIGINT on).
`);
}

main().catch((e: unknown) => {
  process.stderr.write(`npm start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
