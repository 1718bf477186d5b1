import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { decode, encode } from '@synod/codec';
import { type Headers, type Transport } from '@synod/runtime';
import { startTelemetry, type StoredSpan, type Telemetry } from '@synod/telemetry';
import { SynodClient } from '../src/index.js';
import { Bus, freshCluster } from './bus.js';

/** The SDK's trace context: optional, carried only when the application traces. */
describe('propose carries the caller trace context', () => {
  let bus: Bus;
  let proposer: Transport;
  let clientBus: Transport;
  const seen: Headers[] = [];
  let cluster: string;

  beforeAll(async () => {
    bus = await Bus.start();
    proposer = await bus.connect('proposer');
    clientBus = await bus.connect('client');
    cluster = freshCluster();
    let slot = 0;
    proposer.subscribe(`synod.${cluster}.request.*`, (m) => {
      seen.push(m.headers);
      const req = decode(m.data);
      if (req.type !== 'request') return;
      proposer.respond(m, encode({ type: 'response', from: 'p1', to: req.from,
        clientId: req.cmd.clientId, seq: req.cmd.seq,
        outcome: { status: 'chosen', slot: slot++ } }));
    });
    await proposer.flush();
  });
  afterAll(async () => {
    await bus?.stop();
  });

  test('without an OpenTelemetry SDK in the process: no trace headers at all', async () => {
    const client = new SynodClient(clientBus, { cluster, timeoutMs: 3000 });
    await client.propose('plain');
    expect(seen.at(-1)?.['traceparent']).toBeUndefined();
  });

  test('with one: a synod.propose CLIENT span under the active span, and its traceparent ' +
    'on the request', async () => {
    const spans: StoredSpan[] = [];
    const telemetry: Telemetry = await startTelemetry({ serviceName: 'app', role: 'client',
      nodeId: 'app-1', cluster, env: { OTEL_METRICS_EXPORTER: 'none' }, simpleProcessor: true,
      onSpans: (s) => spans.push(...s) });
    try {
      const client = new SynodClient(clientBus, { cluster, timeoutMs: 3000, clientId: 'c-app' });
      const outer = trace.getTracer('app').startSpan('handle order');
      const done = context.with(trace.setSpan(ROOT_CONTEXT, outer), () => client.propose('x'));
      const r = await done;
      outer.end();
      const header = seen.at(-1)?.['traceparent'] ?? '';
      expect(header).toMatch(new RegExp(`^00-${outer.spanContext().traceId}-[0-9a-f]{16}-01$`));
      const propose = spans.find((s) => s.name === 'synod.propose') as StoredSpan;
      expect(propose).toMatchObject({ kind: 'client', parentSpanId: outer.spanContext().spanId,
        attributes: { 'synod.request_id': `c-app#${r.seq}`, 'synod.slot': r.slot,
          'synod.outcome': 'chosen', 'messaging.system': 'nats' } });
      expect(header.split('-')[2]).toBe(propose.spanId);
    } finally {
      await telemetry.shutdown();
    }
  });
});
