import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import {
  decodeOtlpJson,
  decodeOtlpProtobuf,
  OtlpDecodeError,
  readSpanFile,
  startOtlpReceiver,
  type StoredSpan,
} from '@synod/telemetry';

/** Spans made by the real SDK, with every kind of attribute, an event, a link, an error. */
function sdkSpans(): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'synod-acceptor',
      'service.instance.id': 'a2' }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('test');
  const parent = tracer.startSpan('acceptor.accept', { kind: SpanKind.CONSUMER, attributes: {
    'synod.slot': 42, 'synod.ballot': '3.p1.77', ok: true, ratio: 0.5, list: ['a', 'b'],
    big: 2 ** 40,
  } });
  parent.addEvent('message.received', { 'synod.peer': 'p1' });
  const child = tracer.startSpan('redis.persist', {
    kind: SpanKind.CLIENT, links: [{ context: parent.spanContext(), attributes: { k: 'v' } }],
  }, trace.setSpan(ROOT_CONTEXT, parent));
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
  child.end();
  parent.end();
  return exporter.getFinishedSpans();
}

function post(url: string, body: Uint8Array | string, type: string, gzip = false):
  Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = gzip ? gzipSync(body) : Buffer.from(body);
    const req = http.request(`${url}/v1/traces`, { method: 'POST', headers: {
      'content-type': type, ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

describe('OTLP decoding', () => {
  const spans = sdkSpans();
  const proto = ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array;
  const json = new TextDecoder().decode(JsonTraceSerializer.serializeRequest(spans));

  test('protobuf and JSON exports of the same spans decode to the same stored spans', () => {
    const a = decodeOtlpProtobuf(proto);
    const b = decodeOtlpJson(json);
    expect(a).toEqual(b);
    expect(a).toHaveLength(2);
  });

  test('what a stored span holds', () => {
    const [child, parent] = decodeOtlpProtobuf(proto) as [StoredSpan, StoredSpan];
    expect(parent).toMatchObject({
      name: 'acceptor.accept', kind: 'consumer', parentSpanId: null, service: 'synod-acceptor',
      node: 'a2', attributes: { 'synod.slot': 42, 'synod.ballot': '3.p1.77', ok: true,
        ratio: 0.5, list: ['a', 'b'], big: 2 ** 40 },
      status: { code: 'unset' },
    });
    expect(parent.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(parent.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(parent.events).toEqual([{ name: 'message.received',
      time: expect.stringMatching(/^\d{19}$/), attributes: { 'synod.peer': 'p1' } }]);
    expect(BigInt(parent.end) >= BigInt(parent.start)).toBe(true);
    expect(child).toMatchObject({
      name: 'redis.persist', kind: 'client', parentSpanId: parent.spanId,
      status: { code: 'error', message: 'boom' },
      links: [{ traceId: parent.traceId, spanId: parent.spanId, attributes: { k: 'v' } }],
    });
  });

  test('garbage is a typed error, not a crash', () => {
    expect(() => decodeOtlpProtobuf(Uint8Array.from([0x0a, 0xff]))).toThrow(OtlpDecodeError);
    expect(() => decodeOtlpJson('{')).toThrow(OtlpDecodeError);
    expect(decodeOtlpJson('{}')).toEqual([]);
  });

  test('the receiver takes protobuf, JSON and gzip over HTTP and appends NDJSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'synod-otlp-'));
    const file = join(dir, 'traces', 'spans.ndjson');
    const seen: StoredSpan[] = [];
    const r = await startOtlpReceiver({ file, onSpans: (s) => seen.push(...s) });
    try {
      expect(await post(r.url, proto, 'application/x-protobuf'))
        .toEqual({ status: 200, body: '' });
      expect(await post(r.url, json, 'application/json')).toEqual({ status: 200, body: '{}' });
      expect((await post(r.url, proto, 'application/x-protobuf', true)).status).toBe(200);
      expect((await post(r.url, 'nope', 'application/json')).status).toBe(400);
      expect(r.received).toBe(6);
      expect(seen).toHaveLength(6);
      expect(readSpanFile(file)).toEqual(seen);
    } finally {
      await r.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
