import type { OutputLine } from './lines.js';
import {
  type ExitInfo,
  isRunning,
  signalTracked,
  spawnTracked,
  stopTracked,
} from './process.js';

/** A service process started by {@link spawnService}. */
export interface ServiceProcess {
  readonly pid: number;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitInfo>;
  /** True while the process has not exited. */
  running(): boolean;
  /** Sends a signal (default SIGTERM); for ending signals resolves once exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once exited. */
  stop(graceMs?: number): Promise<ExitInfo>;
  /**
   * Resolves with the first line (stdout or stderr, already seen or yet to come) matching `re`;
   * rejects on timeout or when the process exits first, quoting its last output.
   */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** The last `n` lines of output (a ring buffer keeps the newest lines only). */
  output(n?: number): string;
  /** Calls `fn` with every line from now on; returns the function that stops it. */
  onLine(fn: (line: string) => void): () => void;
}

/** Options of {@link spawnService}. */
export interface SpawnServiceOptions {
  readonly cwd?: string;
  /** Lines kept in the ring buffer; default 2000. */
  readonly outputLines?: number;
  /** Default true: `env` is merged over this process's environment. */
  readonly inheritEnv?: boolean;
  /** See `SpawnSpec.parentDeathSignal` (infra/process.ts); default none. */
  readonly parentDeathSignal?: NodeJS.Signals;
}

/**
 * Spawns a service (typically `process.execPath` with a script) with stdout and stderr piped
 * into a ring buffer. `env` is merged over this process's environment. The process is tracked
 * and killed by PID if the test process exits first.
 */
export async function spawnService(
  cmd: string,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  opts: SpawnServiceOptions = {},
): Promise<ServiceProcess> {
  const t = await spawnTracked({
    bin: cmd,
    args,
    env: opts.inheritEnv === false ? { ...env } : { ...process.env, ...env },
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    ...(opts.outputLines === undefined ? {} : { outputLines: opts.outputLines }),
    ...(opts.parentDeathSignal === undefined ? {}
      : { parentDeathSignal: opts.parentDeathSignal }),
  });
  const waitForLine = (re: RegExp, timeoutMs = 10_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const seen = t.output.lines().find((l) => re.test(l.text));
      if (seen !== undefined) return resolve(seen.text);
      const finish = (err: Error | undefined, line?: string): void => {
        clearTimeout(timer);
        off();
        if (err === undefined) resolve(line as string);
        else reject(err);
      };
      const off = t.output.onLine((l: OutputLine) => {
        if (re.test(l.text)) finish(undefined, l.text);
      });
      const timer = setTimeout(() => {
        finish(new Error(`no line matching ${re} from ${cmd} within ${timeoutMs} ms;` +
          ` last output:\n${t.output.tail()}`));
      }, timeoutMs);
      void t.exited.then((e) => {
        finish(new Error(`${cmd} exited (code ${e.code}, signal ${e.signal}) before a line` +
          ` matching ${re}; last output:\n${t.output.tail()}`));
      });
    });
  return {
    pid: t.pid,
    exited: t.exited,
    running: () => isRunning(t),
    kill: (signal = 'SIGTERM') => signalTracked(t, signal),
    stop: (graceMs) => stopTracked(t, graceMs),
    waitForLine,
    output: (n = 200) => t.output.tail(n),
    onLine: (fn) => t.output.onLine((l: OutputLine) => fn(l.text)),
  };
}
