/** A value of a span attribute as stored: OTLP's AnyValue, flattened to JSON. */
export type AttrValue = string | number | boolean | null | AttrValue[] | { [k: string]: AttrValue };

/** How a span relates to its peers (OTLP's SpanKind). */
export type SpanKindName =
  'unspecified' | 'internal' | 'server' | 'client' | 'producer' | 'consumer';

/** OTLP's span kind numbers, in order. */
export const SPAN_KINDS: readonly SpanKindName[] = [
  'unspecified', 'internal', 'server', 'client', 'producer', 'consumer',
];

/** A span event as stored. */
export interface StoredEvent {
  readonly name: string;
  /** Unix time in nanoseconds, as a decimal string (exact). */
  readonly time: string;
  readonly attributes: Readonly<Record<string, AttrValue>>;
}

/** A span link as stored. */
export interface StoredLink {
  readonly traceId: string;
  readonly spanId: string;
  readonly attributes: Readonly<Record<string, AttrValue>>;
}

/**
 * One span as the local receiver stores it: one JSON object per line of an NDJSON file. Ids
 * are lower-case hex; times are Unix nanoseconds as decimal strings, so that ordering is exact.
 */
export interface StoredSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** The parent's span id, or null for a root span. */
  readonly parentSpanId: string | null;
  readonly name: string;
  readonly kind: SpanKindName;
  readonly start: string;
  readonly end: string;
  /** The resource's `service.name`. */
  readonly service: string;
  /** The resource's `service.instance.id` (the Synod node id), or null. */
  readonly node: string | null;
  readonly attributes: Readonly<Record<string, AttrValue>>;
  readonly events: readonly StoredEvent[];
  readonly links: readonly StoredLink[];
  readonly status: { readonly code: 'unset' | 'ok' | 'error'; readonly message?: string };
}

/** Nanoseconds (decimal string) to milliseconds since the epoch, as a float. */
export function nsToMs(ns: string): number {
  return Number(BigInt(ns) / 1000n) / 1000;
}

/** `b - a` in milliseconds, exact to the nanosecond before rounding to a float. */
export function diffMs(a: string, b: string): number {
  return Number(BigInt(b) - BigInt(a)) / 1e6;
}

/** Orders two nanosecond strings: negative when `a` is earlier. */
export function compareNs(a: string, b: string): number {
  const d = BigInt(a) - BigInt(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}
