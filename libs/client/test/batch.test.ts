import { DecodeError, decode, encode, type ProposeBatch, proposeSubject } from '@synod/codec';
import { AcceptorCore, type Command, type Outcome, ProposerCore, Sfc32 } from '@synod/protocol';
import { CoreDriver, type Headers, silentLogger, type Transport } from '@synod/runtime';
import { ProposeBatcher } from '../src/batcher.js';
import { singleAttempt } from '../src/propose.js';
import {
  type Proposed,
  SynodAbortedError,
  SynodClient,
  type SynodClientOptions,
  SynodOutcomeUnknownError,
  SynodOverloadedError,
  SynodUnavailableError,
} from '../src/index.js';
import { Bus, freshCluster, scriptedBatchProposer, scriptedProposer } from './bus.js';

jest.setTimeout(15_000);

let bus: Bus;
let proposerBus: Transport;
let clientBus: Transport;

beforeAll(async () => {
  bus = await Bus.start();
  proposerBus = await bus.connect('proposer');
  clientBus = await bus.connect('client');
});
afterAll(async () => {
  await bus.stop();
});

function client(cluster: string, opts: SynodClientOptions = {}): SynodClient {
  return new SynodClient(clientBus, { cluster, timeoutMs: 3000, serverName: bus.url, ...opts });
}

/** `n` clients over the same transport, with ids b0, b1, ... */
function clients(cluster: string, n: number, opts: SynodClientOptions = {}): SynodClient[] {
  return Array.from({ length: n }, (_, i) => client(cluster, { clientId: `b${i}`, ...opts }));
}

/** Outcome `chosen` at `base + i` for the i-th command of every batch. */
const chosenFrom = (base: number) => (b: ProposeBatch): Outcome[] =>
  b.cmds.map((_, i) => ({ status: 'chosen', slot: base + i }));

const settle = <T>(p: Promise<T>): Promise<T | unknown> => p.catch((e: unknown) => e);
const ids = (cmds: readonly Command[]): string[] => cmds.map((c) => `${c.clientId}#${c.seq}`);

describe('propose batching (clients sharing a transport)', () => {
  test('N proposals started in one turn travel as ONE batch request and each resolves with ' +
    'its own slot', async () => {
    const cluster = freshCluster();
    const single = scriptedProposer(proposerBus, cluster, () => ({ status: 'chosen', slot: 999 }));
    const batches = scriptedBatchProposer(proposerBus, cluster, chosenFrom(100));
    await proposerBus.flush();
    const cs = clients(cluster, 8);
    // One client may have several commands in flight: they share the batch too.
    const all = [...cs.map((c, i) => c.propose(`p${i}`)), cs[0]!.propose('again')];
    const got = await Promise.all(all);
    expect(got).toEqual([
      ...cs.map((c, i): Proposed => ({ slot: 100 + i, clientId: c.clientId, seq: 1 })),
      { slot: 108, clientId: 'b0', seq: 2 },
    ]);
    expect(batches.batches).toHaveLength(1);
    expect(batches.batches[0]).toEqual({
      cmds: [...cs.map((c, i) => ({ clientId: c.clientId, seq: 1, payload: `p${i}` })),
        { clientId: 'b0', seq: 2, payload: 'again' }],
    });
    expect(single.requests).toEqual([]);
    // No trace context without an SDK, neither in the body nor as NATS headers.
    expect(batches.headers[0]?.['traceparent']).toBeUndefined();
    single.stop();
    batches.stop();
  });

  test('a lone proposal goes out as the ordinary single request', async () => {
    const cluster = freshCluster();
    const single = scriptedProposer(proposerBus, cluster, () => ({ status: 'chosen', slot: 4 }));
    const batches = scriptedBatchProposer(proposerBus, cluster, chosenFrom(0));
    await proposerBus.flush();
    const [c] = clients(cluster, 1);
    await expect(c!.propose('alone')).resolves.toEqual({ slot: 4, clientId: 'b0', seq: 1 });
    // The next one, in a later turn, is alone again.
    await expect(c!.propose('alone too')).resolves.toMatchObject({ slot: 4, seq: 2 });
    expect(single.requests).toEqual([{ clientId: 'b0', seq: 1, payload: 'alone' },
      { clientId: 'b0', seq: 2, payload: 'alone too' }]);
    expect(batches.batches).toEqual([]);
    single.stop();
    batches.stop();
  });

  test('proposals of separate turns are not held back for company', async () => {
    const cluster = freshCluster();
    const single = scriptedProposer(proposerBus, cluster, (req) =>
      ({ status: 'chosen', slot: req.cmd.seq }));
    const batches = scriptedBatchProposer(proposerBus, cluster, chosenFrom(0));
    await proposerBus.flush();
    const [a, b] = clients(cluster, 2);
    const first = a!.propose('x');
    await new Promise((r) => setImmediate(r));
    const second = b!.propose('y');
    await expect(Promise.all([first, second])).resolves.toHaveLength(2);
    expect(ids(single.requests)).toEqual(['b0#1', 'b1#1']);
    expect(batches.batches).toEqual([]);
    single.stop();
    batches.stop();
  });

  test('batching: false sends one request per proposal', async () => {
    const cluster = freshCluster();
    const single = scriptedProposer(proposerBus, cluster, (req) =>
      ({ status: 'chosen', slot: Number(req.cmd.clientId.slice(1)) }));
    const batches = scriptedBatchProposer(proposerBus, cluster, chosenFrom(0));
    await proposerBus.flush();
    const cs = clients(cluster, 5, { batching: false });
    const got = await Promise.all(cs.map((c) => c.propose('x')));
    expect(got.map((p) => p.slot)).toEqual([0, 1, 2, 3, 4]);
    expect(single.requests).toHaveLength(5);
    expect(ids(single.requests).sort()).toEqual(['b0#1', 'b1#1', 'b2#1', 'b3#1', 'b4#1']);
    expect(batches.batches).toEqual([]);
    single.stop();
    batches.stop();
  });

  test('batching must be a boolean: anything else is a TypeError at construction', () => {
    const cluster = freshCluster();
    for (const bad of ['yes', 1, null, 'false']) {
      expect(() => client(cluster, { batching: bad as unknown as boolean })).toThrow(TypeError);
    }
    expect(() => client(cluster, { batching: 'yes' as unknown as boolean }))
      .toThrow('batching must be true or false, got "yes"');
    expect(() => client(cluster, { batching: true })).not.toThrow();
    expect(() => client(cluster, { batching: false })).not.toThrow();
  });

  test('a batch refused whole was never stepped: its commands go again alone, and with no ' +
    'single proposer listening, nothing was proposed (SynodUnavailableError)', async () => {
    const cluster = freshCluster();
    const batches = scriptedBatchProposer(proposerBus, cluster,
      () => ({ error: 'decode:BAD_FIELD' }));
    await proposerBus.flush();
    const cs = clients(cluster, 3);
    const t0 = Date.now();
    const errs = await Promise.all(cs.map((c) => settle(c.propose('x', { timeoutMs: 600 }))));
    const elapsed = Date.now() - t0;
    for (const e of errs) {
      expect(e).toBeInstanceOf(SynodUnavailableError);
      expect(e).not.toBeInstanceOf(SynodOutcomeUnknownError);
    }
    expect(elapsed).toBeLessThan(600 + 200);
    expect(batches.batches.length).toBeGreaterThanOrEqual(1);
    expect(ids(batches.batches[0]!.cmds)).toEqual(['b0#1', 'b1#1', 'b2#1']);
    batches.stop();
  });

  test('one command with a short deadline does not cut its batch-mates\' attempt short',
    async () => {
      const cluster = freshCluster();
      const batches = scriptedBatchProposer(proposerBus, cluster,
        (b) => b.cmds.map((c, k): Outcome => ({ status: 'chosen', slot: 100 + k + c.seq * 0 })),
        { delayMs: 300 });
      await proposerBus.flush();
      const cs = clients(cluster, 3);
      const [short, ...rest] = await Promise.all([
        settle(cs[0]!.propose('x', { timeoutMs: 150 })),
        ...cs.slice(1).map((c) => settle(c.propose('x', { timeoutMs: 3000 }))),
      ]);
      // The short one timed out on its own (it may have been seen: outcome unknown)...
      expect(short).toBeInstanceOf(SynodOutcomeUnknownError);
      // ...while the others got the batch's answer, from that one batch, with no retry.
      expect(rest.map((r) => (r as { slot: number }).slot)).toEqual([101, 102]);
      expect(batches.batches).toHaveLength(1);
      batches.stop();
    });

  test('proposers that take no batches (older ones): the batch finds no responders and its ' +
    'commands are sent alone and chosen', async () => {
    const cluster = freshCluster();
    const single = scriptedProposer(proposerBus, cluster, (req) =>
      ({ status: 'chosen', slot: req.cmd.seq * 10 + Number(req.cmd.clientId.slice(1)) }));
    await proposerBus.flush();
    const cs = clients(cluster, 3);
    const rs = await Promise.all(cs.map((c) => c.propose('x', { timeoutMs: 2000 })));
    expect(rs.map((r) => r.slot)).toEqual([10, 11, 12]);
    expect(ids(single.requests)).toEqual(['b0#1', 'b1#1', 'b2#1']);
    single.stop();
  });

  test('the same refusal with a single proposer that answers: the commands are retried ' +
    'with the same seq and chosen', async () => {
    const cluster = freshCluster();
    const single = scriptedProposer(proposerBus, cluster, (req) =>
      ({ status: 'chosen', slot: 50 + Number(req.cmd.clientId.slice(1)) }));
    const batches = scriptedBatchProposer(proposerBus, cluster, (_b, n) =>
      (n === 1 ? { error: 'decode:LIMIT' } : [{ status: 'chosen', slot: 60 },
        { status: 'chosen', slot: 61 }]));
    await proposerBus.flush();
    const [a, b] = clients(cluster, 2);
    const got = await Promise.all([a!.propose('x'), b!.propose('y')]);
    expect(got.map((p) => p.seq)).toEqual([1, 1]);
    // Each retry was either alone (single) or together again (second batch): never lost.
    for (const p of got) expect([50, 51, 60, 61]).toContain(p.slot);
    expect(batches.batches.length + single.requests.length).toBeGreaterThanOrEqual(2);
    single.stop();
    batches.stop();
  });

  test('per-command outcomes: overloaded for one and chosen for another are each handled as ' +
    'alone', async () => {
    const cluster = freshCluster();
    const single = scriptedProposer(proposerBus, cluster, () => ({ status: 'chosen', slot: 8 }));
    const batches = scriptedBatchProposer(proposerBus, cluster,
      () => [{ status: 'overloaded' }, { status: 'chosen', slot: 7 }]);
    await proposerBus.flush();
    const [a, b] = clients(cluster, 2);
    const pa = a!.propose('x');
    const pb = b!.propose('y');
    // b was chosen in the batch: resolved without a retry.
    await expect(pb).resolves.toEqual({ slot: 7, clientId: 'b1', seq: 1 });
    expect(single.requests).toEqual([]);
    // a backs off and retries alone, with the same seq.
    await expect(pa).resolves.toEqual({ slot: 8, clientId: 'b0', seq: 1 });
    expect(batches.batches).toHaveLength(1);
    expect(ids(batches.batches[0]!.cmds)).toEqual(['b0#1', 'b1#1']);
    expect(single.requests).toEqual([{ clientId: 'b0', seq: 1, payload: 'x' }]);
    single.stop();
    batches.stop();
  });

  test('overloaded until the deadline for one command of a batch: SynodOverloadedError for ' +
    'it alone (not queued), the other chosen', async () => {
    const cluster = freshCluster();
    const single = scriptedProposer(proposerBus, cluster, () => ({ status: 'overloaded' }));
    const batches = scriptedBatchProposer(proposerBus, cluster, (b) => b.cmds.map(
      (c): Outcome => (c.clientId === 'b0' ? { status: 'overloaded' } : { status: 'chosen',
        slot: 3 })));
    await proposerBus.flush();
    const [a, b] = clients(cluster, 2);
    const [ea, rb] = await Promise.all([settle(a!.propose('x', { timeoutMs: 700 })),
      b!.propose('y', { timeoutMs: 700 })]);
    expect(ea).toBeInstanceOf(SynodOverloadedError);
    expect(ea).toMatchObject({ code: 'OVERLOADED', clientId: 'b0', seq: 1 });
    expect(rb).toEqual({ slot: 3, clientId: 'b1', seq: 1 });
    expect(ids(single.requests).every((k) => k === 'b0#1')).toBe(true);
    single.stop();
    batches.stop();
  });

  test('a redirect for one command of a batch is retried at once', async () => {
    const cluster = freshCluster();
    const single = scriptedProposer(proposerBus, cluster, () => ({ status: 'chosen', slot: 2 }));
    const batches = scriptedBatchProposer(proposerBus, cluster,
      () => [{ status: 'chosen', slot: 1 }, { status: 'redirect', leader: 'p2' }]);
    await proposerBus.flush();
    const [a, b] = clients(cluster, 2);
    const t0 = Date.now();
    const got = await Promise.all([a!.propose('x'), b!.propose('y')]);
    expect(Date.now() - t0).toBeLessThan(500);
    expect(got.map((p) => p.slot)).toEqual([1, 2]);
    expect(single.requests).toEqual([{ clientId: 'b1', seq: 1, payload: 'y' }]);
    single.stop();
    batches.stop();
  });

  const enc = new TextEncoder();
  const chosen = (slot: number): Outcome => ({ status: 'chosen', slot });
  test.each([
    ['one outcome too few (a matching prefix)', (b: ProposeBatch) =>
      b.cmds.slice(1).map((_, i) => chosen(i))],
    ['one outcome too many', (b: ProposeBatch) => [...b.cmds, b.cmds[0]].map((_, i) => chosen(i))],
    ['no outcomes', () => []],
    ['a reply that does not decode', () => ({ raw: enc.encode('{"v":1,"outcomes":') })],
    ['an outcome of the right count that does not decode', (b: ProposeBatch) =>
      ({ raw: enc.encode(JSON.stringify({ v: 1, outcomes: b.cmds.map(() => ({
        status: 'chosen' })) })) })],
  ])('a batch reply with %s is a bad reply: no outcome of it is believed', async (_n, script) => {
    const cluster = freshCluster();
    const single = scriptedProposer(proposerBus, cluster, (req) =>
      ({ status: 'chosen', slot: 70 + Number(req.cmd.clientId.slice(1)) }));
    const batches = scriptedBatchProposer(proposerBus, cluster, script);
    await proposerBus.flush();
    const cs = clients(cluster, 3);
    const got = await Promise.all(cs.map((c) => c.propose('x')));
    // Every slot comes from the single proposer that the retries (staggered by jitter) reach.
    expect(got).toEqual(cs.map((c, i) => ({ slot: 70 + i, clientId: c.clientId, seq: 1 })));
    expect(ids(batches.batches[0]!.cmds)).toEqual(['b0#1', 'b1#1', 'b2#1']);
    expect(single.requests.length).toBeGreaterThanOrEqual(3);
    single.stop();
    batches.stop();
  });

  test('only wrong-count replies until the deadline: outcome unknown, with the DecodeError ' +
    'as cause', async () => {
    const cluster = freshCluster();
    const batches = scriptedBatchProposer(proposerBus, cluster,
      (b) => b.cmds.slice(1).map((): Outcome => ({ status: 'chosen', slot: 1 })));
    await proposerBus.flush();
    const cs = clients(cluster, 2);
    const errs = await Promise.all(cs.map((c) => settle(c.propose('x', { timeoutMs: 300 }))));
    // The first attempt was the batch; a later lone retry may find no single proposer, but
    // the outcome stays unknown and the DecodeError stays the cause.
    for (const e of errs) {
      expect(e).toBeInstanceOf(SynodOutcomeUnknownError);
      expect((e as Error).cause).toBeInstanceOf(DecodeError);
    }
    expect(batches.batches.length).toBeGreaterThanOrEqual(1);
    batches.stop();
  });

  test('a batch that times out: every command in it ends timed out, outcome unknown',
    async () => {
      const cluster = freshCluster();
      const batches = scriptedBatchProposer(proposerBus, cluster, () => 'drop');
      await proposerBus.flush();
      const cs = clients(cluster, 3);
      const t0 = Date.now();
      const errs = await Promise.all(cs.map((c) => settle(c.propose('x', { timeoutMs: 500 }))));
      expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
      expect(Date.now() - t0).toBeLessThan(500 + 300);
      for (const e of errs) {
        expect(e).toBeInstanceOf(SynodOutcomeUnknownError);
        expect((e as Error).message).toContain('a request timed out');
      }
      // One attempt: after it no time is left for another.
      expect(batches.batches).toHaveLength(1);
      batches.stop();
    });

  test('nobody listens for batches or requests: no responders, nothing was proposed', async () => {
    const cs = clients(freshCluster(), 3);
    const errs = await Promise.all(cs.map((c) => settle(c.propose('x', { timeoutMs: 400 }))));
    for (const e of errs) {
      expect(e).toBeInstanceOf(SynodUnavailableError);
      expect((e as Error).message).toContain('nothing was proposed');
    }
  });

  test('the same command twice in one turn: the earlier batch leaves first, so no batch ' +
    'holds a command twice', async () => {
    const cluster = freshCluster();
    const single = scriptedProposer(proposerBus, cluster, () => ({ status: 'chosen', slot: 5 }));
    const batches = scriptedBatchProposer(proposerBus, cluster, chosenFrom(20));
    await proposerBus.flush();
    const [a, b, c] = clients(cluster, 3);
    const got = await Promise.all([a!.propose('x', { seq: 9 }), b!.propose('y'),
      a!.propose('x', { seq: 9 }), c!.propose('z')]);
    // [a#9, b#1] left when a#9 came again; [a#9, c#1] left on the next turn.
    expect(batches.batches.map((x) => ids(x.cmds))).toEqual([['b0#9', 'b1#1'],
      ['b0#9', 'b2#1']]);
    expect(got).toEqual([
      { slot: 20, clientId: 'b0', seq: 9 }, { slot: 21, clientId: 'b1', seq: 1 },
      { slot: 20, clientId: 'b0', seq: 9 }, { slot: 21, clientId: 'b2', seq: 1 },
    ]);
    expect(single.requests).toEqual([]);
    single.stop();
    batches.stop();
  });

  test('a proposal aborted before its batch leaves is dropped from it', async () => {
    const cluster = freshCluster();
    const batches = scriptedBatchProposer(proposerBus, cluster, chosenFrom(30));
    await proposerBus.flush();
    const [a, b, c] = clients(cluster, 3);
    const ac = new AbortController();
    const pa = settle(a!.propose('x', { signal: ac.signal }));
    const rest = Promise.all([b!.propose('y'), c!.propose('z')]);
    ac.abort();
    expect(await pa).toBeInstanceOf(SynodAbortedError);
    await expect(rest).resolves.toEqual([{ slot: 30, clientId: 'b1', seq: 1 },
      { slot: 31, clientId: 'b2', seq: 1 }]);
    expect(batches.batches.map((x) => ids(x.cmds))).toEqual([['b1#1', 'b2#1']]);
    batches.stop();
  });

  test('more than 256 proposals in a turn are split into batches of at most 256', async () => {
    const cluster = freshCluster();
    const batches = scriptedBatchProposer(proposerBus, cluster, chosenFrom(0));
    await proposerBus.flush();
    const c = client(cluster, { clientId: 'many' });
    const got = await Promise.all(Array.from({ length: 300 }, (_, i) => c.propose(`v${i}`)));
    expect(batches.batches.map((b) => b.cmds.length)).toEqual([256, 44]);
    expect(got.map((p) => p.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(got[255]).toEqual({ slot: 255, clientId: 'many', seq: 256 });
    expect(got[256]).toEqual({ slot: 0, clientId: 'many', seq: 257 });
    batches.stop();
  });

  test('large payloads are split so that a batch stays within the wire limit', async () => {
    const cluster = freshCluster();
    const batches = scriptedBatchProposer(proposerBus, cluster, chosenFrom(0));
    await proposerBus.flush();
    const cs = clients(cluster, 4);
    const big = 'x'.repeat(60_000);
    const got = await Promise.all(cs.map((c) => c.propose(big)));
    expect(got.map((p) => p.clientId)).toEqual(['b0', 'b1', 'b2', 'b3']);
    expect(batches.batches.map((b) => ids(b.cmds))).toEqual([['b0#1', 'b1#1'],
      ['b2#1', 'b3#1']]);
    batches.stop();
  });

  test('clients of different clusters on one transport never share a batch', async () => {
    const c1 = freshCluster();
    const c2 = freshCluster();
    const b1 = scriptedBatchProposer(proposerBus, c1, chosenFrom(0));
    const b2 = scriptedBatchProposer(proposerBus, c2, chosenFrom(10));
    await proposerBus.flush();
    const got = await Promise.all([client(c1, { clientId: 'k0' }).propose('a'),
      client(c2, { clientId: 'k1' }).propose('b'), client(c1, { clientId: 'k2' }).propose('c'),
      client(c2, { clientId: 'k3' }).propose('d')]);
    expect(got.map((p) => p.slot)).toEqual([0, 10, 1, 11]);
    expect(b1.batches.map((b) => ids(b.cmds))).toEqual([['k0#1', 'k2#1']]);
    expect(b2.batches.map((b) => ids(b.cmds))).toEqual([['k1#1', 'k3#1']]);
    b1.stop();
    b2.stop();
  });
});

describe('propose batching against real proposer and acceptor drivers over NATS', () => {
  test('concurrent proposals of many clients are chosen, each in the slot its own reply ' +
    'names, through batches the proposer decodes', async () => {
    const cluster = freshCluster();
    const nodes = await bus.connect('nodes');
    const acceptors = ['a1', 'a2', 'a3'];
    const drivers: CoreDriver<unknown>[] = acceptors.map((id) => new CoreDriver({
      cluster, role: 'acceptor', id, core: new AcceptorCore({ id }), transport: nodes,
      persist: () => Promise.resolve(), onFatal: () => undefined, tickMs: 5,
      logger: silentLogger,
    }) as CoreDriver<unknown>);
    const core = new ProposerCore({ id: 'p1', acceptors, rng: new Sfc32(3), electionTicks: 2,
      heartbeatTicks: 1, maxBatch: 4 });
    const proposer = new CoreDriver({
      cluster, role: 'proposer', id: 'p1', core, transport: nodes, onFatal: () => undefined,
      tickMs: 5, logger: silentLogger, requestQueue: `synod-${cluster}-proposers`,
    });
    const requests: string[] = [];
    const sniff = nodes.subscribe(proposeSubject(cluster), () => requests.push('batch'));
    const sniff1 = nodes.subscribe(`synod.${cluster}.request.*`, () => requests.push('single'));
    try {
      for (const d of drivers) d.start();
      proposer.start();
      await nodes.flush();
      for (let i = 0; core.role !== 'leader'; i++) {
        if (i > 400) throw new Error('no leader');
        await new Promise((r) => setTimeout(r, 5));
      }
      const cs = clients(cluster, 12);
      const got = await Promise.all(cs.map((c, i) => c.propose(`cmd-${i}`)));
      got.forEach((p, i) => {
        expect(p).toMatchObject({ clientId: `b${i}`, seq: 1 });
        const v = core.decidedAt(p.slot);
        expect(v?.kind === 'cmds' ? v.cmds : []).toContainEqual(
          { clientId: `b${i}`, seq: 1, payload: `cmd-${i}` });
      });
      // One batch, queued together by the proposer: 12 commands fill 3 slots of maxBatch 4.
      expect(new Set(got.map((p) => p.slot)).size).toBe(3);
      expect(requests).toEqual(['batch']);
      expect(proposer.stats.rejected).toBe(0);
    } finally {
      sniff.unsubscribe();
      sniff1.unsubscribe();
      await proposer.stop();
      for (const d of drivers) await d.stop();
    }
  });
});

describe('ProposeBatcher: trace context', () => {
  const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const signal = new AbortController().signal;
  const batcher = (cluster: string): ProposeBatcher =>
    new ProposeBatcher(clientBus, cluster, singleAttempt(clientBus, cluster));

  test('an attempt sent alone carries every header it was given, as without batching',
    async () => {
      const cluster = freshCluster();
      const seen: Headers[] = [];
      const sub = proposerBus.subscribe(`synod.${cluster}.request.*`, (m) => {
        seen.push(m.headers);
        const req = decode(m.data);
        if (req.type !== 'request') return;
        proposerBus.respond(m, encode({ type: 'response', from: 'p1', to: req.from,
          clientId: req.cmd.clientId, seq: req.cmd.seq, outcome: { status: 'chosen', slot: 1 } }));
      });
      await proposerBus.flush();
      const headers = { traceparent: TP, tracestate: 'vendor=x', baggage: 'tenant=7' };
      await expect(batcher(cluster).submit({ clientId: 'h', seq: 1, payload: 'x' }, 1000, signal,
        headers)).resolves.toEqual({ kind: 'chosen', slot: 1 });
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject(headers);
      sub.unsubscribe();
    });

  test('a trace context proposers would refuse is left out of a batch instead of failing ' +
    'every command in it', async () => {
    const cluster = freshCluster();
    const batches = scriptedBatchProposer(proposerBus, cluster, chosenFrom(0));
    await proposerBus.flush();
    const b = batcher(cluster);
    const got = await Promise.all([
      b.submit({ clientId: 'h1', seq: 1, payload: 'x' }, 1000, signal, { traceparent: 'junk' }),
      b.submit({ clientId: 'h2', seq: 1, payload: 'y' }, 1000, signal, { traceparent: TP }),
      b.submit({ clientId: 'h3', seq: 1, payload: 'z' }, 1000, signal,
        { traceparent: TP.toUpperCase() }),
      b.submit({ clientId: 'h4', seq: 1, payload: 'w' }, 1000, signal, undefined),
    ]);
    expect(got.map((a) => a.kind)).toEqual(['chosen', 'chosen', 'chosen', 'chosen']);
    expect(batches.batches).toHaveLength(1);
    expect(batches.batches[0]?.traces).toEqual([null, TP, null, null]);
    // None valid at all: no traces in the batch.
    await Promise.all([
      b.submit({ clientId: 'h1', seq: 2, payload: 'x' }, 1000, signal, { traceparent: 'junk' }),
      b.submit({ clientId: 'h2', seq: 2, payload: 'y' }, 1000, signal, undefined),
    ]);
    expect(batches.batches[1]).toEqual({ cmds: [{ clientId: 'h1', seq: 2, payload: 'x' },
      { clientId: 'h2', seq: 2, payload: 'y' }] });
    batches.stop();
  });
});
