import {
  type AttrValue,
  SPAN_KINDS,
  type SpanKindName,
  type StoredEvent,
  type StoredLink,
  type StoredSpan,
} from './stored-span.js';

/** A request body that is not a valid OTLP trace export. */
export class OtlpDecodeError extends Error {
  override readonly name = 'OtlpDecodeError';
  readonly code = 'BAD_OTLP';
}

type Attrs = Record<string, AttrValue>;

const STATUS: readonly StoredSpan['status']['code'][] = ['unset', 'ok', 'error'];

function kindOf(n: number): SpanKindName {
  return SPAN_KINDS[n] ?? 'unspecified';
}

function resourceNames(attrs: Attrs): { service: string; node: string | null } {
  const service = attrs['service.name'];
  const node = attrs['service.instance.id'];
  return {
    service: typeof service === 'string' ? service : 'unknown_service',
    node: typeof node === 'string' ? node : null,
  };
}

// ---- protobuf -------------------------------------------------------------------------------

/** A cursor over protobuf wire-format bytes: just what an OTLP trace export uses. */
class Reader {
  pos = 0;
  constructor(private readonly b: Uint8Array, readonly end = b.length) {}

  more(): boolean {
    return this.pos < this.end;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new OtlpDecodeError('truncated varint');
      const byte = this.b[this.pos++] as number;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new OtlpDecodeError('varint too long');
    }
  }

  fixed64(): DataView {
    if (this.pos + 8 > this.end) throw new OtlpDecodeError('truncated fixed64');
    const v = new DataView(this.b.buffer, this.b.byteOffset + this.pos, 8);
    this.pos += 8;
    return v;
  }

  bytes(): Uint8Array {
    const n = Number(this.varint());
    if (this.pos + n > this.end) throw new OtlpDecodeError('truncated field');
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        return;
      case 2:
        this.bytes();
        return;
      case 5:
        this.pos += 4;
        return;
      default:
        throw new OtlpDecodeError(`unsupported wire type ${wire}`);
    }
  }

  /** Calls `fn(field, wire)` for every field of the message until `end`. */
  fields(fn: (field: number, wire: number) => void): void {
    while (this.more()) {
      const tag = Number(this.varint());
      fn(tag >>> 3, tag & 7);
    }
    if (this.pos !== this.end) throw new OtlpDecodeError('field overruns its message');
  }
}

const utf8 = new TextDecoder();
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sub = (b: Uint8Array): Reader => new Reader(b);

function pbAnyValue(b: Uint8Array): AttrValue {
  let v: AttrValue = null;
  const r = sub(b);
  r.fields((f, w) => {
    if (f === 1 && w === 2) v = utf8.decode(r.bytes());
    else if (f === 2 && w === 0) v = r.varint() !== 0n;
    else if (f === 3 && w === 0) v = Number(BigInt.asIntN(64, r.varint()));
    else if (f === 4 && w === 1) v = r.fixed64().getFloat64(0, true);
    else if (f === 5 && w === 2) {
      const values: AttrValue[] = [];
      const a = sub(r.bytes());
      a.fields((g, x) => (g === 1 && x === 2 ? values.push(pbAnyValue(a.bytes())) : a.skip(x)));
      v = values;
    } else if (f === 6 && w === 2) v = pbKeyValues(r.bytes(), 1);
    else if (f === 7 && w === 2) v = Buffer.from(r.bytes()).toString('base64');
    else r.skip(w);
  });
  return v;
}

function pbKeyValue(b: Uint8Array, into: Attrs): void {
  let key = '';
  let value: AttrValue = null;
  const r = sub(b);
  r.fields((f, w) => {
    if (f === 1 && w === 2) key = utf8.decode(r.bytes());
    else if (f === 2 && w === 2) value = pbAnyValue(r.bytes());
    else r.skip(w);
  });
  into[key] = value;
}

/** A message whose field `field` is a repeated KeyValue (Resource, KeyValueList). */
function pbKeyValues(b: Uint8Array, field: number): Attrs {
  const out: Attrs = {};
  const r = sub(b);
  r.fields((f, w) => (f === field && w === 2 ? pbKeyValue(r.bytes(), out) : r.skip(w)));
  return out;
}

function pbEvent(b: Uint8Array): StoredEvent {
  let time = '0';
  let name = '';
  const attributes: Attrs = {};
  const r = sub(b);
  r.fields((f, w) => {
    if (f === 1 && w === 1) time = r.fixed64().getBigUint64(0, true).toString();
    else if (f === 2 && w === 2) name = utf8.decode(r.bytes());
    else if (f === 3 && w === 2) pbKeyValue(r.bytes(), attributes);
    else r.skip(w);
  });
  return { name, time, attributes };
}

function pbLink(b: Uint8Array): StoredLink {
  let traceId = '';
  let spanId = '';
  const attributes: Attrs = {};
  const r = sub(b);
  r.fields((f, w) => {
    if (f === 1 && w === 2) traceId = hex(r.bytes());
    else if (f === 2 && w === 2) spanId = hex(r.bytes());
    else if (f === 4 && w === 2) pbKeyValue(r.bytes(), attributes);
    else r.skip(w);
  });
  return { traceId, spanId, attributes };
}

function pbStatus(b: Uint8Array): StoredSpan['status'] {
  let code = 0;
  let message: string | undefined;
  const r = sub(b);
  r.fields((f, w) => {
    if (f === 2 && w === 2) message = utf8.decode(r.bytes());
    else if (f === 3 && w === 0) code = Number(r.varint());
    else r.skip(w);
  });
  const c = STATUS[code] ?? 'unset';
  return message === undefined || message === '' ? { code: c } : { code: c, message };
}

function pbSpan(b: Uint8Array, res: { service: string; node: string | null }): StoredSpan {
  const s = {
    traceId: '', spanId: '', parentSpanId: null as string | null, name: '', kind: 0,
    start: '0', end: '0', attributes: {} as Attrs, events: [] as StoredEvent[],
    links: [] as StoredLink[], status: { code: 'unset' } as StoredSpan['status'],
  };
  const r = sub(b);
  r.fields((f, w) => {
    if (w === 2 && f === 1) s.traceId = hex(r.bytes());
    else if (w === 2 && f === 2) s.spanId = hex(r.bytes());
    else if (w === 2 && f === 4) {
      const p = r.bytes();
      s.parentSpanId = p.length === 0 ? null : hex(p);
    } else if (w === 2 && f === 5) s.name = utf8.decode(r.bytes());
    else if (w === 0 && f === 6) s.kind = Number(r.varint());
    else if (w === 1 && f === 7) s.start = r.fixed64().getBigUint64(0, true).toString();
    else if (w === 1 && f === 8) s.end = r.fixed64().getBigUint64(0, true).toString();
    else if (w === 2 && f === 9) pbKeyValue(r.bytes(), s.attributes);
    else if (w === 2 && f === 11) s.events.push(pbEvent(r.bytes()));
    else if (w === 2 && f === 13) s.links.push(pbLink(r.bytes()));
    else if (w === 2 && f === 15) s.status = pbStatus(r.bytes());
    else r.skip(w);
  });
  return { ...s, kind: kindOf(s.kind), ...res };
}

/** Decodes an OTLP `ExportTraceServiceRequest` in protobuf form. */
export function decodeOtlpProtobuf(body: Uint8Array): StoredSpan[] {
  const out: StoredSpan[] = [];
  const top = sub(body);
  top.fields((f, w) => {
    if (f !== 1 || w !== 2) return top.skip(w);
    const rs = sub(top.bytes());
    let res = { service: 'unknown_service', node: null as string | null };
    const scopes: Uint8Array[] = [];
    rs.fields((g, x) => {
      if (g === 1 && x === 2) res = resourceNames(pbKeyValues(rs.bytes(), 1));
      else if (g === 2 && x === 2) scopes.push(rs.bytes());
      else rs.skip(x);
    });
    for (const scope of scopes) {
      const ss = sub(scope);
      ss.fields((g, x) => (g === 2 && x === 2 ? out.push(pbSpan(ss.bytes(), res)) : ss.skip(x)));
    }
  });
  return out;
}

// ---- JSON -----------------------------------------------------------------------------------

type Json = Record<string, unknown>;

const isObj = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);
const arr = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);

/** A 64-bit number as OTLP JSON may write it: a string, a number, or `{low, high}`. */
function jsonNs(x: unknown): string {
  if (typeof x === 'string' && /^[0-9]+$/.test(x)) return x;
  if (typeof x === 'number' && Number.isFinite(x)) return BigInt(Math.round(x)).toString();
  if (isObj(x) && typeof x['low'] === 'number' && typeof x['high'] === 'number') {
    return ((BigInt(x['high'] >>> 0) << 32n) | BigInt(x['low'] >>> 0)).toString();
  }
  return '0';
}

/** An id as hex: OTLP JSON writes hex, but a base64 writer is tolerated. */
function jsonId(x: unknown, bytes: number): string {
  if (typeof x !== 'string' || x === '') return '';
  if (x.length === bytes * 2 && /^[0-9a-fA-F]+$/.test(x)) return x.toLowerCase();
  return Buffer.from(x, 'base64').toString('hex');
}

function jsonAnyValue(v: unknown): AttrValue {
  if (!isObj(v)) return null;
  if (typeof v['stringValue'] === 'string') return v['stringValue'];
  if (typeof v['boolValue'] === 'boolean') return v['boolValue'];
  if (v['intValue'] !== undefined) return Number(v['intValue']);
  if (v['doubleValue'] !== undefined) return Number(v['doubleValue']);
  if (isObj(v['arrayValue'])) return arr(v['arrayValue']['values']).map(jsonAnyValue);
  if (isObj(v['kvlistValue'])) return jsonAttrs(v['kvlistValue']['values']);
  if (typeof v['bytesValue'] === 'string') return v['bytesValue'];
  return null;
}

function jsonAttrs(list: unknown): Attrs {
  const out: Attrs = {};
  for (const kv of arr(list)) {
    if (isObj(kv) && typeof kv['key'] === 'string') out[kv['key']] = jsonAnyValue(kv['value']);
  }
  return out;
}

function jsonSpan(s: Json, res: { service: string; node: string | null }): StoredSpan {
  const status = isObj(s['status']) ? s['status'] : {};
  const code = STATUS[Number(status['code'] ?? 0)] ?? 'unset';
  const message = typeof status['message'] === 'string' && status['message'] !== ''
    ? status['message'] : undefined;
  const parent = jsonId(s['parentSpanId'], 8);
  return {
    traceId: jsonId(s['traceId'], 16), spanId: jsonId(s['spanId'], 8),
    parentSpanId: parent === '' ? null : parent,
    name: typeof s['name'] === 'string' ? s['name'] : '',
    kind: kindOf(Number(s['kind'] ?? 0)),
    start: jsonNs(s['startTimeUnixNano']), end: jsonNs(s['endTimeUnixNano']),
    ...res,
    attributes: jsonAttrs(s['attributes']),
    events: arr(s['events']).filter(isObj).map((e) => ({
      name: typeof e['name'] === 'string' ? e['name'] : '', time: jsonNs(e['timeUnixNano']),
      attributes: jsonAttrs(e['attributes']),
    })),
    links: arr(s['links']).filter(isObj).map((l) => ({
      traceId: jsonId(l['traceId'], 16), spanId: jsonId(l['spanId'], 8),
      attributes: jsonAttrs(l['attributes']),
    })),
    status: message === undefined ? { code } : { code, message },
  };
}

/** Decodes an OTLP `ExportTraceServiceRequest` in its JSON form. */
export function decodeOtlpJson(text: string): StoredSpan[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new OtlpDecodeError(`not JSON: ${(e as Error).message}`);
  }
  if (!isObj(doc)) throw new OtlpDecodeError('not an ExportTraceServiceRequest');
  const out: StoredSpan[] = [];
  for (const rs of arr(doc['resourceSpans']).filter(isObj)) {
    const res = resourceNames(isObj(rs['resource']) ? jsonAttrs(rs['resource']['attributes']) : {});
    for (const ss of arr(rs['scopeSpans']).filter(isObj)) {
      for (const s of arr(ss['spans']).filter(isObj)) out.push(jsonSpan(s, res));
    }
  }
  return out;
}
