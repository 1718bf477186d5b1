import { encode } from '@synod/codec';
import {
  AcceptorCore,
  LearnerCore,
  type MsgRequest,
  ProposerCore,
  Sfc32,
} from '@synod/protocol';
import { type Core, CoreDriver, silentLogger, type Transport } from '@synod/runtime';
import { RedisAcceptorStore, RedisLearnerStore } from '@synod/store-redis';
import {
  Attr,
  buildDriverHooks,
  compareNs,
  findRound,
  renderRound,
  SpanName,
  startTelemetry,
  type StoredSpan,
  type Telemetry,
} from '@synod/telemetry';
import { type RedisServer, startNats, type NatsServer, startRedis } from '@synod/testing';
import { connectNats } from '@synod/transport-nats';

/**
 * One round through real cores, real drivers, a real nats-server and a real redis-server, in
 * one process: the hooks of each node make the spans the issue asks for, in the right tree,
 * and a Redis write always ends before the reply it guards is published.
 */
describe('spans of a round (in process, real NATS and Redis)', () => {
  const cluster = 't';
  const spans: StoredSpan[] = [];
  let nats: NatsServer;
  let redis: RedisServer;
  const transports: Transport[] = [];
  const drivers: CoreDriver<unknown>[] = [];
  const telemetries: Telemetry[] = [];
  const closers: (() => Promise<void>)[] = [];

  async function node<P>(role: 'acceptor' | 'proposer' | 'learner', id: string, core: Core<P>,
    persist?: (p: P) => Promise<void>): Promise<Telemetry> {
    const t = await connectNats({ servers: nats.url, name: id, logger: silentLogger });
    transports.push(t);
    const telemetry = await startTelemetry({
      serviceName: `synod-${role}`, role, nodeId: id, cluster, env: {}, simpleProcessor: true,
      register: false, onSpans: (s) => spans.push(...s),
    });
    telemetries.push(telemetry);
    const driver = new CoreDriver<P>({
      cluster, role, id, core, transport: t, tickMs: 5, logger: silentLogger,
      onFatal: (e) => {
        throw e;
      },
      hooks: telemetry.driverHooks({ role, nodeId: id, cluster }),
      ...(persist === undefined ? {} : { persist }),
    });
    driver.start();
    drivers.push(driver as CoreDriver<unknown>);
    return telemetry;
  }

  beforeAll(async () => {
    nats = await startNats();
    redis = await startRedis();
    const acceptors = ['a1', 'a2', 'a3'];
    for (const id of acceptors) {
      const store = new RedisAcceptorStore({ url: redis.url, cluster, acceptorId: id, init: true });
      closers.push(() => store.close());
      await node('acceptor', id, new AcceptorCore({ id }, await store.load()),
        (p) => store.persist(p));
    }
    const learnerStore = new RedisLearnerStore({ url: redis.url, cluster, learnerId: 'l1' });
    closers.push(() => learnerStore.close());
    await node('learner', 'l1', new LearnerCore({ id: 'l1', acceptors }, await learnerStore.load()),
      (p) => learnerStore.persist(p.decisions, p.nextSlot));
    // No resend within the test (retryTicks 400: 2 s): on a loaded machine an accept resent
    // after the default 4 ticks (20 ms) put a second "publish accept" into the round's trace.
    await node('proposer', 'p1', new ProposerCore({
      id: 'p1', acceptors, rng: new Sfc32(7), electionTicks: 4, heartbeatTicks: 2,
      retryTicks: 400,
    }));
  });
  afterAll(async () => {
    for (const d of drivers) await d.stop();
    for (const t of transports) await t.close();
    for (const c of closers) await c();
    for (const t of telemetries) await t.shutdown();
    await redis?.stop();
    await nats?.stop();
  });

  const wait = async (cond: () => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  test('phase 1 at start-up: one trace from the proposer through every acceptor, each ' +
    'promise after its Redis write', async () => {
    await wait(() => spans.some((s) => s.name === SpanName.Phase1 &&
      s.attributes[Attr.Outcome] === 'won'), 'a leader');
    const phase1 = spans.find((s) => s.name === SpanName.Phase1 &&
      s.attributes[Attr.Outcome] === 'won') as StoredSpan;
    await wait(() => spans.filter((s) => s.traceId === phase1.traceId &&
      s.name === 'publish promise').length >= 2, 'the promises');
    expect(phase1.parentSpanId).toBeNull();
    expect(phase1.events.filter((e) => e.name === 'quorum')).toHaveLength(1);
    const prepares = spans.filter((s) => s.name === SpanName.AcceptorPrepare &&
      s.traceId === phase1.traceId);
    expect(prepares.length).toBeGreaterThanOrEqual(2);
    for (const p of prepares) {
      const write = spans.find((s) => s.parentSpanId === p.spanId && s.name === SpanName.Persist);
      const send = spans.find((s) => s.parentSpanId === p.spanId && s.name === 'publish promise');
      if (write === undefined || send === undefined) continue;
      expect(compareNs(write.end, send.start)).toBeLessThanOrEqual(0);
      expect(p.attributes[Attr.Outcome]).toBe('promised');
    }
  });

  test('a client request: request -> round -> accept -> acceptors (Redis write before ' +
    'accepted) -> learner decision (Redis write) -> response; metrics count it', async () => {
    const client = await connectNats({ servers: nats.url, name: 'client', logger: silentLogger });
    transports.push(client);
    const msg: MsgRequest = { type: 'request', from: 'c1', cmd: { clientId: 'c1', seq: 1,
      payload: 'x' } };
    const reply = await client.request(`synod.${cluster}.request.c1`, encode(msg),
      { timeoutMs: 5000, headers: { traceparent:
        '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
    expect(reply.headers['traceparent']).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-/);
    const trace = '0af7651916cd43dd8448eb211c80319c';
    await wait(() => spans.some((s) => s.traceId === trace && s.name === SpanName.Decide &&
      s.attributes[Attr.Outcome] === 'chosen') && spans.filter((s) => s.traceId === trace &&
      s.name === 'publish accepted').length === 3, 'the spans of the round');
    const inTrace = spans.filter((s) => s.traceId === trace);
    const one = (name: string): StoredSpan => {
      const found = inTrace.filter((s) => s.name === name);
      expect(found).toHaveLength(1);
      return found[0] as StoredSpan;
    };
    const request = one(SpanName.Request);
    expect(request.parentSpanId).toBe('b7ad6b7169203331');
    expect(request.attributes).toMatchObject({ [Attr.RequestId]: 'c1#1', [Attr.Outcome]: 'chosen',
      [Attr.MessagingSystem]: 'nats', [Attr.NodeId]: 'p1', [Attr.Role]: 'proposer' });
    const round = one(SpanName.Round);
    expect(round.parentSpanId).toBe(request.spanId);
    expect(round.links.map((l) => l.spanId)).toContain(request.spanId);
    const accept = one('publish accept');
    expect(accept.parentSpanId).toBe(round.spanId);
    expect(accept.attributes[Attr.MessagingDestination]).toBe(`synod.${cluster}.accept.p1`);
    const handlings = inTrace.filter((s) => s.name === SpanName.AcceptorAccept);
    expect(handlings.map((s) => s.node).sort()).toEqual(['a1', 'a2', 'a3']);
    for (const h of handlings) {
      expect(h.parentSpanId).toBe(accept.spanId);
      const child = (name: string): StoredSpan => inTrace.find((s) =>
        s.parentSpanId === h.spanId && s.name === name) as StoredSpan;
      const write = child(SpanName.Persist);
      const sent = child('publish accepted');
      expect(write.attributes[Attr.DbSystem]).toBe('redis');
      expect(compareNs(write.end, sent.start)).toBeLessThanOrEqual(0);
      expect(compareNs(sent.end, h.end)).toBeLessThanOrEqual(0);
    }
    const decide = one(SpanName.Decide);
    expect(decide.node).toBe('l1');
    expect(inTrace.find((s) => s.spanId === decide.parentSpanId)?.name)
      .toMatch(/^publish (accepted|chosen)$/);
    expect(inTrace.some((s) => s.parentSpanId === decide.spanId && s.name === SpanName.Persist))
      .toBe(true);
    expect(one('publish response').parentSpanId).toBe(request.spanId);

    const view = findRound(spans, { requestId: 'c1#1' });
    expect(view?.lanes.map((l) => l.id)).toEqual(['p1', 'a1', 'a2', 'a3', 'l1']);
    expect(view?.quorumMs).not.toBeNull();
    const text = renderRound(view!).join('\n');
    expect(text).toContain('QUORUM: slot 0 chosen  <== quorum');
    expect(text).toMatch(/redis write \d+\.\d{3} ms/);

    const metrics = await telemetries[4]?.route('/metrics');
    expect(metrics?.type).toMatch(/^text\/plain/);
    expect(metrics?.body).toMatch(/synod_decisions_total\{[^}]*\} 1/);
    expect(metrics?.body).toMatch(/synod_rounds_won_total\{[^}]*\} 1/);
    expect(metrics?.body).toContain('synod_phase_seconds_bucket{phase="2"');
    const acceptorMetrics = await telemetries[0]?.route('/metrics');
    expect(acceptorMetrics?.body).toMatch(/synod_persist_seconds_count\{[^}]*\} [1-9]/);
    expect(await telemetries[0]?.route('/healthz')).toBeNull();
  });

  test('a request whose trace is not sampled makes no span anywhere and sends no context',
    async () => {
      const client = await connectNats({ servers: nats.url, name: 'c2', logger: silentLogger });
      transports.push(client);
      const msg: MsgRequest = { type: 'request', from: 'c2', cmd: { clientId: 'c2', seq: 1,
        payload: 'y' } };
      const trace = '1bf7651916cd43dd8448eb211c80319c';
      const reply = await client.request(`synod.${cluster}.request.c2`, encode(msg),
        { timeoutMs: 5000, headers: { traceparent: `00-${trace}-b7ad6b7169203331-00` } });
      expect(reply.headers['traceparent']).toBeUndefined();
      await new Promise((r) => setTimeout(r, 200));
      expect(spans.filter((s) => s.traceId === trace)).toEqual([]);
    });

  test('with tracing and metrics off the driver gets the application hooks, untouched', () => {
    const app = { onEvents: () => undefined };
    expect(buildDriverHooks({ tracer: null, propagator: null, metrics: null },
      { role: 'acceptor', nodeId: 'a1', cluster, app })).toBe(app);
    const none = buildDriverHooks({ tracer: null, propagator: null, metrics: null },
      { role: 'acceptor', nodeId: 'a1', cluster });
    expect(none).toEqual({});
  });
});
