import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { runInThisContext } from 'node:vm';
import { LineBuffer } from './lines.js';

/** How a child process ended. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A program the test infrastructure needs is not on the PATH. */
export class MissingBinaryError extends Error {
  override readonly name = 'MissingBinaryError';
  readonly code = 'BINARY_NOT_FOUND';
  constructor(
    readonly binary: string,
    installHint: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      `${binary} not found` + (installHint === undefined ? ' on the PATH' : `: ${installHint}`),
      options,
    );
  }
}

/** A server did not become ready: it exited early or did not answer in time. */
export class ServerStartError extends Error {
  override readonly name = 'ServerStartError';
  constructor(
    readonly code: 'EXITED' | 'TIMEOUT' | 'ADDRESS_IN_USE',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What is still running or on disk, to clean up when the test process exits. */
interface Leftovers {
  readonly children: Set<ChildProcess>;
  readonly dirs: Set<string>;
}

const LEFTOVERS = Symbol.for('synod.testing.infra.leftovers');

/**
 * The Node process itself. Jest gives each test file a copy of `process` whose `exit` event never
 * fires, so the hook goes on the real one, reached through the main V8 context.
 */
function hostProcess(): NodeJS.Process {
  try {
    const p: unknown = runInThisContext('process');
    if (typeof p === 'object' && p !== null && 'once' in p) return p as NodeJS.Process;
  } catch {
    // Not possible here: use the process we see.
  }
  return process;
}

/**
 * The registry of every child and temp dir this module made, shared by all copies of the module
 * in the process (one per Jest test file), with one `exit` hook that kills leftover children by
 * PID (never by name: other programs on this machine run the same servers) and removes the dirs.
 */
function leftovers(): Leftovers {
  const host = hostProcess() as NodeJS.Process & { [LEFTOVERS]?: Leftovers };
  const known = host[LEFTOVERS];
  if (known !== undefined) return known;
  const l: Leftovers = { children: new Set(), dirs: new Set() };
  host[LEFTOVERS] = l;
  host.once('exit', () => {
    for (const c of l.children) {
      try {
        if (c.pid !== undefined) host.kill(c.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    for (const d of l.dirs) rmSync(d, { recursive: true, force: true });
  });
  return l;
}

/** Makes a temp dir that is removed at process exit at the latest (see {@link removeTempDir}). */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `synod-${prefix}-`));
  leftovers().dirs.add(dir);
  return dir;
}

/** Removes a dir made by {@link makeTempDir}. */
export function removeTempDir(dir: string): void {
  leftovers().dirs.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}

/** A spawned, tracked child with its output and the promise of its end. */
export interface Tracked {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly output: LineBuffer;
  readonly exited: Promise<ExitInfo>;
}

/** What {@link spawnTracked} needs. */
export interface SpawnSpec {
  readonly bin: string;
  readonly args: readonly string[];
  /** The child's whole environment; its PATH is where `bin` is looked up. */
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Appended to "<bin> not found: " when the binary is missing. */
  readonly installHint?: string;
  readonly outputLines?: number;
  /**
   * The signal the child gets when this process dies, even by SIGKILL (Linux's
   * `PR_SET_PDEATHSIG`, set by util-linux's `setpriv --pdeathsig`, which then execs `bin`: the
   * pid stays the child's). Without setpriv, or elsewhere than Linux, the child is spawned as
   * usual and outlives a killed parent (see {@link parentDeathSignalSupported}).
   */
  readonly parentDeathSignal?: NodeJS.Signals;
}

let setprivBin: string | null | undefined;

/**
 * The path of a `setpriv` that can set a parent-death signal (util-linux 2.33 and later, on
 * Linux), or null. Looked up once.
 */
function setpriv(): string | null {
  if (setprivBin !== undefined) return setprivBin;
  setprivBin = null;
  if (process.platform !== 'linux') return null;
  const found = findOnPath('setpriv', `${process.env['PATH'] ?? ''}${delimiter}/usr/bin:/bin`);
  if (found === undefined) return null;
  const r = spawnSync(found, ['--pdeathsig', 'SIGTERM', '--', process.execPath, '-e', ''],
    { stdio: 'ignore', timeout: 5000 });
  if (r.status === 0) setprivBin = found;
  return setprivBin;
}

/** Whether {@link SpawnSpec.parentDeathSignal} takes effect here (Linux with setpriv). */
export function parentDeathSignalSupported(): boolean {
  return setpriv() !== null;
}

/** `bin` as an executable file: itself when it holds a `/`, else looked up on `path`. */
function findOnPath(bin: string, path: string | undefined): string | undefined {
  const executable = (f: string): boolean => {
    try {
      accessSync(f, constants.X_OK);
      return statSync(f).isFile();
    } catch {
      return false;
    }
  };
  if (bin.includes('/')) return executable(bin) ? bin : undefined;
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir !== '' && executable(join(dir, bin))) return join(dir, bin);
  }
  return undefined;
}

/**
 * Spawns a child with piped output and tracks it until it exits. Resolves once the OS started
 * it; a missing binary (the `error` event with ENOENT, attached right at spawn) rejects with a
 * {@link MissingBinaryError} naming the fix.
 */
export function spawnTracked(spec: SpawnSpec): Promise<Tracked> {
  const live = leftovers().children;
  const output = new LineBuffer(spec.outputLines);
  let bin = spec.bin;
  let args = [...spec.args];
  const wrapper = spec.parentDeathSignal === undefined ? null : setpriv();
  if (wrapper !== null) {
    // setpriv reports a missing program by its exit code: look it up here, to say so as usual.
    const found = findOnPath(spec.bin, spec.env['PATH'] ?? process.env['PATH']);
    if (found === undefined) {
      return Promise.reject(new MissingBinaryError(spec.bin, spec.installHint));
    }
    args = ['--pdeathsig', spec.parentDeathSignal as string, '--', found, ...args];
    bin = wrapper;
  }
  const child = spawn(bin, args, {
    env: spec.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
  });
  child.stdout?.on('data', (b: Buffer) => output.push('stdout', b));
  child.stderr?.on('data', (b: Buffer) => output.push('stderr', b));
  return new Promise((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      live.delete(child);
      if (err.code === 'ENOENT') {
        reject(new MissingBinaryError(spec.bin, spec.installHint, { cause: err }));
      } else {
        reject(new Error(`cannot start ${spec.bin}: ${err.message}`, { cause: err }));
      }
    });
    child.once('spawn', () => {
      live.add(child);
      const exited = new Promise<ExitInfo>((res) => {
        child.once('exit', (code, signal) => {
          live.delete(child);
          // Give the pipes a moment to deliver the last lines, then release them so Jest sees
          // no open handles even if a grandchild inherited them.
          const release = setTimeout(() => {
            child.stdout?.destroy();
            child.stderr?.destroy();
            output.flush();
            res({ code, signal });
          }, 50);
          child.once('close', () => {
            clearTimeout(release);
            output.flush();
            res({ code, signal });
          });
        });
      });
      resolve({ child, pid: child.pid as number, output, exited });
    });
  });
}

/** True while the child has not exited. */
export function isRunning(t: Tracked): boolean {
  return t.child.exitCode === null && t.child.signalCode === null;
}

/**
 * Sends SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited (at once if
 * it already had).
 */
export async function stopTracked(t: Tracked, graceMs = 5000): Promise<ExitInfo> {
  if (!isRunning(t)) return t.exited;
  t.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const forced = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      if (isRunning(t)) t.child.kill('SIGKILL');
      resolve();
    }, graceMs);
  });
  await Promise.race([t.exited, forced]);
  clearTimeout(timer);
  return t.exited;
}

/** Signals that end a process. */
export const ENDING: ReadonlySet<string> = new Set(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGQUIT']);

/**
 * Sends `signal` to the child. For signals that end a process (SIGKILL, SIGTERM, SIGINT,
 * SIGQUIT) resolves when it has exited; for others (SIGSTOP, SIGCONT, SIGHUP) once sent.
 */
export async function signalTracked(t: Tracked, signal: NodeJS.Signals): Promise<void> {
  if (!isRunning(t)) return;
  t.child.kill(signal);
  if (ENDING.has(signal)) await t.exited;
}
