import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNats, type NatsServer } from './infra/nats.js';
import { freePort, sleep } from './infra/net.js';
import { type RedisServer, startRedis } from './infra/redis.js';
import { type ServiceProcess, spawnService } from './infra/service.js';

/** The three service roles. */
export type ServiceRole = 'acceptor' | 'proposer' | 'learner';

/** User name and password of one login (NATS user, Redis ACL user). */
export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** A node's Redis ACL (see {@link LocalClusterOptions.redisAcl}). */
export interface RedisAclSetup extends Credentials {
  /** The whole ACL file that the node's redis-server starts with (`--aclfile`). */
  readonly acl: string;
}

/** Settings of a {@link LocalCluster}. */
export interface LocalClusterOptions {
  /** Path of the bundled `main.js` of each role (build them first: tools/build-apps.mjs). */
  readonly mains: Readonly<Record<ServiceRole, string>>;
  readonly acceptors?: number;
  readonly proposers?: number;
  readonly learners?: number;
  readonly cluster?: string;
  /** Where Redis keeps each node's data; kept across runs. Default: temp dirs. */
  readonly dataDir?: string;
  /**
   * With `dataDir`: the file that records that acceptor `id` was initialised
   * (`SYNOD_ACCEPTOR_INIT_RECORD`): the acceptor may take an empty Redis for a new member until
   * it has written its marker and this file, and never after. Without it, an acceptor whose
   * Redis directory did not exist yet is started once with `SYNOD_ACCEPTOR_INIT=true`, so a
   * first start that failed before the acceptor wrote its marker leaves it refusing to vote.
   */
  readonly initRecord?: (acceptorId: string) => string;
  /** Use this NATS instead of starting one. */
  readonly natsUrl?: string;
  /**
   * Use this one Redis for every acceptor and learner instead of one each (development only:
   * a Redis shared by acceptors is a single failure that can erase a quorum's memory).
   */
  readonly redisUrl?: string;
  /** For durability-guard tests: the fsync policy of the Redis servers it starts. */
  readonly redisAppendfsync?: 'always' | 'everysec' | 'no';
  /** Port for the NATS server it starts (default: 4222 when free, else any). */
  readonly natsPort?: number;
  readonly tickMs?: number;
  /** Extra environment for every service (e.g. OTEL_*), or per role. */
  readonly env?: Readonly<Record<string, string>>;
  readonly roleEnv?: Partial<Readonly<Record<ServiceRole, Readonly<Record<string, string>>>>>;
  /** Receives every output line of every service. */
  readonly onLine?: (id: string, line: string) => void;
  /** Called after a service (re)started, e.g. to record its new PID. */
  readonly onSpawn?: (node: LocalNode) => void;
  /** Wait for every service to be ready before `start` resolves. Default true. */
  readonly waitReady?: boolean;
  /**
   * With `waitReady`: start when every other service and a majority of the acceptors are
   * ready, the others running but refusing (e.g. AMNESIA, awaiting readmission), after
   * `graceMs` of waiting for them all (default false: every acceptor must be ready).
   */
  readonly acceptorMajority?: { readonly graceMs: number };
  /**
   * Restart a service, a redis-server or the nats-server it started that dies on its own (like a
   * supervisor); a server comes back on the same port with the same data dir and arguments, after
   * a back-off. Default false.
   */
  readonly supervise?: boolean;
  /**
   * Receives what the supervisor does (a service or server died, restarted), with the node's id
   * (`nats` for the nats-server). Default: {@link onLine}.
   */
  readonly onEvent?: (id: string, line: string) => void;
  /**
   * Configuration text for the NATS server it starts, e.g. an `authorization` block with users
   * and permissions (docs/security.md). Not used with {@link natsUrl}.
   */
  readonly natsConfig?: string;
  /** The NATS login of each service (`NATS_USER`, `NATS_PASSWORD`); default none. */
  readonly natsCredentials?: (role: ServiceRole, id: string) => Credentials;
  /**
   * A Redis ACL for the Redis of each acceptor and learner: its redis-server starts with the
   * ACL file, and the node connects as the given user (`REDIS_URL` carries the credentials).
   * Not used with {@link redisUrl}.
   */
  readonly redisAcl?: (role: 'acceptor' | 'learner', id: string) => RedisAclSetup;
  /**
   * The signal every process it starts (nats-server, redis-servers, services) gets when this
   * process dies, even by SIGKILL, so that none outlives it (Linux with util-linux's setpriv:
   * `PR_SET_PDEATHSIG`; elsewhere, or without setpriv, they outlive a killed parent; see
   * `parentDeathSignalSupported`). Default none.
   */
  readonly parentDeathSignal?: NodeJS.Signals;
}

/** One service of the cluster. */
export interface LocalNode {
  readonly id: string;
  readonly role: ServiceRole;
  readonly healthPort: number;
  readonly env: Readonly<Record<string, string>>;
  /** The node's own Redis (acceptors and learners). */
  readonly redis: RedisServer | null;
  proc: ServiceProcess | null;
}

/**
 * A whole Synod cluster on this machine: one nats-server, one redis-server (AOF always) per
 * acceptor and per learner, and every service as its own OS process. Used by `npm start` and
 * by the integration tests; everything it starts it stops, by PID.
 */
export class LocalCluster {
  readonly nodes = new Map<string, LocalNode>();
  readonly cluster: string;
  private stopping = false;
  /** Temp dirs holding ACL files, removed by `stop()`. */
  private readonly aclDirs: string[] = [];
  /** Ends the supervision of each server it started (see {@link LocalClusterOptions.supervise}). */
  private readonly unsupervise: Array<() => void> = [];

  private constructor(
    private readonly o: LocalClusterOptions,
    readonly natsUrl: string,
    private readonly nats: NatsServer | null,
  ) {
    this.cluster = o.cluster ?? 'synod';
  }

  /** Starts NATS, the Redis servers and every service, and waits until all are ready. */
  static async start(o: LocalClusterOptions): Promise<LocalCluster> {
    let nats: NatsServer | null = null;
    let natsUrl = o.natsUrl;
    if (natsUrl === undefined) {
      nats = await startNats({
        port: o.natsPort ?? await pickPort(4222),
        ...(o.natsConfig === undefined ? {} : { config: o.natsConfig }),
        ...(o.parentDeathSignal === undefined ? {} : { parentDeathSignal: o.parentDeathSignal }),
      });
      natsUrl = nats.url;
    }
    const c = new LocalCluster(o, natsUrl, nats);
    if (nats !== null && o.supervise === true) {
      c.unsupervise.push(nats.supervise((line) => c.event('nats', line)));
    }
    try {
      const ids = (p: string, n: number): string[] =>
        Array.from({ length: n }, (_, i) => `${p}${i + 1}`);
      const acceptors = ids('a', o.acceptors ?? 3);
      for (const id of acceptors) await c.addNode('acceptor', id, acceptors);
      for (const id of ids('p', o.proposers ?? 2)) await c.addNode('proposer', id, acceptors);
      for (const id of ids('l', o.learners ?? 1)) await c.addNode('learner', id, acceptors);
      if (o.waitReady !== false && o.acceptorMajority !== undefined) {
        await c.waitReady([...c.nodes.keys()].filter((id) => c.node(id).role !== 'acceptor'));
        c.notReadyAcceptors = await c.waitAcceptorMajority(o.acceptorMajority.graceMs);
      } else if (o.waitReady !== false) await c.waitReady();
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  /** The pid of the nats-server it started (null with `natsUrl`). */
  get natsPid(): number | null {
    return this.nats?.pid ?? null;
  }

  /** Ids of the acceptors. */
  get acceptorIds(): string[] {
    return [...this.nodes.values()].filter((n) => n.role === 'acceptor').map((n) => n.id);
  }

  /** Adds and starts a service (e.g. a third proposer while load runs). */
  async addNode(role: ServiceRole, id: string, acceptors = this.acceptorIds): Promise<LocalNode> {
    let redis: RedisServer | null = null;
    let redisUrl: string | null = null;
    let fresh = false;
    if (role !== 'proposer' && this.o.redisUrl !== undefined) {
      fresh = true;
    } else if (role !== 'proposer') {
      const dir = this.o.dataDir === undefined ? undefined : join(this.o.dataDir, `redis-${id}`);
      if (dir !== undefined) {
        fresh = !existsSync(dir);
        mkdirSync(dir, { recursive: true });
      } else fresh = true;
      const acl = this.o.redisAcl?.(role, id);
      redis = await startRedis({
        ...(dir === undefined ? {} : { dir }),
        ...(this.o.redisAppendfsync === undefined ? {} : { appendfsync: this.o.redisAppendfsync }),
        ...(acl === undefined ? {} : { aclFile: this.writeAcl(id, acl.acl) }),
        ...(this.o.parentDeathSignal === undefined ? {}
          : { parentDeathSignal: this.o.parentDeathSignal }),
      });
      redisUrl = acl === undefined ? redis.url : withCredentials(redis.url, acl);
      if (this.o.supervise === true) {
        this.unsupervise.push(redis.supervise((line) => this.event(id, `redis of ${id}: ${line}`)));
      }
    }
    const nats = this.o.natsCredentials?.(role, id);
    const healthPort = await freePort();
    const env: Record<string, string> = {
      SYNOD_CLUSTER: this.cluster, SYNOD_NODE_ID: id, NATS_URL: this.natsUrl,
      SYNOD_HEALTH_PORT: String(healthPort), SYNOD_ACCEPTORS: acceptors.join(','),
      SYNOD_TICK_MS: String(this.o.tickMs ?? 20),
      ...(redisUrl === null ? {} : { REDIS_URL: redisUrl }),
      ...(nats === undefined ? {} : { NATS_USER: nats.user, NATS_PASSWORD: nats.password }),
      ...(role !== 'proposer' && this.o.redisUrl !== undefined
        ? { REDIS_URL: this.o.redisUrl } : {}),
      ...(role === 'acceptor' ? this.initEnv(id, fresh) : {}),
      ...this.o.env, ...this.o.roleEnv?.[role],
    };
    const node: LocalNode = { id, role, healthPort, env, redis, proc: null };
    this.nodes.set(id, node);
    await this.spawn(node);
    return node;
  }

  /** How acceptor `id` may take an empty Redis for a new member (see `initRecord`). */
  private initEnv(id: string, fresh: boolean): Record<string, string> {
    if (this.o.initRecord !== undefined && this.o.dataDir !== undefined) {
      return { SYNOD_ACCEPTOR_INIT_RECORD: this.o.initRecord(id) };
    }
    return fresh ? { SYNOD_ACCEPTOR_INIT: 'true' } : {};
  }

  /** The node called `id`. */
  node(id: string): LocalNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** Sends a signal to a service process (default SIGKILL, i.e. `kill -9`). */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const n = this.node(id);
    const p = n.proc;
    if (p === null) return;
    if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') n.proc = null;
    await p.kill(signal);
  }

  /** Starts a killed service again with the same configuration and Redis. */
  async restart(id: string): Promise<void> {
    const n = this.node(id);
    if (n.proc?.running() === true) await this.kill(id, 'SIGKILL');
    // An acceptor is initialised only once; from now on an empty Redis means lost memory.
    const { SYNOD_ACCEPTOR_INIT: _init, ...env } = n.env;
    const again: LocalNode = { ...n, env, proc: null };
    this.nodes.set(id, again);
    await this.spawn(again);
  }

  /** Removes a service: SIGTERM, then forget it. */
  async remove(id: string): Promise<void> {
    const n = this.node(id);
    const p = n.proc;
    n.proc = null;
    await p?.stop();
    this.nodes.delete(id);
  }

  /** Waits until every running service (or those named) answers 200 on /readyz. */
  async waitReady(ids?: readonly string[], timeoutMs = 30_000): Promise<void> {
    const want = ids ?? [...this.nodes.keys()];
    const deadline = Date.now() + timeoutMs;
    for (const id of want) {
      const n = this.node(id);
      for (;;) {
        if (await httpOk(n.healthPort, '/readyz')) break;
        if (n.proc !== null && !n.proc.running()) {
          throw new Error(`${id} exited before it was ready:\n${n.proc.output(30)}`);
        }
        if (Date.now() > deadline) {
          throw new Error(`${id} not ready after ${timeoutMs} ms:\n${n.proc?.output(30) ?? ''}`);
        }
        await sleep(50);
      }
    }
  }

  /** Acceptors that were running but not ready when `start` resolved (`acceptorMajority`). */
  notReadyAcceptors: string[] = [];

  /**
   * Waits until every acceptor is ready or, after `graceMs`, a majority is and the rest run;
   * returns the ids of those not ready. Throws when one exits, or when no majority is ready
   * within `timeoutMs`.
   */
  async waitAcceptorMajority(graceMs: number, timeoutMs = 30_000): Promise<string[]> {
    const ids = this.acceptorIds;
    const need = Math.floor(ids.length / 2) + 1;
    const start = Date.now();
    for (;;) {
      const ready: string[] = [];
      for (const id of ids) {
        const n = this.node(id);
        if (await httpOk(n.healthPort, '/readyz')) ready.push(id);
        else if (n.proc !== null && !n.proc.running()) {
          throw new Error(`${id} exited before it was ready:\n${n.proc.output(30)}`);
        }
      }
      const waited = Date.now() - start;
      if (ready.length === ids.length) return [];
      if (ready.length >= need && waited >= graceMs) return ids.filter((i) => !ready.includes(i));
      if (waited > timeoutMs) {
        const late = ids.filter((i) => !ready.includes(i));
        throw new Error(`only ${ready.length} of ${ids.length} acceptors ready after ` +
          `${timeoutMs} ms (a majority is ${need}); not ready: ${late.join(', ')}:\n` +
          late.map((i) => this.node(i).proc?.output(10) ?? '').join('\n'));
      }
      await sleep(100);
    }
  }

  /** GETs a health endpoint of a node: status code and body. */
  async health(id: string, path: string): Promise<{ status: number; body: string }> {
    return httpGet(this.node(id).healthPort, path);
  }

  /** Stops every service (SIGTERM), then the Redis servers and NATS. */
  async stop(): Promise<void> {
    this.stopping = true;
    // A deliberate stop: nothing is restarted from here on, not even a server that dies now.
    for (const end of this.unsupervise.splice(0)) end();
    await Promise.all([...this.nodes.values()].map(async (n) => {
      const p = n.proc;
      n.proc = null;
      await p?.stop(10_000);
    }));
    await Promise.all([...this.nodes.values()].map((n) => n.redis?.stop()));
    await this.nats?.stop();
    for (const d of this.aclDirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }

  /** Reports what the supervisor did. */
  private event(id: string, line: string): void {
    (this.o.onEvent ?? this.o.onLine)?.(id, line);
  }

  /** Writes a node's ACL file into a temp dir of its own (removed by `stop()`). */
  private writeAcl(id: string, text: string): string {
    const dir = mkdtempSync(join(tmpdir(), `synod-acl-${id}-`));
    this.aclDirs.push(dir);
    const file = join(dir, 'users.acl');
    writeFileSync(file, text, { mode: 0o600 });
    return file;
  }

  private async spawn(n: LocalNode): Promise<void> {
    const main = this.o.mains[n.role];
    const proc = await spawnService(process.execPath, ['--enable-source-maps', main], {
      ...n.env, NODE_OPTIONS: withHeapCap(n.env['NODE_OPTIONS'] ?? process.env['NODE_OPTIONS']),
    }, this.o.parentDeathSignal === undefined ? {}
      : { parentDeathSignal: this.o.parentDeathSignal });
    n.proc = proc;
    this.o.onSpawn?.(n);
    const onLine = this.o.onLine;
    if (onLine !== undefined) {
      const off = proc.onLine((line) => onLine(n.id, line));
      void proc.exited.then(() => off());
    }
    void proc.exited.then(async (e) => {
      if (this.stopping || n.proc !== proc || this.o.supervise !== true) return;
      this.event(n.id, `exited (code ${e.code}, signal ${e.signal}); restarting in 1 s`);
      await sleep(1000);
      if (!this.stopping && n.proc === proc) await this.restart(n.id);
    });
  }
}

/** `redis://user:password@host:port` from a URL without credentials. */
function withCredentials(url: string, c: Credentials): string {
  const u = new URL(url);
  u.username = encodeURIComponent(c.user);
  u.password = encodeURIComponent(c.password);
  return u.toString();
}

async function pickPort(preferred: number): Promise<number> {
  const free = await new Promise<boolean>((resolve) => {
    const s = http.createServer();
    s.once('error', () => resolve(false));
    s.listen(preferred, '127.0.0.1', () => s.close(() => resolve(true)));
  });
  return free ? preferred : freePort();
}

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function httpOk(port: number, path: string): Promise<boolean> {
  try {
    return (await httpGet(port, path)).status === 200;
  } catch {
    return false;
  }
}

/**
 * Old-space cap of every service process, in MiB, as the images set it (infra/docker/Dockerfile).
 * A service's live heap is a few tens of MiB; without a cap V8 lets the heap of a busy process
 * grow lazily to several hundred MiB before collecting (docs/performance.md, "Memory").
 */
export const SERVICE_HEAP_MB = 128;

/** `NODE_OPTIONS` with the heap cap added, unless it already sets one. */
export function withHeapCap(nodeOptions: string | undefined): string {
  const o = nodeOptions ?? '';
  return o.includes('--max-old-space-size') ? o
    : `${o} --max-old-space-size=${SERVICE_HEAP_MB}`.trim();
}
