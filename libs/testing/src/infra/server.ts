import { freePort, sleep } from './net.js';
import {
  ENDING,
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
  /** See `SpawnSpec.parentDeathSignal` (infra/process.ts). */
  readonly parentDeathSignal?: NodeJS.Signals;
}

const PORT_ATTEMPTS = 3;

/** Back-off of a supervised restart: 0.5 s, 1 s, 2 s... up to 15 s. */
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;
/** A process that served this long before it died starts the back-off from the bottom again. */
const BACKOFF_RESET_MS = 60_000;

/** Receives what a supervised server's supervisor does (one line each). */
export type SupervisorReport = (line: string) => void;

/**
 * A server process on a loopback port, started, probed, stopped and restarted by PID. A restart
 * keeps the port and the arguments (so the same data dir is replayed).
 */
export class ManagedServer {
  private proc: Tracked | undefined;
  private stopped = false;
  /** A process this object ended on purpose (kill, restart): not restarted by the supervisor. */
  private ended: Tracked | undefined;
  private report: SupervisorReport | undefined;
  /** Restarts by the supervisor so far, and how many in a row since it last served a while. */
  private restarts = 0;
  private streak = 0;
  /** The supervisor's restart in progress, and how to cut its back-off short (stop). */
  private reviving: Promise<void> | undefined;
  private wake: (() => void) | undefined;

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

  /** Restarts so far by the supervisor ({@link supervise}). */
  get restartCount(): number {
    return this.restarts;
  }

  /**
   * From now on, when the process exits without being asked to (not by `stop`, `kill` or
   * `restart`), starts it again with the same port and arguments (so the same data dir), after
   * a back-off (0.5 s doubling to 15 s, from the bottom again after a minute of service), and
   * tells `report` what died and what it did. A failed restart is retried the same way.
   * Returns the function that ends the supervision (a restart waiting its back-off is dropped).
   */
  supervise(report: SupervisorReport): () => void {
    this.report = report;
    if (this.proc !== undefined) this.watch(this.proc);
    return () => {
      // No restart from now on (e.g. a deliberate shutdown has begun); one waiting is dropped.
      if (this.report !== report) return;
      this.report = undefined;
      this.wake?.();
    };
  }

  /** SIGTERM, SIGKILL after a grace period; removes the owned temp dir. Idempotent. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.reviving;
    if (this.proc !== undefined) await stopTracked(this.proc, graceMs);
    if (this.recipe.ownedDir !== undefined) removeTempDir(this.recipe.ownedDir);
  }

  /** Sends a signal; for ending signals resolves when the process has exited. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.proc === undefined) return;
    if (ENDING.has(signal)) this.ended = this.proc;
    await signalTracked(this.proc, signal);
  }

  /** Stops the process if it runs (gracefully), then starts it again on the same port. */
  async restart(): Promise<void> {
    if (this.stopped) throw new Error(`${this.recipe.what} was stopped; start a new one`);
    await this.reviving;
    if (this.proc !== undefined) {
      this.ended = this.proc;
      if (isRunning(this.proc)) await stopTracked(this.proc);
    }
    await this.launch();
  }

  /** Restarts the process when it exits on its own, if supervised. */
  private watch(proc: Tracked): void {
    const since = Date.now();
    void proc.exited.then(async (e) => {
      // (A process a restart just launched may die before that restart has returned.)
      await this.reviving;
      if (this.report === undefined || this.stopped || this.proc !== proc) return;
      if (this.ended === proc || this.reviving !== undefined) return;
      if (Date.now() - since >= BACKOFF_RESET_MS) this.streak = 0;
      this.reviving = this.revive(e).finally(() => (this.reviving = undefined));
    });
  }

  private async revive(e: ExitInfo): Promise<void> {
    const report = this.report as SupervisorReport;
    const r = this.recipe;
    let why = `exited unexpectedly (code ${e.code}, signal ${e.signal})`;
    for (;;) {
      this.restarts += 1;
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(this.streak, 10));
      this.streak += 1;
      report(`${r.what} on port ${this.port} (pid ${this.pid}) ${why}; ` +
        `restart #${this.restarts} in ${delay} ms, same port and arguments`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
      if (this.stopped || this.report !== report) return;
      try {
        await this.launch();
        report(`${r.what} on port ${this.port} restarted ` +
          `(pid ${this.pid}, restart #${this.restarts})`);
        return;
      } catch (err) {
        if (this.stopped) return;
        const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
        why = `did not start again: ${msg}`;
      }
    }
  }

  private async launch(): Promise<void> {
    const r = this.recipe;
    const proc = await spawnTracked({
      bin: r.bin,
      args: r.args(this.port),
      env: r.env,
      installHint: r.installHint,
      ...(r.parentDeathSignal === undefined ? {} : { parentDeathSignal: r.parentDeathSignal }),
    });
    this.proc = proc;
    const deadline = Date.now() + r.readyTimeoutMs;
    let exited = false;
    void proc.exited.then(() => (exited = true));
    while (!exited) {
      if (this.stopped && this.reviving !== undefined) {
        // stop() came during a supervised restart: this process is not wanted any more.
        await stopTracked(proc, 1000);
        throw new Error(`${r.what} stopped while it restarted`);
      }
      if (await r.ready(this.port)) {
        if (this.report !== undefined) this.watch(proc);
        return;
      }
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
  /**
   * Restarts it (same port and arguments) whenever it exits without being asked to, with a
   * back-off, telling `report` each time; see {@link ManagedServer.supervise}.
   */
  supervise(report: SupervisorReport): () => void;
  /** Restarts so far by the supervisor. */
  readonly restartCount: number;
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
    supervise: (report) => server.supervise(report),
    get restartCount() {
      return server.restartCount;
    },
  };
}
