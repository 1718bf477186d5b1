import { firstHostPort, probeTcp } from './net.js';
import { makeTempDir } from './process.js';
import { ManagedServer, serverHandle } from './server.js';

/** Options of {@link startRedis}. */
export interface StartRedisOptions {
  /** Default `always`: every write is fsync'd before the reply, as acceptors require. */
  readonly appendfsync?: 'always' | 'everysec' | 'no';
  /** Default true. */
  readonly appendonly?: boolean;
  /** The data dir; default a temp dir removed by `stop()`. A given dir is never removed. */
  readonly dir?: string;
  /** An ACL file (`--aclfile`). */
  readonly aclFile?: string;
  /** Extra command-line arguments, after the ones this helper sets. */
  readonly extraArgs?: readonly string[];
  /** The binary; default `redis-server`, looked up on the PATH of {@link env}. */
  readonly bin?: string;
  /** The server's environment; default this process's. */
  readonly env?: NodeJS.ProcessEnv;
  /** Default 10 000 ms. */
  readonly readyTimeoutMs?: number;
  /**
   * A fixed port on 127.0.0.1; default a free one. (Do not pass `-p`/`--port` in the extra
   * arguments: the URL and the readiness probe follow this option.)
   */
  readonly port?: number;
  /**
   * The signal the server gets when this process dies, even by SIGKILL (Linux with setpriv;
   * see `parentDeathSignalSupported`). Default none: it outlives a killed parent.
   */
  readonly parentDeathSignal?: NodeJS.Signals;
}

/** A redis-server process on 127.0.0.1, owned by the test that started it. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** PID of the current process; a restart changes it. */
  readonly pid: number;
  /** The data dir (the AOF lives in `<dir>/appendonlydir`); kept across restarts. */
  readonly dir: string;
  /** The last `n` lines of the server's log. */
  output(n?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once exited. Removes an owned temp dir. */
  stop(graceMs?: number): Promise<void>;
  /** Sends a signal (default SIGKILL); for ending signals resolves once exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops it if it runs, then starts it again on the same port and dir (the AOF replays). */
  restart(): Promise<void>;
  /**
   * Restarts it (same port, dir and arguments) whenever it exits without being asked to
   * (not by `stop`, `kill`, `restart`), after a back-off, telling `report` what it did. Returns
   * the function that ends the supervision.
   */
  supervise(report: (line: string) => void): () => void;
  /** Restarts so far by the supervisor. */
  readonly restartCount: number;
}

/**
 * Ready when `PING` gets `+PONG`, or an auth refusal (the server is up but wants credentials);
 * not while it answers `-LOADING` (replaying the AOF).
 */
export async function redisAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  const reply = await probeTcp(host, port, { send: 'PING\r\n', timeoutMs });
  return reply !== undefined && /^(\+PONG|-NOAUTH|-NOPERM|-WRONGPASS)/.test(reply);
}

/**
 * Spawns `redis-server --bind 127.0.0.1 --port <free> --dir <dir> --appendonly yes
 * --appendfsync always --save ''` and resolves once it answers PING. A missing binary rejects
 * with a message saying how to install it.
 */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const owned = opts.dir === undefined ? makeTempDir('redis') : undefined;
  const dir = opts.dir ?? (owned as string);
  const fixed = [
    '--dir',
    dir,
    '--appendonly',
    opts.appendonly === false ? 'no' : 'yes',
    '--appendfsync',
    opts.appendfsync ?? 'always',
    '--save',
    '',
    '--daemonize',
    'no',
    ...(opts.aclFile === undefined ? [] : ['--aclfile', opts.aclFile]),
  ];
  const server = await ManagedServer.start({
    what: 'redis-server',
    bin: opts.bin ?? 'redis-server',
    env: opts.env ?? process.env,
    installHint: 'install it with `apt-get install -y redis-server`',
    args: (port) => [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      ...fixed,
      ...(opts.extraArgs ?? []),
    ],
    ready: (port) => redisAnswers('127.0.0.1', port),
    readyTimeoutMs: opts.readyTimeoutMs ?? 10_000,
    ownedDir: owned,
    ...(opts.port === undefined ? {} : { port: opts.port }),
    ...(opts.parentDeathSignal === undefined ? {}
      : { parentDeathSignal: opts.parentDeathSignal }),
  });
  return serverHandle(server, 'redis', dir);
}

/** A Redis server for a test: the one named by `REDIS_URL`, or one spawned for it. */
export interface TestRedis {
  readonly url: string;
  /** The spawned server (restart, kill...); undefined when `REDIS_URL` was used. */
  readonly server: RedisServer | undefined;
  /** Stops the spawned server; does nothing to an external one. */
  stop(): Promise<void>;
}

/**
 * Uses `REDIS_URL` when it is set and a server answers there; otherwise spawns one with
 * {@link startRedis}. (Containers started by testcontainers are used by
 * libs/e2e/test/containers.test.ts when an engine answers.) Tests that restart the server or read
 * its AOF must call {@link startRedis} themselves.
 */
export async function redisForTest(opts: StartRedisOptions = {}): Promise<TestRedis> {
  const env = process.env['REDIS_URL'];
  if (env !== undefined && env !== '') {
    const hp = firstHostPort(env, 6379);
    if (hp !== undefined && (await redisAnswers(hp.host, hp.port, 1000))) {
      return { url: env, server: undefined, stop: async () => undefined };
    }
    process.stderr.write(`REDIS_URL=${env} does not answer; spawning a redis-server instead\n`);
  }
  const server = await startRedis(opts);
  return { url: server.url, server, stop: () => server.stop() };
}
