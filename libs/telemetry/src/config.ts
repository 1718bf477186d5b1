/**
 * Telemetry settings, read from the standard OpenTelemetry environment variables. Nothing here
 * touches the SDK: the decision "is tracing on?" is made before any of it is loaded.
 */

/** How traces leave the process. */
export type TraceProtocol = 'http/protobuf' | 'http/json';

/** Which sampler to use (the spec's `OTEL_TRACES_SAMPLER` values that make sense here). */
export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

/** What {@link readTelemetryConfig} decided. */
export interface TelemetryConfig {
  /** `OTEL_SDK_DISABLED=true`: no spans, no metrics (the `/metrics` route says so). */
  readonly disabled: boolean;
  /** Spans are made and exported: an OTLP endpoint is set (or the console exporter chosen). */
  readonly tracing: boolean;
  /** `otlp` (default) or `console` (`OTEL_TRACES_EXPORTER`). */
  readonly tracesExporter: 'otlp' | 'console' | 'none';
  /** Full URL that spans are POSTed to, e.g. `http://otel-collector:4318/v1/traces`. */
  readonly tracesUrl: string | null;
  readonly protocol: TraceProtocol;
  readonly sampler: SamplerName;
  /** Ratio of the ratio samplers, 0..1 (`OTEL_TRACES_SAMPLER_ARG`, default 1). */
  readonly samplerRatio: number;
  /** Metrics on the `/metrics` route (`OTEL_METRICS_EXPORTER` other than `none`). */
  readonly metrics: boolean;
  /** `OTEL_SERVICE_NAME`, else the service's own name. */
  readonly serviceName: string;
  /** `OTEL_RESOURCE_ATTRIBUTES`, parsed. */
  readonly resourceAttributes: Readonly<Record<string, string>>;
  /** Problems found (unknown values that were replaced by defaults), to be logged. */
  readonly warnings: readonly string[];
}

const SAMPLERS: readonly SamplerName[] = [
  'always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off',
  'parentbased_traceidratio',
];

type Env = Readonly<Record<string, string | undefined>>;

function get(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

/** `http://host:4318` + `/v1/traces`, tolerating a trailing slash. */
function tracesUrlOf(env: Env): string | null {
  const specific = get(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (specific !== undefined) return specific;
  const base = get(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (base === undefined) return null;
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

/** `k1=v1,k2=v2` (values may be percent-encoded), as the spec writes resource attributes. */
export function parseResourceAttributes(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === undefined) return out;
  for (const pair of raw.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const key = pair.slice(0, eq).trim();
    let value = pair.slice(eq + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      // Not percent-encoded after all: keep it as written.
    }
    if (key !== '') out[key] = value;
  }
  return out;
}

/**
 * Reads the OpenTelemetry environment. Tracing is on only when an OTLP endpoint is given
 * (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or
 * `OTEL_TRACES_EXPORTER=console`, and `OTEL_SDK_DISABLED` is not `true`: with no endpoint there
 * is nowhere to send spans, so none are made and the driver gets no tracing hooks at all.
 */
export function readTelemetryConfig(env: Env, defaultServiceName: string): TelemetryConfig {
  const warnings: string[] = [];
  const disabled = get(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true';
  const exporterRaw = (get(env, 'OTEL_TRACES_EXPORTER') ?? 'otlp').split(',')[0]?.trim() ?? '';
  let tracesExporter: TelemetryConfig['tracesExporter'] = 'otlp';
  if (exporterRaw === 'console' || exporterRaw === 'none') tracesExporter = exporterRaw;
  else if (exporterRaw !== 'otlp') {
    warnings.push(`OTEL_TRACES_EXPORTER=${exporterRaw}: only otlp, console and none are ` +
      'supported; using otlp');
  }
  const tracesUrl = tracesUrlOf(env);
  const protoRaw = get(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ??
    get(env, 'OTEL_EXPORTER_OTLP_PROTOCOL') ?? 'http/protobuf';
  let protocol: TraceProtocol = 'http/protobuf';
  if (protoRaw === 'http/json') protocol = 'http/json';
  else if (protoRaw !== 'http/protobuf') {
    warnings.push(`OTEL_EXPORTER_OTLP_PROTOCOL=${protoRaw}: only http/protobuf and http/json ` +
      'are supported; using http/protobuf');
  }
  const samplerRaw = get(env, 'OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on';
  let sampler: SamplerName = 'parentbased_always_on';
  if ((SAMPLERS as readonly string[]).includes(samplerRaw)) sampler = samplerRaw as SamplerName;
  else warnings.push(`OTEL_TRACES_SAMPLER=${samplerRaw} is not supported; using the default`);
  const argRaw = get(env, 'OTEL_TRACES_SAMPLER_ARG');
  let samplerRatio = 1;
  if (argRaw !== undefined) {
    const n = Number(argRaw);
    if (Number.isFinite(n) && n >= 0 && n <= 1) samplerRatio = n;
    else warnings.push(`OTEL_TRACES_SAMPLER_ARG=${argRaw} is not in [0, 1]; using 1`);
  }
  const tracing = !disabled && (
    (tracesExporter === 'otlp' && tracesUrl !== null) || tracesExporter === 'console');
  const resourceAttributes = parseResourceAttributes(get(env, 'OTEL_RESOURCE_ATTRIBUTES'));
  return {
    disabled,
    tracing,
    tracesExporter,
    tracesUrl,
    protocol,
    sampler,
    samplerRatio,
    metrics: !disabled && get(env, 'OTEL_METRICS_EXPORTER') !== 'none',
    serviceName: get(env, 'OTEL_SERVICE_NAME') ?? resourceAttributes['service.name'] ??
      defaultServiceName,
    resourceAttributes,
    warnings,
  };
}
