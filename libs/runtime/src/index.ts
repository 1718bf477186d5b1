/**
 * @synod/runtime: what turns a pure core into a running node. Port interfaces for the bus and
 * the stores (adapters implement them), the driver that carries out each Ready in the
 * persist -> send -> apply order, configuration from the environment, health endpoints, logs.
 */
export {
  type AcceptorStore,
  type Headers,
  type LearnerStore,
  type SubscribeOptions,
  type Subscription,
  type Transport,
  type TransportMessage,
  TransportTimeoutError,
} from './ports.js';
export { type Core, CoreDriver, type DriverHooks, type DriverOptions } from './driver.js';
export { createLogger, type Logger, type LoggerOptions, silentLogger } from './logger.js';
export {
  ConfigError, describeConfig, otelEnvProblems, parsers, readConfig, redactCredentials,
  type VarSpec,
} from './config.js';
export {
  type ExtraRoute,
  type HealthServer,
  type HealthSource,
  startHealthServer,
} from './health.js';
export { EXIT_CONFIG, type RunningService, runService, type ServiceDefinition } from './service.js';
export { acceptorsConfig, commonConfig } from './common-config.js';
export { wireBudget, type WireBudget } from './wire-budget.js';
export { type ServiceStatus, serveStatus, statusSubject } from './status.js';
export { LogLimiter, type LogLimiterOptions, type Suppressed } from './log-limiter.js';
