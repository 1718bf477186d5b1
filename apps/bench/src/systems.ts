/**
 * The systems the bench drives, each started fresh on loopback and stopped by PID: Synod (a
 * LocalCluster), a 3-member etcd, and the hand-made phase 2 (`--substrate`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SynodClient } from '@synod/client';
import {
  freePort,
  LocalCluster,
  type NatsServer,
  type RedisServer,
  type ServiceProcess,
  spawnService,
  startNats,
  startRedis,
} from '@synod/testing';
import type { Target } from './ipc.js';
import type { Watched } from './procstat.js';

/** A running system under test. */
export interface System {
  readonly name: 'synod' | 'etcd' | 'substrate';
  /** Every process whose CPU and memory count (servers and services). */
  watched(): Watched[];
  /**
   * Counters the services keep (Synod: Ready persists and deliveries per role), summed by
   * `<role>.<counter>`; the bench takes their difference over a window.
   */
  counters?(): Promise<Record<string, number>>;
  /** What the load generator drives; `batch` is the substrate's values per round. */
  target(batch: number): Target;
  /** Services that exited while the system ran, each with its last lines (Synod). */
  failures?(): string[];
  stop(): Promise<void>;
}

const say = (s: string): void => {
  process.stderr.write(`bench: ${s}\n`);
};

/** Settings of the Synod cluster. */
export interface SynodSettings {
  readonly root: string;
  readonly proposers: number;
  /** Extra environment for every service (SYNOD_MAX_BATCH=...). */
  readonly env: Readonly<Record<string, string>>;
  /** Per-role extra environment (the CPU profiler). */
  readonly roleEnv: Partial<Record<'acceptor' | 'proposer' | 'learner', Record<string, string>>>;
  /** Whether the load generator's clients coalesce proposals (`--client-batching`). */
  readonly clientBatching: boolean;
  /** Analysis only (`--no-fsync`): Redis with `appendfsync no`, services told to accept it. */
  readonly noFsync?: boolean;
}

/** Bundles the three services (as `npm start` does) so that the cluster runs current code. */
function buildServices(root: string): void {
  const r = spawnSync(process.execPath,
    [join(root, 'tools', 'build-apps.mjs'), 'acceptor', 'proposer', 'learner'],
    { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error('building the services failed (see above)');
}

/** Starts NATS, one Redis (AOF always) per acceptor and learner, and every service. */
export async function startSynod(s: SynodSettings): Promise<System> {
  buildServices(s.root);
  const nats = await startNats();
  const lastLines: string[] = [];
  let cluster: LocalCluster;
  try {
    const dist = join(s.root, 'dist', 'apps');
    cluster = await LocalCluster.start({
      mains: {
        acceptor: join(dist, 'acceptor', 'main.js'),
        proposer: join(dist, 'proposer', 'main.js'),
        learner: join(dist, 'learner', 'main.js'),
      },
      natsUrl: nats.url, acceptors: 3, proposers: s.proposers, learners: 1, cluster: 'bench',
      env: {
        SYNOD_LOG_LEVEL: 'warn',
        ...(s.noFsync === true ? { SYNOD_DEV_ALLOW_NONDURABLE: 'true' } : {}),
        ...s.env,
      },
      ...(s.noFsync === true ? { redisAppendfsync: 'no' as const } : {}),
      roleEnv: s.roleEnv,
      onLine: (id, line) => {
        lastLines.push(`${id} ${line}`);
        if (lastLines.length > 50) lastLines.shift();
      },
    });
  } catch (e) {
    await nats.stop();
    throw e;
  }
  try {
    await waitForLeader(nats.url);
  } catch (e) {
    await cluster.stop();
    await nats.stop();
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n${lastLines.join('\n')}`);
  }
  const observer = await SynodClient.connect({ servers: nats.url, cluster: 'bench' });
  let stopping = false;
  const failures: string[] = [];
  for (const n of cluster.nodes.values()) {
    const proc = n.proc;
    if (proc === null) continue;
    void proc.exited.then((e) => {
      if (stopping) return;
      const text = `${n.id} (${n.role}) exited during the run (code ${String(e.code)}, signal ` +
        `${String(e.signal)}); its last lines:\n${proc.output(30)}`;
      failures.push(text);
      say(text);
    });
  }
  return {
    name: 'synod',
    failures: () => [...failures],
    async counters() {
      const st = await observer.status({ waitMs: 300, maxReplies: cluster.nodes.size });
      const out: Record<string, number> = {};
      for (const svc of st.services) {
        for (const k of ['persisted', 'delivered', 'sent']) {
          const v = (svc as unknown as Record<string, unknown>)[k];
          if (typeof v === 'number') out[`${svc.role}.${k}`] = (out[`${svc.role}.${k}`] ?? 0) + v;
        }
      }
      return out;
    },
    watched: () => [
      ...[...cluster.nodes.values()].flatMap((n) => [
        ...(n.proc === null ? [] : [{ id: n.id, role: n.role, pid: n.proc.pid }]),
        ...(n.redis === null ? [] : [{ id: `redis-${n.id}`, role: 'redis', pid: n.redis.pid }]),
      ]),
      { id: 'nats', role: 'nats', pid: nats.pid },
    ],
    target: () => ({
      kind: 'synod', natsUrl: nats.url, cluster: 'bench', batching: s.clientBatching,
    }),
    async stop() {
      stopping = true;
      await observer.close();
      await cluster.stop();
      await nats.stop();
    },
  };
}

/** Proposes until a leader answers (elections take a few hundred milliseconds). */
async function waitForLeader(natsUrl: string): Promise<void> {
  const client = await SynodClient.connect({
    servers: natsUrl, cluster: 'bench', timeoutMs: 30_000,
  });
  try {
    await client.propose('bench: warm-up');
  } finally {
    await client.close();
  }
}

// ---- etcd -------------------------------------------------------------------------------

function onPath(bin: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  const found = r.status === 0 ? r.stdout.trim() : '';
  if (found !== '') return found;
  for (const dir of ['/usr/bin', '/usr/local/bin', '/usr/sbin']) {
    if (existsSync(join(dir, bin))) return join(dir, bin);
  }
  return null;
}

/** Finds the etcd binary, installing Debian's `etcd-server` with apt-get when root. */
export function findEtcd(): string {
  const found = onPath('etcd');
  if (found !== null) return found;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || onPath('apt-get') === null) {
    throw new Error('etcd not found; install it with: sudo apt-get install -y etcd-server');
  }
  say('etcd not found: apt-get install -y etcd-server');
  const install = (): number => spawnSync('sh', ['-c',
    'DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends etcd-server'],
  { stdio: ['ignore', 'ignore', 'inherit'] }).status ?? 1;
  if (install() !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'ignore' });
    if (install() !== 0) throw new Error('apt-get install etcd-server failed');
  }
  const now = onPath('etcd');
  if (now === null) throw new Error('etcd-server was installed but no etcd binary was found');
  return now;
}

function etcdHealthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('"true"')));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/**
 * Starts a 3-member etcd on free loopback ports with temp data dirs. Durability is etcd's
 * default: the WAL is fsync'd before a put is acknowledged.
 */
export async function startEtcd(): Promise<System> {
  const bin = findEtcd();
  const dir = mkdtempSync(join(tmpdir(), 'synod-bench-etcd-'));
  const names = ['e1', 'e2', 'e3'];
  const ports: Array<{ client: number; peer: number }> = [];
  for (let i = 0; i < names.length; i++) {
    ports.push({ client: await freePort(), peer: await freePort() });
  }
  const peerUrl = (i: number): string => `http://127.0.0.1:${ports[i]?.peer}`;
  const initial = names.map((n, i) => `${n}=${peerUrl(i)}`).join(',');
  const token = `bench-${process.pid}-${Date.now()}`;
  const procs: ServiceProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map((p) => p.stop(5000)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const [i, name] of names.entries()) {
      const client = `http://127.0.0.1:${ports[i]?.client}`;
      procs.push(await spawnService(bin, [
        '--name', name, '--data-dir', join(dir, name),
        '--listen-client-urls', client, '--advertise-client-urls', client,
        '--listen-peer-urls', peerUrl(i), '--initial-advertise-peer-urls', peerUrl(i),
        '--initial-cluster', initial, '--initial-cluster-state', 'new',
        '--initial-cluster-token', token, '--logger', 'zap', '--log-level', 'warn',
        // Bounded history, as any long-running etcd is configured.
        '--auto-compaction-mode', 'revision', '--auto-compaction-retention', '100000',
      ]));
    }
    const deadline = Date.now() + 30_000;
    for (const [i, p] of procs.entries()) {
      while (!(await etcdHealthy(ports[i]?.client ?? 0))) {
        if (!p.running()) throw new Error(`etcd ${names[i]} exited:\n${p.output(20)}`);
        if (Date.now() > deadline) throw new Error(`etcd not healthy in 30 s:\n${p.output(20)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    name: 'etcd',
    watched: () => procs.map((p, i) => ({ id: names[i] ?? 'etcd', role: 'etcd', pid: p.pid })),
    target: () => ({
      kind: 'etcd', endpoints: ports.map((p) => `http://127.0.0.1:${p.client}`),
    }),
    stop,
  };
}

// ---- the hand-made phase 2 --------------------------------------------------------------

/** Starts NATS, three Redis servers (AOF always) and three repliers (replier.worker.js). */
export async function startSubstrate(benchDir: string): Promise<System> {
  const nats: NatsServer = await startNats();
  const redis: RedisServer[] = [];
  const repliers: ServiceProcess[] = [];
  const prefix = 'bench.p2';
  const stop = async (): Promise<void> => {
    await Promise.all(repliers.map((p) => p.stop(5000)));
    await Promise.all(redis.map((r) => r.stop()));
    await nats.stop();
  };
  try {
    for (const id of ['r1', 'r2', 'r3']) {
      const r = await startRedis();
      redis.push(r);
      const p = await spawnService(process.execPath, [join(benchDir, 'replier.worker.js')], {
        NATS_URL: nats.url, REDIS_URL: r.url, BENCH_REPLIER_ID: id, BENCH_PREFIX: prefix,
      });
      repliers.push(p);
      await p.waitForLine(/ready/, 15_000);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    name: 'substrate',
    watched: () => [
      ...repliers.map((p, i) => ({ id: `r${i + 1}`, role: 'replier', pid: p.pid })),
      ...redis.map((r, i) => ({ id: `redis-r${i + 1}`, role: 'redis', pid: r.pid })),
      { id: 'nats', role: 'nats', pid: nats.pid },
    ],
    target: (batch) => ({ kind: 'substrate', natsUrl: nats.url, prefix, batch, quorum: 2 }),
    stop,
  };
}
