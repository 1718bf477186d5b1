import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import {
  parseResourceAttributes,
  readTelemetryConfig,
  startTelemetry,
  type StoredSpan,
  traceLogFields,
} from '@synod/telemetry';

describe('configuration from OTEL_* variables', () => {
  const read = (env: Record<string, string>) => readTelemetryConfig(env, 'synod-acceptor');

  test('no endpoint: tracing off, metrics on, defaults', () => {
    expect(read({})).toMatchObject({
      disabled: false, tracing: false, metrics: true, tracesUrl: null, protocol: 'http/protobuf',
      sampler: 'parentbased_always_on', samplerRatio: 1, serviceName: 'synod-acceptor',
      warnings: [],
    });
  });

  test('an endpoint turns tracing on; the traces path is appended to the base endpoint', () => {
    expect(read({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318/' })).toMatchObject({
      tracing: true, tracesUrl: 'http://otel-collector:4318/v1/traces' });
    expect(read({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/custom' })).toMatchObject({
      tracing: true, tracesUrl: 'http://c:4318/custom' });
    expect(read({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }))
      .toMatchObject({ tracing: false });
    expect(read({ OTEL_TRACES_EXPORTER: 'console' })).toMatchObject({ tracing: true });
  });

  test('OTEL_SDK_DISABLED turns everything off', () => {
    expect(read({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }))
      .toMatchObject({ disabled: true, tracing: false, metrics: false });
  });

  test('protocol, sampler, service name and resource attributes', () => {
    const c = read({
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25', OTEL_SERVICE_NAME: 'a-east',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,team=db%20core',
    });
    expect(c).toMatchObject({ protocol: 'http/json', sampler: 'parentbased_traceidratio',
      samplerRatio: 0.25, serviceName: 'a-east',
      resourceAttributes: { 'deployment.environment': 'prod', team: 'db core' } });
    expect(parseResourceAttributes('service.name=x,bad,=y')).toEqual({ 'service.name': 'x' });
  });

  test('unsupported values fall back to defaults with a warning', () => {
    const c = read({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_TRACES_SAMPLER: 'jaeger_remote',
      OTEL_TRACES_SAMPLER_ARG: '7', OTEL_TRACES_EXPORTER: 'zipkin' });
    expect(c).toMatchObject({ protocol: 'http/protobuf', sampler: 'parentbased_always_on',
      samplerRatio: 1 });
    expect(c.warnings).toHaveLength(4);
  });
});

describe('telemetry on and off', () => {
  test('OTEL_SDK_DISABLED: no SDK, the application hooks, /metrics says it is off', async () => {
    const t = await startTelemetry({ serviceName: 'synod-learner', role: 'learner', nodeId: 'l1',
      cluster: 'c', env: { OTEL_SDK_DISABLED: 'true' } });
    const app = {};
    expect(t.tracing).toBe(false);
    expect(t.driverHooks({ role: 'learner', nodeId: 'l1', cluster: 'c', app })).toBe(app);
    expect((await t.route('/metrics'))?.body).toContain('off');
    await t.shutdown();
  });

  test('logs carry the ids of the active span, and nothing outside one', async () => {
    const spans: StoredSpan[] = [];
    const t = await startTelemetry({ serviceName: 'synod-proposer', role: 'proposer',
      nodeId: 'p1', cluster: 'c', env: { OTEL_METRICS_EXPORTER: 'none' }, simpleProcessor: true,
      onSpans: (s) => spans.push(...s) });
    expect(t.tracing).toBe(true);
    expect(traceLogFields()).toEqual({});
    const span = trace.getTracer('t').startSpan('work');
    const fields = context.with(trace.setSpan(ROOT_CONTEXT, span), () => traceLogFields());
    expect(fields).toEqual({ trace_id: span.spanContext().traceId,
      span_id: span.spanContext().spanId, trace_flags: '01' });
    span.end();
    expect(spans.map((s) => s.name)).toEqual(['work']);
    expect(spans[0]).toMatchObject({ service: 'synod-proposer', node: 'p1' });
    await t.shutdown();
  });
});
