import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type OtlpReceiver, startOtlpReceiver } from '@synod/telemetry';
import { LocalCluster, natsAnswers, probeTcp, redisAnswers } from '@synod/testing';
import { lockDataDir } from './lock.js';
import { checkDataShape } from './shape.js';

const HELP = `npm start: run a whole Synod cluster on this machine

Starts nats-server, one redis-server per acceptor and per learner (appendonly yes,
appendfsync always), then every service as its own OS process, restarts any that dies
(a redis-server or the nats-server on the same port, with the same data, after a back-off),
and serves until Ctrl-C, when it stops everything it started.

To stop it from a script, send SIGINT or SIGTERM to the runner: the "pid" in
<data-dir>/cluster.json (also in <data-dir>/npm-start.lock), printed in the start banner.
Not npm's pid: npm does not pass SIGINT on. It also stops by itself, as on Ctrl-C, within
about a second of its parent process dying (npm killed, its terminal gone).

Usage: npm start -- [options]

Options:
  --acceptors N    acceptors (default 3); a data dir keeps the number it was made with
                   (and its --cluster): another is refused, --fresh starts anew
  --proposers N    proposers (default 2)
  --learners N     learners (default 1)
  --cluster NAME   cluster name (default synod)
  --data-dir DIR   where Redis data and logs live (default .synod/); tell synod and
                   npm run admin with SYNOD_DATA_DIR=DIR
  --fresh          wipe the data dir first (a new, empty log, no old traces)
  --quiet          print only the summary, not the services' log lines
  --no-traces      do not collect spans locally (no \`synod trace\`)
  -h, --help       this help

Environment:
  NATS_URL    use this NATS server when it answers, instead of starting one
  REDIS_URL   use this one Redis for every node when it answers (development only)
  OTEL_*      passed through to the services. Without OTEL_EXPORTER_OTLP_ENDPOINT, the
              services export their spans to a small OTLP/HTTP receiver run here, which
              keeps them in <data-dir>/traces/spans.ndjson for \`synod trace\`.`;

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

async function usable(url: string | undefined, probe: (h: string, p: number) => Promise<boolean>):
  Promise<string | undefined> {
  if (url === undefined || url === '') return undefined;
  const u = new URL(url);
  return (await probe(u.hostname, Number(u.port))) ? url : undefined;
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
  if (values.help === true) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const count = (name: string, v: string | undefined, d: number): number => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isSafeInteger(n) || n < 1 || n > 9) throw new Error(`--${name} must be 1..9`);
    return n;
  };
  const root = resolve(__dirname, '../../..');
  const base = resolve(values['data-dir'] ?? join(root, '.synod'));
  // What tells synod and npm run admin where this cluster is: nothing for the default dir.
  const dataDirEnv = base === join(root, '.synod') ? '' : `SYNOD_DATA_DIR=${base} `;
  const releaseLock = lockDataDir(base);
  process.on('exit', releaseLock);
  if (values.fresh === true && process.env['REDIS_URL'] !== undefined &&
    process.env['REDIS_URL'] !== '') {
    // The acceptors' state lives in that Redis, not in the data dir: wiping only the data dir
    // would start "new" acceptors that still hold the old cluster's votes.
    const name = values.cluster ?? 'synod';
    const data = join(base, 'data');
    throw new Error(`--fresh cannot wipe the shared REDIS_URL, where this cluster's state ` +
      `lives. Start anew by hand: delete its keys there (redis-cli --scan --pattern ` +
      `'synod:{${name}}:*' | xargs -r redis-cli del) and the data dir (rm -r ${data}), then ` +
      'start without --fresh; or use another --cluster');
  }
  if (values.fresh === true) {
    rmSync(join(base, 'data'), { recursive: true, force: true });
    rmSync(join(base, 'traces'), { recursive: true, force: true });
  }
  // Before anything starts: a data dir made for another cluster name or acceptor count is
  // refused (a different acceptor set could choose a slot twice).
  const dataDir = join(base, 'data');
  const acceptors = count('acceptors', values.acceptors, 3);
  const clusterName = values.cluster ?? 'synod';
  const initRecord = (id: string): string => join(dataDir, `acceptor-${id}.initialised`);
  checkDataShape(dataDir, { cluster: clusterName, acceptors }, initRecord);
  const logDir = join(base, 'logs');
  mkdirSync(logDir, { recursive: true });
  const natsUrl = await usable(process.env['NATS_URL'], natsAnswers);
  const redisUrl = await usable(process.env['REDIS_URL'], redisAnswers);
  if (redisUrl !== undefined) await checkDurable(redisUrl);
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
    writeFileSync(clusterFile,
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
    proposers: count('proposers', values.proposers, 2),
    learners: count('learners', values.learners, 1),
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
  const dataDirHint = dataDirEnv === '' ? ''
    : `\n  export ${dataDirEnv.trim()}   # so that synod and npm run admin find this cluster`;
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
