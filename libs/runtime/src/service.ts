import {
  ConfigError, describeConfig, otelEnvProblems, readConfig, type VarSpec,
} from './config.js';
import { type HealthServer, type HealthSource, startHealthServer } from './health.js';
import { createLogger, type Logger } from './logger.js';

type Specs = Record<string, VarSpec<unknown>>;
type Values<S extends Specs> = { [K in keyof S]: S[K] extends VarSpec<infer T> ? T : never };

/** What a started service hands back to the bootstrap. */
export interface RunningService {
  readonly health: HealthSource;
  /** Graceful stop: stop taking work, finish what is in flight, drain the bus. */
  stop(): Promise<void>;
}

/** A service's description for {@link runService}. */
export interface ServiceDefinition<S extends Specs> {
  /** `synod-acceptor`, ... (the OTel service name, the log `service` field). */
  readonly name: string;
  readonly summary: string;
  readonly config: S;
  /** Picks the node id out of the config (for logs). */
  readonly nodeId: (c: Values<S>) => string;
  /** Port of the health server, from the config. */
  readonly healthPort: (c: Values<S>) => number;
  readonly logLevel?: (c: Values<S>) => string;
  /** Extra fields for every log line (telemetry adds the trace and span ids of the moment). */
  readonly logMixin?: () => Record<string, unknown>;
  readonly start: (c: Values<S>, log: Logger) => Promise<RunningService>;
  /**
   * Checks between variables that each parsed on its own (e.g. a heartbeat shorter than the
   * election timeout): every problem names the variables and the fix, reported like a parse
   * error (exit 78).
   */
  readonly check?: (c: Values<S>) => readonly string[];
}

/** Exit code for bad configuration (sysexits EX_CONFIG). */
export const EXIT_CONFIG = 78;

/**
 * The common life of a Synod service process: `--help`, configuration from the environment
 * (every problem named at once, exit 78), structured logs, the health server, and a graceful
 * shutdown on SIGTERM/SIGINT/SIGHUP (exit 0; the same signal again, another one more than 2 s
 * later, or a 10 s stall forces exit 1: a different signal within 2 s is the terminal's Ctrl-C
 * and its supervisor's SIGTERM, one request).
 */
export async function runService<S extends Specs>(def: ServiceDefinition<S>): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(`${def.name}: ${def.summary}\n\nConfiguration (environment variables):\n` +
      `${describeConfig(def.config)}\n\nEndpoints: GET /healthz, /readyz, /status, /metrics on ` +
      'the health port.\n');
    return;
  }
  let config: Values<S>;
  try {
    config = readConfig(def.config, process.env);
    const problems = [...def.check?.(config) ?? [], ...otelEnvProblems(process.env)];
    if (problems.length > 0) throw new ConfigError(problems);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${def.name}: ${e.message}\nRun with --help to list every variable.\n`);
      process.exit(EXIT_CONFIG);
    }
    throw e;
  }
  const log = createLogger({
    service: def.name, nodeId: def.nodeId(config), level: def.logLevel?.(config) ?? 'info',
    killOnStuckExit: true,
    ...(def.logMixin === undefined ? {} : { mixin: def.logMixin }),
  });
  let running: RunningService;
  let health: HealthServer;
  // A stop asked for while starting (a learner replaying a long log, an acceptor waiting for
  // its Redis): nothing is served yet, so leave at once rather than after the grace period.
  const early = (signal: string): void => {
    log.info({ signal }, 'stop requested while starting: exiting');
    process.exit(0);
  };
  const earlySignals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
  for (const sig of earlySignals) process.on(sig, early);
  try {
    running = await def.start(config, log);
    health = await startHealthServer(running.health, def.healthPort(config));
  } catch (e) {
    log.error({ err: e }, 'failed to start');
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 100).unref();
    return;
  }
  for (const sig of earlySignals) process.off(sig, early);
  log.info({ healthPort: health.port }, `${def.name} started`);
  let stopping: string | null = null;
  let stoppingAt = 0;
  const shutdown = (signal: string): void => {
    if (stopping !== null && signal === 'SIGHUP') {
      // A closing terminal can hang up twice (the shell's, then the kernel's): not a request
      // to force the stop already under way.
      return;
    }
    if (stopping !== null && signal !== stopping && Date.now() - stoppingAt < 2000) {
      // Ctrl-C reaches every process of the terminal's group, and the supervisor that started
      // this one (npm start) asks again with SIGTERM: the same request, not a second one (the
      // two may arrive in either order).
      log.info({ signal }, 'already shutting down');
      return;
    }
    if (stopping !== null) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = signal;
    stoppingAt = Date.now();
    log.info({ signal }, 'shutting down');
    setTimeout(() => {
      log.error({}, 'shutdown took over 10 s: exiting');
      process.exit(1);
    }, 10_000).unref();
    void running.stop().then(() => health.close()).then(
      () => {
        log.info({}, 'stopped');
        process.exit(0);
      },
      (e: unknown) => {
        log.error({ err: e }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // A closed terminal (npm start in a shell that went away): stop as for SIGTERM.
  process.on('SIGHUP', () => {
    process.stdout.on('error', () => undefined);
    process.stderr.on('error', () => undefined);
    shutdown('SIGHUP');
  });
}
