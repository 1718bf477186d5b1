import { context, isSpanContextValid, trace, TraceFlags } from '@opentelemetry/api';
import type { Role } from '@synod/protocol';
import type { DriverHooks, Logger } from '@synod/runtime';
import { readTelemetryConfig, type TelemetryConfig } from './config.js';
import { buildDriverHooks, type DriverTelemetrySpec } from './hooks.js';
import { type GaugeSource, SynodMetrics } from './metrics.js';
import type { SdkOptions, SdkParts } from './sdk.js';

/** Settings of {@link startTelemetry}. */
export interface TelemetryOptions {
  /** The service's own name (`synod-acceptor`...), used unless `OTEL_SERVICE_NAME` is set. */
  readonly serviceName: string;
  readonly role: Role;
  readonly nodeId: string;
  readonly cluster: string;
  /** Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly logger?: Logger;
  /** Export spans to this exporter instead of OTLP (tests, benchmarks); turns tracing on. */
  readonly spanExporter?: SdkOptions['spanExporter'];
  /** Hand finished spans to this function instead of exporting them (tests); tracing on. */
  readonly onSpans?: SdkOptions['onSpans'];
  /** Export each span as it ends (tests). */
  readonly simpleProcessor?: boolean;
  /** Register the tracer provider globally (default true; the CLI's client span needs it). */
  readonly register?: boolean;
}

/** A service's telemetry: driver hooks, gauges, the `/metrics` route, and shutdown. */
export interface Telemetry {
  readonly config: TelemetryConfig;
  /** True when spans are made and exported. */
  readonly tracing: boolean;
  /**
   * The hooks to give a {@link CoreDriver}: metrics and (when tracing is on) spans, around the
   * application's own hooks. With everything off these are the application's hooks.
   */
  driverHooks(spec: DriverTelemetrySpec): DriverHooks;
  /** Registers gauges read at scrape time (leader, ballot, queue depths...). */
  observe(src: GaugeSource): void;
  /** `HealthSource.extra`: answers `/metrics` with the Prometheus text, else null. */
  route(path: string): Promise<{ type: string; body: string }> | null;
  /** Exports every span buffered so far. */
  flush(): Promise<void>;
  /** Flushes and stops exporting. */
  shutdown(): Promise<void>;
}

/** The content type of the Prometheus text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Log fields of the active span: `trace_id`, `span_id` and `trace_flags` while a span is
 * current, none otherwise. Give it to the logger as its mixin (`ServiceDefinition.logMixin`);
 * it returns a fresh object each time, as pino merges the line's own fields into it.
 */
export function traceLogFields(): Record<string, unknown> {
  const span = trace.getSpan(context.active());
  if (span === undefined) return {};
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return {};
  return {
    trace_id: sc.traceId, span_id: sc.spanId,
    trace_flags: (sc.traceFlags & TraceFlags.SAMPLED) !== 0 ? '01' : '00',
  };
}

/**
 * Starts a service's telemetry from the standard `OTEL_*` variables (see
 * {@link readTelemetryConfig}). The OpenTelemetry SDK is loaded only when something is on:
 * with `OTEL_SDK_DISABLED=true` nothing of it is loaded and the driver hooks are the
 * application's own.
 */
export async function startTelemetry(o: TelemetryOptions): Promise<Telemetry> {
  const config = readTelemetryConfig(o.env ?? process.env, o.serviceName);
  for (const w of config.warnings) o.logger?.warn({}, `telemetry: ${w}`);
  if (config.disabled) return disabledTelemetry(config);
  // Loaded on demand: a program that never starts telemetry never loads the SDK.
  const { startSdk } = await import('./sdk.js');
  const sdk: SdkParts = startSdk(config, {
    nodeId: o.nodeId, role: o.role, cluster: o.cluster,
    ...(o.spanExporter === undefined ? {} : { spanExporter: o.spanExporter }),
    ...(o.onSpans === undefined ? {} : { onSpans: o.onSpans }),
    ...(o.simpleProcessor === undefined ? {} : { simpleProcessor: o.simpleProcessor }),
    ...(o.register === undefined ? {} : { register: o.register }),
    ...(o.logger === undefined ? {} : { logger: o.logger }),
  });
  const metrics = config.metrics ? new SynodMetrics(sdk.meter) : null;
  const parts = { tracer: sdk.tracer, propagator: sdk.propagator, metrics };
  let closed: Promise<void> | null = null;
  return {
    config,
    tracing: sdk.tracer !== null,
    driverHooks: (spec) => buildDriverHooks(parts, spec),
    observe: (src) => metrics?.observe(sdk.meter, src),
    route: (path) => path === '/metrics'
      ? sdk.metricsText().then((body) => ({ type: PROMETHEUS_CONTENT_TYPE, body })) : null,
    flush: () => sdk.flush(),
    shutdown: () => (closed ??= sdk.shutdown()),
  };
}

function disabledTelemetry(config: TelemetryConfig): Telemetry {
  return {
    config,
    tracing: false,
    driverHooks: (spec) => spec.app ?? {},
    observe: () => undefined,
    route: (path) => path === '/metrics'
      ? Promise.resolve({
        type: PROMETHEUS_CONTENT_TYPE, body: '# telemetry is off (OTEL_SDK_DISABLED=true)\n',
      })
      : null,
    flush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}
