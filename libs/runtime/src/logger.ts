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
}

/** Structured JSON logs on stdout, one object per line, with service and node id on each. */
export function createLogger(o: LoggerOptions): Logger {
  return pino({
    level: o.level ?? 'info',
    base: { service: o.service, node: o.nodeId },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    ...(o.mixin === undefined ? {} : { mixin: o.mixin }),
  });
}

/** A logger that discards everything (tests, embedded use). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};
