import { freePort, sleep } from './net.js';
import {
  type ExitInfo,
  isRunning,
  removeTempDir,
  ServerStartError,
  signalTracked,
  spawnTracked,
  stopTracked,
  type Tracked,
} from './process.js';

/** What a {@link ManagedServer} needs to (re)start its process. */
export interface ServerRecipe {
  /** For messages: `nats-server`, `redis-server`. */
  readonly what: string;
  readonly bin: string;
  readonly env: NodeJS.ProcessEnv;
  readonly installHint: string;
  /** The argv for a given port (called again when a first start must pick another port). */
  readonly args: (port: number) => readonly string[];
  /** Resolves true once the server on `port` serves clients; never rejects. */
  readonly ready: (port: number) => Promise<boolean>;
  readonly readyTimeoutMs: number;
  /** A temp dir owned by this server: removed by `stop()`. */
  readonly ownedDir: string | undefined;
  /** A fixed port; default a free one picked at start (and another if it was taken). */
  readonly port?: number;
}

const PORT_ATTEMPTS = 3;

/**
 * A server process on a loopback port, started, probed, stopped and restarted by PID. A restart
 * keeps the port and the arguments (so the same data dir is replayed).
 */
export class ManagedServer {
  private proc: Tracked | undefined;
  private stopped = false;

  private constructor(
    private readonly recipe: ServerRecipe,
    readonly port: number,
  ) {}

  /**
   * Starts on the recipe's port, or on a free one; retries on another free port if that was
   * taken meanwhile (never with a fixed port).
   */
  static async start(recipe: ServerRecipe): Promise<ManagedServer> {
    for (let attempt = 1; ; attempt++) {
      const s = new ManagedServer(recipe, recipe.port ?? (await freePort()));
      try {
        await s.launch();
        return s;
      } catch (err) {
        const retry =
          recipe.port === undefined &&
          err instanceof ServerStartError &&
          err.code === 'ADDRESS_IN_USE';
        if (!retry || attempt >= PORT_ATTEMPTS) {
          if (recipe.ownedDir !== undefined) removeTempDir(recipe.ownedDir);
          throw err;
        }
      }
    }
  }

  /** The PID of the current process (it changes on restart). */
  get pid(): number {
    return this.proc?.pid ?? -1;
  }

  /** The last `n` lines the current process wrote. */
  output(n = 50): string {
    return this.proc?.output.tail(n) ?? '';
  }

  /** Resolves when the current process exits. */
  exited(): Promise<ExitInfo> {
    return this.proc?.exited ?? Promise.resolve({ code: null, signal: null });
  }

  /** SIGTERM, SIGKILL after a grace period; removes the owned temp dir. Idempotent. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopped = true;
    if (this.proc !== undefined) await stopTracked(this.proc, graceMs);
    if (this.recipe.ownedDir !== undefined) removeTempDir(this.recipe.ownedDir);
  }

  /** Sends a signal; for ending signals resolves when the process has exited. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.proc !== undefined) await signalTracked(this.proc, signal);
  }

  /** Stops the process if it runs (gracefully), then starts it again on the same port. */
  async restart(): Promise<void> {
    if (this.stopped) throw new Error(`${this.recipe.what} was stopped; start a new one`);
    if (this.proc !== undefined && isRunning(this.proc)) await stopTracked(this.proc);
    await this.launch();
  }

  private async launch(): Promise<void> {
    const r = this.recipe;
    const proc = await spawnTracked({
      bin: r.bin,
      args: r.args(this.port),
      env: r.env,
      installHint: r.installHint,
    });
    this.proc = proc;
    const deadline = Date.now() + r.readyTimeoutMs;
    let exited = false;
    void proc.exited.then(() => (exited = true));
    while (!exited) {
      if (await r.ready(this.port)) return;
      if (Date.now() > deadline) {
        await stopTracked(proc, 1000);
        throw new ServerStartError(
          'TIMEOUT',
          `${r.what} on port ${this.port} not ready after ${r.readyTimeoutMs} ms; ` +
            `last output:\n${proc.output.tail()}`,
        );
      }
      await sleep(20);
    }
    const end = await proc.exited;
    const tail = proc.output.tail();
    const inUse = /address already in use/i.test(tail);
    throw new ServerStartError(
      inUse ? 'ADDRESS_IN_USE' : 'EXITED',
      `${r.what} exited before it was ready (code ${end.code}, signal ${end.signal}); ` +
        `last output:\n${tail}`,
    );
  }
}

/** What a test holds of a server it started: where it listens and how to control it. */
export interface ServerHandle {
  /** `<scheme>://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** PID of the current process; a restart changes it. */
  readonly pid: number;
  /** The server's data / config dir. */
  readonly dir: string;
  /** The last `n` lines of the server's log. */
  output(n?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once exited. */
  stop(graceMs?: number): Promise<void>;
  /** Sends a signal (default SIGKILL); for ending signals resolves once exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops it if it runs, then starts it again on the same port with the same arguments. */
  restart(): Promise<void>;
}

/** The handle of a started {@link ManagedServer}, shared by the NATS and Redis helpers. */
export function serverHandle(server: ManagedServer, scheme: string, dir: string): ServerHandle {
  return {
    url: `${scheme}://127.0.0.1:${server.port}`,
    port: server.port,
    get pid() {
      return server.pid;
    },
    dir,
    output: (n) => server.output(n),
    stop: (graceMs) => server.stop(graceMs),
    kill: (signal) => server.kill(signal),
    restart: () => server.restart(),
  };
}
