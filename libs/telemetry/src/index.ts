/**
 * @synod/telemetry: OpenTelemetry for Synod, and the only place that imports the OTel SDK and
 * its exporters. The cores emit typed events and the driver calls hooks; this lib turns them
 * into spans (W3C trace context in NATS headers), metrics (a Prometheus `/metrics` route on
 * each service's health port) and trace ids in logs. It also holds the small OTLP/HTTP
 * receiver that `npm start` runs and the round view that `synod trace` prints.
 */
export {
  parseResourceAttributes,
  readTelemetryConfig,
  type SamplerName,
  type TelemetryConfig,
  type TraceProtocol,
} from './config.js';
export {
  PROMETHEUS_CONTENT_TYPE,
  startTelemetry,
  type Telemetry,
  type TelemetryOptions,
  traceLogFields,
} from './telemetry.js';
export { buildDriverHooks, type DriverTelemetrySpec, type HookParts } from './hooks.js';
export { type GaugeSource, LATENCY_BUCKETS_S, MetricName, SynodMetrics } from './metrics.js';
export { Attr, EventName, Outcome, publishSpanName, SpanName } from './names.js';
export { headerGetter, headerSetter } from './trace-base.js';
export {
  type AttrValue,
  compareNs,
  diffMs,
  nsToMs,
  SPAN_KINDS,
  type SpanKindName,
  type StoredEvent,
  type StoredLink,
  type StoredSpan,
} from './stored-span.js';
export { decodeOtlpJson, decodeOtlpProtobuf, OtlpDecodeError } from './otlp-decode.js';
export {
  type OtlpReceiver,
  type OtlpReceiverOptions,
  readSpanFile,
  startOtlpReceiver,
} from './receiver.js';
export {
  findRound,
  type ItemKind,
  type Lane,
  type LaneItem,
  renderRound,
  type RoundQuery,
  type RoundView,
} from './round-view.js';
