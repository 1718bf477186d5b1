import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { decode, decodeProposeBatch, encode, encodeApi, type ProposeBatch, proposeSubject }
  from '@synod/codec';
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
  const batches: ProposeBatch[] = [];
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
    proposer.subscribe(proposeSubject(cluster), (m) => {
      const b = decodeProposeBatch(m.data);
      batches.push(b);
      proposer.respond(m, encodeApi({ outcomes: b.cmds.map(() => ({ status: 'chosen',
        slot: slot++ })) }));
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

  test('without one, a batch carries no traces at all', async () => {
    const plain = ['a', 'b'].map((id) => new SynodClient(clientBus, { cluster, clientId: id }));
    await Promise.all(plain.map((c) => c.propose('plain')));
    expect(batches.at(-1)).toEqual({ cmds: [{ clientId: 'a', seq: 1, payload: 'plain' },
      { clientId: 'b', seq: 1, payload: 'plain' }] });
  });

  test('with one: a synod.propose CLIENT span under the active span, and its traceparent ' +
    'on the request (or on its command, in a batch)', async () => {
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

      // Proposals of one turn share a batch: each command carries its own span's traceparent
      // in the batch document (one OpenTelemetry SDK per process, so in the same test).
      const cs = ['t0', 't1', 't2'].map((id) => new SynodClient(clientBus, { cluster,
        clientId: id }));
      const orders = trace.getTracer('app').startSpan('handle orders');
      const got = await context.with(trace.setSpan(ROOT_CONTEXT, orders),
        () => Promise.all(cs.map((c) => c.propose('traced'))));
      orders.end();
      const b = batches.at(-1) as ProposeBatch;
      expect(b.cmds.map((c) => c.clientId)).toEqual(['t0', 't1', 't2']);
      const traceId = orders.spanContext().traceId;
      expect(b.traces).toEqual(got.map((p) => {
        const span = spans.find((s) => s.name === 'synod.propose' &&
          s.attributes['synod.request_id'] === `${p.clientId}#${p.seq}`);
        return `00-${traceId}-${span?.spanId ?? 'missing'}-01`;
      }));
    } finally {
      await telemetry.shutdown();
    }
  });
});
