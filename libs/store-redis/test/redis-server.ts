import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real redis-server on a random loopback port, for this lib's tests only. Every process it
 * starts is remembered and stopped by PID in {@link stopAllRedis}; nothing is killed by name.
 */
export interface RedisServerOptions {
  readonly appendonly?: 'yes' | 'no';
  readonly appendfsync?: 'always' | 'everysec' | 'no';
  /** More command-line settings, e.g. `['--maxmemory', '10mb']`. */
  readonly extra?: readonly string[];
}

/** A running (or stopped) redis-server with a data directory that survives restarts. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** PID of the current process, or undefined while stopped. */
  pid(): number | undefined;
  /** Sends `signal` and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /**
   * Starts the server again on the same port and directory (after `stop`); `extra` settings
   * are appended to the original ones, and later settings win.
   */
  start(extra?: readonly string[]): Promise<void>;
}

const running = new Set<ChildProcess>();
const dirs: string[] = [];
const READY_TIMEOUT_MS = 10_000;

/** Starts a redis-server with AOF `always` (unless told otherwise) and no RDB snapshots. */
export async function startRedis(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'synod-store-redis-'));
  dirs.push(dir);
  const args = [
    '--bind', '127.0.0.1', '--port', String(port), '--dir', dir,
    '--appendonly', opts.appendonly ?? 'yes', '--appendfsync', opts.appendfsync ?? 'always',
    '--save', '', ...(opts.extra ?? []),
  ];
  let child: ChildProcess | undefined;
  const server: RedisServer = {
    port,
    dir,
    url: `redis://127.0.0.1:${port}`,
    pid: () => child?.pid,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      const c = child;
      if (c === undefined) return;
      child = undefined;
      await stopChild(c, signal);
    },
    async start(extra: readonly string[] = []) {
      if (child !== undefined) throw new Error('redis-server already running');
      child = await spawnRedis([...args, ...extra]);
    },
  };
  await server.start();
  return server;
}

/** Stops every redis-server these tests started (by PID) and removes their directories. */
export async function stopAllRedis(): Promise<void> {
  await Promise.all([...running].map((c) => stopChild(c, 'SIGKILL')));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

function spawnRedis(args: readonly string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(c);
    let out = '';
    const timer = setTimeout(() => {
      void stopChild(c, 'SIGKILL');
      reject(new Error(`redis-server not ready within ${READY_TIMEOUT_MS} ms:\n${out}`));
    }, READY_TIMEOUT_MS);
    c.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      running.delete(c);
      reject(e.code === 'ENOENT'
        ? new Error('redis-server not found on PATH: apt-get install -y redis-server')
        : e);
    });
    c.on('exit', (code, signal) => {
      running.delete(c);
      clearTimeout(timer);
      reject(new Error(`redis-server exited (code ${code}, signal ${signal}):\n${out}`));
    });
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve(c);
      }
    };
    c.stdout?.on('data', onData);
    c.stderr?.on('data', onData);
  });
}

function stopChild(c: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) {
    running.delete(c);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    c.once('exit', () => {
      running.delete(c);
      resolve();
    });
    if (c.pid !== undefined) process.kill(c.pid, signal);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}
