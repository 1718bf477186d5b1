import {
  type Attributes,
  type Context,
  type ContextManager,
  createNoopMeter,
  diag,
  type DiagLogger,
  DiagLogLevel,
  type HrTime,
  type Meter,
  ROOT_CONTEXT,
  type TextMapPropagator,
  type Tracer,
} from '@opentelemetry/api';
import {
  type ExportResult,
  ExportResultCode,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { Logger } from '@synod/runtime';
import type { TelemetryConfig } from './config.js';
import { type AttrValue, SPAN_KINDS, type StoredSpan } from './stored-span.js';

/** What {@link startSdk} builds; everything the rest of the lib needs, as API types. */
export interface SdkParts {
  readonly tracer: Tracer | null;
  readonly meter: Meter;
  readonly propagator: TextMapPropagator;
  /** The Prometheus text exposition of every metric, for `GET /metrics`. */
  metricsText(): Promise<string>;
  /** Exports the spans buffered so far. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** Settings of {@link startSdk}. */
export interface SdkOptions {
  readonly nodeId: string;
  readonly role: string;
  readonly cluster: string;
  readonly version?: string;
  /** Export spans here instead of OTLP (tests, benchmarks). Turns tracing on. */
  readonly spanExporter?: SpanExporter;
  /** Hand finished spans, as stored spans, to this function instead (tests). */
  readonly onSpans?: (spans: StoredSpan[]) => void;
  /** Export each span as it ends instead of in batches (tests). */
  readonly simpleProcessor?: boolean;
  /** Make this the global tracer provider, context manager and propagator. Default true. */
  readonly register?: boolean;
  /** Where the SDK's own warnings go (export failures...). */
  readonly logger?: Logger;
}

function samplerOf(c: TelemetryConfig): Sampler {
  const ratio = (): Sampler => new TraceIdRatioBasedSampler(c.samplerRatio);
  switch (c.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio() });
  }
}

const hrToNs = (t: HrTime): string => (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString();
const attrs = (a: Readonly<Record<string, unknown>> | undefined): Record<string, AttrValue> =>
  ({ ...(a ?? {}) }) as Record<string, AttrValue>;

/** An SDK span as the local receiver would store it. */
function toStored(s: ReadableSpan): StoredSpan {
  const sc = s.spanContext();
  const service = s.resource.attributes['service.name'];
  const node = s.resource.attributes['service.instance.id'];
  const message = s.status.message;
  const code = (['unset', 'ok', 'error'] as const)[s.status.code] ?? 'unset';
  return {
    traceId: sc.traceId, spanId: sc.spanId, parentSpanId: s.parentSpanContext?.spanId ?? null,
    name: s.name, kind: SPAN_KINDS[s.kind + 1] ?? 'unspecified',
    start: hrToNs(s.startTime), end: hrToNs(s.endTime),
    service: typeof service === 'string' ? service : 'unknown_service',
    node: typeof node === 'string' ? node : null,
    attributes: attrs(s.attributes),
    events: s.events.map((e) => ({ name: e.name, time: hrToNs(e.time),
      attributes: attrs(e.attributes) })),
    links: s.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId,
      attributes: attrs(l.attributes) })),
    status: message === undefined || message === '' ? { code } : { code, message },
  };
}

/** Hands finished spans to a function, in process (tests, benchmarks). */
class SinkExporter implements SpanExporter {
  constructor(private readonly sink: (spans: StoredSpan[]) => void) {}

  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.sink(spans.map(toStored));
    done({ code: ExportResultCode.SUCCESS });
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

function exporterOf(c: TelemetryConfig): SpanExporter {
  if (c.tracesExporter === 'console') return new ConsoleSpanExporter();
  const url = c.tracesUrl ?? undefined;
  const o = url === undefined ? {} : { url };
  return c.protocol === 'http/json' ? new OtlpJsonExporter(o) : new OtlpProtoExporter(o);
}

/**
 * A context manager for synchronous scopes only. Synod passes span contexts explicitly
 * everywhere; the active context matters only while a log line is written inside
 * `context.with`. The SDK's default for Node (AsyncLocalStorage) would turn on async hooks for
 * every promise of the process, a cost paid even for rounds that are not sampled.
 */
class SyncContextManager implements ContextManager {
  private current: Context = ROOT_CONTEXT;

  active(): Context {
    return this.current;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    const prev = this.current;
    this.current = ctx;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.current = prev;
    }
  }

  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const fn = target as unknown as (...a: unknown[]) => unknown;
    const bound = (...a: unknown[]): unknown => this.with(ctx, () => fn(...a));
    return bound as unknown as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.current = ROOT_CONTEXT;
    return this;
  }
}

/** Routes the SDK's diagnostics (failed exports, bad settings) to the service's log. */
function diagTo(log: Logger): DiagLogger {
  const line = (level: 'warn' | 'error' | 'debug') => (msg: string, ...args: unknown[]) =>
    log[level]({ otel: args.length === 0 ? undefined : args.map(String).join(' ') },
      `opentelemetry: ${msg}`);
  return {
    error: line('error'), warn: line('warn'), info: line('debug'), debug: line('debug'),
    verbose: line('debug'),
  };
}

/**
 * Builds the OpenTelemetry SDK of one service: a tracer provider exporting OTLP/HTTP (protobuf
 * or JSON, per `OTEL_EXPORTER_OTLP_PROTOCOL`; batched per `OTEL_BSP_*`) when tracing is on, and
 * a meter provider read by a Prometheus exporter that serves no port of its own: its text is
 * served on the service's health port at `/metrics`.
 */
export function startSdk(config: TelemetryConfig, o: SdkOptions): SdkParts {
  if (o.logger !== undefined) diag.setLogger(diagTo(o.logger), DiagLogLevel.WARN);
  const attrs: Attributes = {
    'service.name': config.serviceName, 'service.namespace': 'synod',
    'service.instance.id': o.nodeId, 'synod.role': o.role, 'synod.cluster': o.cluster,
    ...(o.version === undefined ? {} : { 'service.version': o.version }),
    ...config.resourceAttributes,
  };
  attrs['service.name'] = config.serviceName;
  const resource = resourceFromAttributes(attrs);
  let meterProvider: MeterProvider | null = null;
  let prometheus: PrometheusExporter | null = null;
  let meter: Meter = createNoopMeter();
  if (config.metrics) {
    prometheus = new PrometheusExporter({
      preventServerStart: true,
      withResourceConstantLabels: /^(service\.name|service\.instance\.id|synod\.role)$/,
    });
    meterProvider = new MeterProvider({ resource, readers: [prometheus] });
    meter = meterProvider.getMeter('@synod/telemetry', o.version);
  }
  // Resource attributes that identify the service become labels of every series.
  const serializer = new PrometheusSerializer(undefined, false,
    /^(service\.name|service\.instance\.id|synod\.role)$/, false, true);
  let tracerProvider: NodeTracerProvider | null = null;
  let tracer: Tracer | null = null;
  const given = o.spanExporter ??
    (o.onSpans === undefined ? undefined : new SinkExporter(o.onSpans));
  if ((config.tracing || given !== undefined) && !config.disabled) {
    const exporter = given ?? exporterOf(config);
    const processor: SpanProcessor = o.simpleProcessor === true
      ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter);
    tracerProvider = new NodeTracerProvider({
      resource, sampler: samplerOf(config), spanProcessors: [processor],
    });
    if (o.register !== false) {
      tracerProvider.register({ contextManager: new SyncContextManager() });
    }
    tracer = tracerProvider.getTracer('@synod/telemetry', o.version);
  }
  return {
    tracer,
    meter,
    propagator: new W3CTraceContextPropagator(),
    async metricsText() {
      if (prometheus === null) {
        return '# metrics are off (OTEL_SDK_DISABLED=true or OTEL_METRICS_EXPORTER=none)\n';
      }
      const { resourceMetrics } = await prometheus.collect();
      return serializer.serialize(resourceMetrics);
    },
    async flush() {
      await tracerProvider?.forceFlush();
    },
    async shutdown() {
      await Promise.allSettled([tracerProvider?.shutdown(), meterProvider?.shutdown()]);
    },
  };
}
