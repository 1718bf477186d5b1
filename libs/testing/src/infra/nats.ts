import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { firstHostPort, probeTcp } from './net.js';
import { makeTempDir } from './process.js';
import { ManagedServer, serverHandle } from './server.js';

/** Options of {@link startNats}. */
export interface StartNatsOptions {
  /** Extra command-line arguments, after the ones this helper sets. */
  readonly args?: readonly string[];
  /**
   * A configuration file's text (auth, limits...), written to a temp dir and passed with `-c`.
   * The host and port flags still win over what it says.
   */
  readonly config?: string;
  /** Enables JetStream with its store in the server's temp dir (`-js -sd <dir>/js`). */
  readonly jetstream?: boolean;
  /** The binary; default `nats-server`, looked up on the PATH of {@link env}. */
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

/** A nats-server process on 127.0.0.1, owned by the test that started it. */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** PID of the current process; a restart changes it. */
  readonly pid: number;
  /** The temp dir holding the config file and the JetStream store. */
  readonly dir: string;
  /** The last `n` lines of the server's log. */
  output(n?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once exited. Removes the temp dir. */
  stop(graceMs?: number): Promise<void>;
  /** Sends a signal (default SIGKILL); for ending signals resolves once exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops it if it runs, then starts it again on the same port with the same arguments. */
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

/** Ready when the port accepts a connection and the server greets it with `INFO`. */
export async function natsAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  const greeting = await probeTcp(host, port, { timeoutMs });
  return greeting?.startsWith('INFO') ?? false;
}

/**
 * Spawns `nats-server -a 127.0.0.1 -p <free port>` (plus `-c`, `-js -sd` as asked) and resolves
 * once it greets clients. A missing binary rejects with a message saying how to install it.
 */
export async function startNats(opts: StartNatsOptions = {}): Promise<NatsServer> {
  const dir = makeTempDir('nats');
  const pre: string[] = [];
  if (opts.config !== undefined) {
    const file = join(dir, 'nats.conf');
    writeFileSync(file, opts.config);
    pre.push('-c', file);
  }
  if (opts.jetstream === true) pre.push('-js', '-sd', join(dir, 'js'));
  const server = await ManagedServer.start({
    what: 'nats-server',
    bin: opts.bin ?? 'nats-server',
    env: opts.env ?? process.env,
    installHint: 'install it with `apt-get install -y nats-server`',
    args: (port) => [...pre, '-a', '127.0.0.1', '-p', String(port), ...(opts.args ?? [])],
    ready: (port) => natsAnswers('127.0.0.1', port),
    readyTimeoutMs: opts.readyTimeoutMs ?? 10_000,
    ownedDir: dir,
    ...(opts.port === undefined ? {} : { port: opts.port }),
    ...(opts.parentDeathSignal === undefined ? {}
      : { parentDeathSignal: opts.parentDeathSignal }),
  });
  return serverHandle(server, 'nats', dir);
}

/** A NATS server for a test: the one named by `NATS_URL`, or one spawned for it. */
export interface TestNats {
  readonly url: string;
  /** The spawned server (restart, kill...); undefined when `NATS_URL` was used. */
  readonly server: NatsServer | undefined;
  /** Stops the spawned server; does nothing to an external one. */
  stop(): Promise<void>;
}

/**
 * Uses `NATS_URL` when it is set and a server answers there; otherwise spawns one with
 * {@link startNats}. (Containers started by testcontainers are used by
 * libs/e2e/test/containers.test.ts when an engine answers.) Tests that restart or kill the server
 * must call {@link startNats} themselves.
 */
export async function natsForTest(opts: StartNatsOptions = {}): Promise<TestNats> {
  const env = process.env['NATS_URL'];
  if (env !== undefined && env !== '') {
    const hp = firstHostPort(env, 4222);
    if (hp !== undefined && (await natsAnswers(hp.host, hp.port, 1000))) {
      return { url: env, server: undefined, stop: async () => undefined };
    }
    process.stderr.write(`NATS_URL=${env} does not answer; spawning a nats-server instead\n`);
  }
  const server = await startNats(opts);
  return { url: server.url, server, stop: () => server.stop() };
}
