import type { SynodClient } from '@synod/client';
import {
  Attr,
  compareNs,
  findRound,
  type OtlpReceiver,
  renderRound,
  SpanName,
  startOtlpReceiver,
  startTelemetry,
  type StoredSpan,
  type Telemetry,
} from '@synod/telemetry';
import type { LocalCluster } from '@synod/testing';
import { client, eventually, startCluster, tracingOptions } from './harness.js';

/**
 * Issue 4, "done when": the real services, as processes, export OTLP/HTTP to a receiver in
 * this test; one proposal makes one trace across client, proposer, every answering acceptor
 * (with its Redis write) and the learner, in the expected tree; and every acceptor's Redis
 * write ends before its `accepted` leaves.
 */
describe('tracing across real processes', () => {
  const spans: StoredSpan[] = [];
  let receiver: OtlpReceiver;
  let telemetry: Telemetry;
  let cluster: LocalCluster;
  let cl: SynodClient;

  beforeAll(async () => {
    receiver = await startOtlpReceiver({ onSpans: (s) => spans.push(...s) });
    // The test process is the client: its spans are collected in process.
    telemetry = await startTelemetry({
      serviceName: 'synod-client', role: 'client', nodeId: 'test-client', cluster: 'synod',
      env: { OTEL_METRICS_EXPORTER: 'none' }, simpleProcessor: true,
      onSpans: (s) => spans.push(...s),
    });
    cluster = await startCluster(tracingOptions(receiver.url));
    cl = await client(cluster);
  });
  afterAll(async () => {
    await cl?.close();
    await cluster?.stop();
    await telemetry?.shutdown();
    await receiver?.close();
  });

  const by = (name: string, pred: (s: StoredSpan) => boolean = () => true): StoredSpan[] =>
    spans.filter((s) => s.name === name && pred(s));
  const attr = (s: StoredSpan | undefined, k: string): unknown => s?.attributes[k];

  test('one proposal is one trace: client -> proposer round -> acceptors (Redis write) -> ' +
    'learner decision -> reply, and each Redis write ends before its accepted is sent',
  async () => {
    const r = await cl.propose('traced value');
    const requestId = `${r.clientId}#${r.seq}`;
    const slotOf = (s: StoredSpan): boolean => attr(s, Attr.Slot) === r.slot;
    // The round that chose the slot. A loaded machine may start with both proposers campaigning:
    // the first one's round for the slot is then preempted (nacked), and another chooses it.
    const chosenRound = (s: StoredSpan): boolean => slotOf(s) &&
      attr(s, Attr.Outcome) === 'chosen';
    // The acceptors' votes in that round (at its ballot).
    const acceptorsAnswered = (): StoredSpan[] => {
      const [chosen] = by(SpanName.Round, chosenRound);
      return chosen === undefined ? [] : by(SpanName.AcceptorAccept, (s) => slotOf(s) &&
        attr(s, Attr.Outcome) === 'accepted' && attr(s, Attr.Ballot) === attr(chosen, Attr.Ballot));
    };
    // Every acceptor (a broadcast accept) or a thrifty quorum of two (addressed accepts).
    await eventually(() => acceptorsAnswered().length >= 2 &&
      by(SpanName.Decide, slotOf).length === 1 && by(SpanName.Round, chosenRound).length === 1 &&
      by(SpanName.Request, (s) => attr(s, Attr.RequestId) === requestId).length >= 1,
    15_000, 'the spans of the round').catch((e: unknown) => {
      const seen = spans.map((s) => `${s.service}/${s.node} ${s.name} ` +
        `slot=${String(attr(s, Attr.Slot))} ${String(attr(s, Attr.Outcome))}`);
      throw new Error(`${(e as Error).message}; slot ${r.slot}, spans:\n${seen.join('\n')}`);
    });

    const [propose] = by(SpanName.Propose, (s) => attr(s, Attr.RequestId) === requestId);
    const [round] = by(SpanName.Round, chosenRound);
    const [decide] = by(SpanName.Decide, slotOf);
    if (!propose || !round || !decide) throw new Error('missing spans');
    const trace = propose.traceId;
    const inTrace = spans.filter((s) => s.traceId === trace);
    const byId = new Map(inTrace.map((s) => [s.spanId, s]));
    const parentOf = (s: StoredSpan): StoredSpan | undefined =>
      s.parentSpanId === null ? undefined : byId.get(s.parentSpanId);
    // The leader's handling of the request is the round's parent. A request that first reached
    // a follower was forwarded: then the chain from the client's call to it passes through the
    // follower's request span and its `publish request`.
    const request = parentOf(round);
    if (request === undefined) throw new Error('the round has no parent');
    expect(attr(request, Attr.RequestId)).toBe(requestId);

    // One trace id across the client, the proposer, every acceptor and the learner.
    for (const s of [request, round, decide, ...acceptorsAnswered()]) expect(s.traceId).toBe(trace);
    expect(new Set(inTrace.map((s) => s.service))).toEqual(new Set([
      'synod-client', 'synod-proposer', 'synod-acceptor', 'synod-learner']));

    // The tree: client call -> proposer request -> round -> publish accept -> acceptor handling.
    expect(propose.parentSpanId).toBeNull();
    expect(propose.kind).toBe('client');
    const chain: StoredSpan[] = [];
    for (let s = parentOf(request); s !== undefined && s !== propose; s = parentOf(s)) {
      chain.push(s);
    }
    expect(parentOf(chain[chain.length - 1] ?? request)).toBe(propose);
    expect(chain.length).toBeLessThanOrEqual(2);
    for (const s of chain) expect(['publish request', SpanName.Request]).toContain(s.name);
    expect(request.kind).toBe('server');
    expect(parentOf(round)).toBe(request);
    expect(attr(round, Attr.Outcome)).toBe('chosen');
    expect(attr(round, Attr.Ballot)).toEqual(expect.stringMatching(/^\d+\.p\d\.\d+$/));
    expect(round.events.filter((e) => e.name === 'quorum')).toHaveLength(1);
    const accepts = acceptorsAnswered();
    const answered = new Set(accepts.map((s) => s.node));
    expect(answered.size).toBeGreaterThanOrEqual(2);
    for (const id of answered) expect(['a1', 'a2', 'a3']).toContain(id);
    for (const a of accepts) {
      const publishAccept = parentOf(a);
      expect(publishAccept?.name).toBe('publish accept');
      expect(publishAccept?.kind).toBe('producer');
      expect(parentOf(publishAccept as StoredSpan)).toBe(round);
      expect(a.kind).toBe('consumer');
      expect(a.attributes).toMatchObject({ [Attr.MessagingSystem]: 'nats', [Attr.Role]: 'acceptor',
        [Attr.NodeId]: a.node, [Attr.Slot]: r.slot, [Attr.Ballot]: attr(round, Attr.Ballot) });
      // synod.synod.accept.<leader> (broadcast) or .accept.<leader>.<this acceptor> (thrifty).
      const dest = String(attr(a, Attr.MessagingDestination));
      expect(dest).toMatch(/^synod\.synod\.accept\.p\d(\.a\d)?$/);
      if (dest.split('.').length === 5) expect(dest.endsWith(`.${String(a.node)}`)).toBe(true);

      // Its Redis write is a child, and ends before its accepted is published.
      const writes = inTrace.filter((s) => s.name === SpanName.Persist &&
        s.parentSpanId === a.spanId);
      const sends = inTrace.filter((s) => s.name === 'publish accepted' &&
        s.parentSpanId === a.spanId);
      expect(writes).toHaveLength(1);
      expect(sends).toHaveLength(1);
      const [write, send] = [writes[0] as StoredSpan, sends[0] as StoredSpan];
      expect(write.attributes[Attr.DbSystem]).toBe('redis');
      expect(compareNs(write.end, send.start)).toBeLessThanOrEqual(0);
      expect(compareNs(a.start, write.start)).toBeLessThanOrEqual(0);
    }

    // The learner's decision follows a vote of this round, and has its own Redis write.
    const voteParent = parentOf(decide);
    expect(['publish accepted', 'publish chosen']).toContain(voteParent?.name);
    expect(attr(decide, Attr.Outcome)).toBe('chosen');
    expect(decide.events.map((e) => e.name)).toEqual(
      expect.arrayContaining(['message.received', 'quorum', 'delivered']));
    expect(inTrace.filter((s) => s.name === SpanName.Persist && s.parentSpanId === decide.spanId))
      .toHaveLength(1);

    // The reply: published under the request, which ended as chosen at the slot.
    const reply = inTrace.find((s) => s.name === 'publish response' &&
      s.parentSpanId === request.spanId);
    expect(reply).toBeDefined();
    expect(attr(request, Attr.Outcome)).toBe('chosen');
    expect(attr(request, Attr.Slot)).toBe(r.slot);

    // The round view that `synod trace` prints finds it by request id and by slot.
    const view = findRound(spans, { requestId });
    expect(view?.traceId).toBe(trace);
    expect(findRound(spans, { slot: r.slot })?.traceId).toBe(trace);
    const text = renderRound(view!).join('\n');
    for (const lane of [...answered, 'l1', r.clientId]) expect(text).toContain(`\n${lane}`);
    expect(text).toContain('<== quorum');
  });

  test('proposals that travel in one batch keep a trace each: the proposer joins every ' +
    'command to its own caller', async () => {
    const rs = await Promise.all(['b1', 'b2', 'b3', 'b4'].map((p) => cl.propose(p)));
    const ids = rs.map((r) => `${r.clientId}#${r.seq}`);
    const first = (id: string): StoredSpan | undefined => {
      const [propose] = by(SpanName.Propose, (s) => attr(s, Attr.RequestId) === id);
      return propose === undefined ? undefined
        : by(SpanName.Request, (s) => s.parentSpanId === propose.spanId)[0];
    };
    await eventually(() => ids.every((id) => first(id) !== undefined), 15_000,
      'a proposer request span under each propose span');
    const traces = new Set<string>();
    rs.forEach((r, i) => {
      const id = ids[i] as string;
      const [propose] = by(SpanName.Propose, (s) => attr(s, Attr.RequestId) === id);
      const request = first(id) as StoredSpan;
      traces.add(request.traceId);
      expect(request.traceId).toBe(propose?.traceId);
      expect(attr(request, Attr.RequestId)).toBe(id);
      // It came in the batch, not as a request of its own.
      expect(attr(request, Attr.MessagingDestination)).toBe('synod.synod.propose');
      // Answered by the leader (possibly through the follower that took the batch).
      const answered = by(SpanName.Request, (s) => attr(s, Attr.RequestId) === id &&
        attr(s, Attr.Outcome) === 'chosen');
      expect(answered.length).toBeGreaterThanOrEqual(1);
      expect(attr(answered[0], Attr.Slot)).toBe(r.slot);
      // Its answer, which left in the batch reply, is published under its request span.
      expect(by('publish response', (s) => answered.some((a) => a.spanId === s.parentSpanId)))
        .toHaveLength(1);
    });
    expect(traces.size).toBe(4);
    // Each member's request span links to the round that decided it (in the trace of the
    // batch's first member): a member's own trace leads to the round.
    for (const id of ids) {
      const answered = by(SpanName.Request, (s) => attr(s, Attr.RequestId) === id &&
        attr(s, Attr.Outcome) === 'chosen')[0] as StoredSpan;
      const rounds = by(SpanName.Round, (s) => s.traceId === answered.traceId ||
        answered.links.some((l) => l.spanId === s.spanId));
      expect(rounds.length).toBeGreaterThanOrEqual(1);
    }
  });

  test('logs carry the trace ids of the span they are about; /metrics answers', async () => {
    await eventually(() => ['p1', 'p2'].some((id) => cluster.node(id).proc?.output(2000)
      .split('\n').some((l) => l.includes('"leader-elected"') && l.includes('"trace_id"'))
      === true), 10_000, 'a leader-elected log line with a trace id');
    const st = await cl.status();
    const proposer = await cluster.health(st.leader ?? 'p1', '/metrics');
    expect(proposer.status).toBe(200);
    expect(proposer.body).toContain('synod_phase_seconds_bucket');
    expect(proposer.body).toContain('synod_messages_received_total');
    const acceptor = await cluster.health('a1', '/metrics');
    expect(acceptor.body).toContain('synod_persist_seconds_bucket');
    expect(acceptor.body).toMatch(/synod_votes_total\{[^}]*kind="accept"/);
    const learner = await cluster.health('l1', '/metrics');
    expect(learner.body).toMatch(/synod_decisions_total\{[^}]*synod_role="learner"[^}]*\} [1-9]/);
  });
});
