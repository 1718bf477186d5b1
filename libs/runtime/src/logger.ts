import pino from 'pino';

/** The logging surface the runtime needs; pino's `Logger` satisfies it. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  readonly service: string;
  readonly nodeId: string;
  readonly level?: string;
  /** Extra fields merged into every line (e.g. trace ids from telemetry). */
  readonly mixin?: () => Record<string, unknown>;
  /**
   * A service's logger (`runService`): at exit, when stdout has taken no bytes for a while
   * with lines waiting, the process ends itself with SIGKILL rather than wait for the reader
   * forever. Off for libraries and applications (the SDK's connections log through this
   * too): an application's exit is its own business.
   */
  readonly killOnStuckExit?: boolean;
}

/**
 * Structured JSON logs on stdout, one object per line, with service and node id on each.
 * Logging never holds up the service: see {@link stdoutThatNeverBlocks}.
 */
export function createLogger(o: LoggerOptions): Logger {
  return pino({
    level: o.level ?? 'info',
    base: { service: o.service, node: o.nodeId },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    ...(o.mixin === undefined ? {} : { mixin: o.mixin }),
  }, stdoutThatNeverBlocks(1, o.killOnStuckExit === true));
}

/** Most log bytes held while stdout does not take them; past it, lines are dropped. */
export const LOG_BUFFER_BYTES = 8 * 1024 * 1024;

/**
 * How long stdout may have taken no bytes, with lines waiting, before the exit gives up on
 * it: a reader that keeps up takes bytes every few milliseconds.
 */
const STUCK_MS = 2000;

/**
 * stdout for the logs, written asynchronously (a thread of the pool waits on a slow reader,
 * not the event loop), holding at most {@link LOG_BUFFER_BYTES} while the reader does not
 * read (then dropping lines). At exit the lines still held are written out while stdout takes
 * bytes; when it has taken none for {@link STUCK_MS} (the reader stopped reading: a log
 * collector stalled, or the supervisor gone while another process holds the pipe), they are
 * given up, and with `killOnStuckExit` (services) the process ends itself with SIGKILL. Both
 * pino's flush at exit and Node's own teardown (which waits for the pool's threads, one of
 * them blocked in that write) would otherwise wait forever: a SIGTERM, or the service's own
 * forced exit, would never end it.
 */
export function stdoutThatNeverBlocks(fd = 1, killOnStuckExit = false):
  ReturnType<typeof pino.destination> {
  const dest = pino.destination({ dest: fd, sync: false, minLength: 0,
    maxLength: LOG_BUFFER_BYTES });
  let idle = true;
  let progressAt = 0;
  const write = dest.write.bind(dest);
  dest.write = (data: string): boolean => {
    if (idle) progressAt = performance.now();
    idle = false;
    return write(data);
  };
  dest.on('write', () => {
    progressAt = performance.now();
  });
  dest.on('drain', () => {
    idle = true;
  });
  const stuck = (): boolean => !idle && performance.now() - progressAt > STUCK_MS;
  const flushSync = dest.flushSync.bind(dest);
  dest.flushSync = (): void => {
    // pino calls this at exit: a write that has been waiting on the reader would wait forever.
    if (stuck()) return;
    try {
      flushSync();
    } catch {
      // Not ready or closed: nothing more can be written.
    }
  };
  // After pino's flush at exit: a write still waiting on a stuck reader would hold up the
  // teardown for good. (A service makes one logger; the listener lives as long as it does.)
  if (killOnStuckExit) {
    process.on('exit', () => {
      if (stuck()) process.kill(process.pid, 'SIGKILL');
    });
  }
  return dest;
}

/** A logger that discards everything (tests, embedded use). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};
