import {
  decode,
  decodeProposeBatchReply,
  encode,
  encodeApi,
  ERROR_HEADER,
  leaderProposeSubject,
  type ProposeBatch,
  proposeSubject,
} from '@synod/codec';
import {
  AcceptorCore,
  type Command,
  commandKey,
  type Message,
  type Outcome,
  ProposerCore,
  type Ready,
  Sfc32,
} from '@synod/protocol';
import {
  type Core,
  CoreDriver,
  type DriverOptions,
  type Headers,
  silentLogger,
  type Subscription,
  type Transport,
  type TransportMessage,
  TransportTimeoutError,
} from '../src/index.js';

/**
 * An in-process bus (a fake of our Transport port): publishes reach every matching
 * subscription on the next microtask, requests wait for the first `respond` to them. Queue
 * groups are not modelled: tests here run one proposer.
 */
class MemBus implements Transport {
  readonly published: Array<{ subject: string; data: Uint8Array }> = [];
  readonly replies: Array<{ reply: string; data: Uint8Array; headers: Headers }> = [];
  private readonly subs: Array<{ pattern: RegExp; fn: (m: TransportMessage) => void }> = [];
  private readonly waiting = new Map<string, (m: TransportMessage) => void>();
  private inbox = 0;

  publish(subject: string, data: Uint8Array, headers: Headers = {}): void {
    this.published.push({ subject, data });
    this.route(subject, data, headers, undefined);
  }
  subscribe(subject: string, fn: (m: TransportMessage) => void): Subscription {
    const re = new RegExp(`^${subject.replace(/\./g, '\\.').replace(/\*/g, '[^.]+')}$`);
    const entry = { pattern: re, fn };
    this.subs.push(entry);
    return {
      unsubscribe: () => {
        const i = this.subs.indexOf(entry);
        if (i >= 0) this.subs.splice(i, 1);
      },
    };
  }
  /** Subscriptions currently matching `subject`. */
  listeners(subject: string): number {
    return this.subs.filter((s) => s.pattern.test(subject)).length;
  }
  request(subject: string, data: Uint8Array, opts: { readonly timeoutMs: number;
    readonly headers?: Headers }): Promise<TransportMessage> {
    if (this.listeners(subject) === 0) {
      return Promise.reject(new TransportTimeoutError('NO_RESPONDERS', subject));
    }
    const reply = `_INBOX.${++this.inbox}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(reply);
        reject(new TransportTimeoutError('TIMEOUT', subject));
      }, opts.timeoutMs);
      this.waiting.set(reply, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.route(subject, data, opts.headers ?? {}, reply);
    });
  }
  requestMany(): Promise<TransportMessage[]> {
    return Promise.resolve([]);
  }
  respond(to: TransportMessage, data: Uint8Array, headers: Headers = {}): boolean {
    if (to.reply === undefined) return false;
    this.replies.push({ reply: to.reply, data, headers });
    const w = this.waiting.get(to.reply);
    this.waiting.delete(to.reply);
    w?.({ subject: to.reply, data, headers, reply: undefined });
    return true;
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  private route(subject: string, data: Uint8Array, headers: Headers, reply: string | undefined):
    void {
    for (const s of this.subs.filter((x) => x.pattern.test(subject))) {
      queueMicrotask(() => s.fn({ subject, data, headers, reply }));
    }
  }
}

/**
 * A proposer core played by the test: records what it is stepped with and answers a request
 * when the test says so (the driver sends a Ready's responses on its next tick).
 */
class ScriptedCore implements Core<never> {
  readonly stepped: Message[] = [];
  private out: Message[] = [];
  step(m: Message): void {
    this.stepped.push(m);
  }
  tick(): void {}
  hasReady(): boolean {
    return this.out.length > 0;
  }
  ready(): Ready<never> {
    return { persist: null, messages: this.out, committed: [], events: [] };
  }
  advance(): void {
    this.out = [];
  }
  answer(c: { clientId: string; seq: number }, outcome: Outcome, to = c.clientId): void {
    this.out.push({ type: 'response', from: 'p1', to, clientId: c.clientId, seq: c.seq,
      outcome });
  }
}

const CLUSTER = 'c';
const SUBJECT = proposeSubject(CLUSTER);
const enc = new TextEncoder();
const cmd = (clientId: string, seq: number, payload = `${clientId}-${seq}`): Command =>
  ({ clientId, seq, payload });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, f: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function proposerDriver<P>(bus: MemBus, core: Core<P>,
  extra: Partial<DriverOptions<P>> = {}): CoreDriver<P> {
  const driver = new CoreDriver<P>({
    cluster: CLUSTER, role: 'proposer', id: 'p1', core, transport: bus, onFatal: () => undefined,
    tickMs: 5, logger: silentLogger, requestQueue: `synod-${CLUSTER}-proposers`, ...extra,
  });
  driver.start();
  return driver;
}

const ask = (bus: MemBus, data: Uint8Array, timeoutMs = 2000): Promise<TransportMessage> =>
  bus.request(SUBJECT, data, { timeoutMs });

describe('CoreDriver: propose batches with a real cluster in process', () => {
  test('a leader answers a batch with ONE reply whose outcomes line up with the commands',
    async () => {
      const bus = new MemBus();
      const acceptors = ['a1', 'a2', 'a3'];
      const drivers: CoreDriver<unknown>[] = acceptors.map((id) => {
        const d = new CoreDriver({
          cluster: CLUSTER, role: 'acceptor', id, core: new AcceptorCore({ id }),
          transport: bus, persist: () => Promise.resolve(), onFatal: () => undefined,
          tickMs: 5, logger: silentLogger,
        });
        d.start();
        return d as CoreDriver<unknown>;
      });
      const core = new ProposerCore({ id: 'p1', acceptors, rng: new Sfc32(7), electionTicks: 2,
        heartbeatTicks: 1, maxBatch: 2 });
      const driver = proposerDriver(bus, core);
      try {
        await until('p1 to lead', () => core.role === 'leader');
        // Five commands of three clients: more than one slot's worth (maxBatch 2).
        const cmds = [cmd('x', 1), cmd('y', 1), cmd('x', 2), cmd('z', 9), cmd('y', 2)];
        const traces = [null, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', null,
          null, null];
        const reply = await ask(bus, encodeApi({ cmds, traces }));
        expect(reply.headers[ERROR_HEADER]).toBeUndefined();
        const { outcomes } = decodeProposeBatchReply(reply.data, cmds.length);
        const slots = new Set<number>();
        outcomes.forEach((o, i) => {
          expect(o.status).toBe('chosen');
          if (o.status !== 'chosen') return;
          slots.add(o.slot);
          // Command i is in the slot that outcome i names.
          const v = core.decidedAt(o.slot);
          expect(v?.kind === 'cmds' ? v.cmds.map(commandKey) : [])
            .toContain(commandKey(cmds[i] as Command));
        });
        // Queued together (stepMany) and proposed maxBatch at a time, in command order.
        const first = outcomes[0]?.status === 'chosen' ? outcomes[0].slot : -1;
        expect(outcomes).toEqual([first, first, first + 1, first + 1, first + 2]
          .map((slot) => ({ status: 'chosen', slot })));
        expect(slots.size).toBe(3);
        // One reply to the batch, and no command answered on its own response subject.
        expect(bus.replies).toHaveLength(1);
        expect(bus.published.filter((p) => p.subject.startsWith('synod.c.response.')))
          .toEqual([]);

        // Each command keeps its identity: x#1 again is answered with its slot, not chosen twice.
        const again = await ask(bus, encodeApi({ cmds: [cmd('w', 1), cmd('x', 1)] }));
        const o2 = decodeProposeBatchReply(again.data, 2).outcomes;
        expect(o2[1]).toEqual(outcomes[0]);
        expect(o2[0]?.status).toBe('chosen');
        expect(o2[0]).not.toEqual(outcomes[0]);
        expect(driver.stats.rejected).toBe(0);
      } finally {
        await driver.stop();
        for (const d of drivers) await d.stop();
      }
    });
});

describe('CoreDriver: propose batches', () => {
  test('each command is stepped as the request it would be alone, from its client, with ' +
    'its traceparent', async () => {
    const bus = new MemBus();
    const core = new ScriptedCore();
    const inbound: Array<{ m: Message; headers: Headers; reply: string | undefined }> = [];
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const driver = proposerDriver(bus, core, {
      hooks: { onInbound: (m, t) => inbound.push({ m, headers: t.headers, reply: t.reply }) },
    });
    void ask(bus, encodeApi({ cmds: [cmd('a', 1), cmd('b', 4)], traces: [tp, null] }), 200)
      .catch(() => undefined);
    await until('two steps', () => core.stepped.length === 2);
    expect(core.stepped).toEqual([
      { type: 'request', from: 'a', cmd: cmd('a', 1) },
      { type: 'request', from: 'b', cmd: cmd('b', 4) },
    ]);
    expect(inbound.map((i) => i.headers)).toEqual([{ traceparent: tp }, {}]);
    expect(inbound.map((i) => i.reply)).toEqual([undefined, undefined]);
    expect(driver.stats.delivered).toBe(1);
    await driver.stop();
  });

  test('a core that takes several messages at once gets a batch\'s commands in one stepMany; ' +
    'a single request is still stepped alone', async () => {
    const bus = new MemBus();
    const calls: string[] = [];
    const core = new ScriptedCore();
    const many = Object.assign(core, {
      stepMany: (ms: readonly Message[]): void => {
        calls.push(`stepMany ${ms.length}`);
        for (const m of ms) core.step(m);
      },
    });
    const driver = proposerDriver(bus, many);
    void ask(bus, encodeApi({ cmds: [cmd('a', 1), cmd('b', 1), cmd('c', 1)] }), 200)
      .catch(() => undefined);
    await until('three steps', () => core.stepped.length === 3);
    void bus.request('synod.c.request.d', encode({ type: 'request', from: 'd',
      cmd: cmd('d', 1) }), { timeoutMs: 200 }).catch(() => undefined);
    await until('four steps', () => core.stepped.length === 4);
    expect(calls).toEqual(['stepMany 3']);
    expect(core.stepped.map((m) => (m.type === 'request' ? m.cmd.clientId : m.type)))
      .toEqual(['a', 'b', 'c', 'd']);
    await driver.stop();
  });

  test('the batch is answered once, when the last command\'s response is out, in command ' +
    'order whatever order the core answered in', async () => {
    const bus = new MemBus();
    const core = new ScriptedCore();
    const driver = proposerDriver(bus, core);
    const cmds = [cmd('a', 1), cmd('b', 1), cmd('a', 2)];
    const reply = ask(bus, encodeApi({ cmds }));
    await until('three steps', () => core.stepped.length === 3);
    core.answer(cmds[2] as Command, { status: 'chosen', slot: 12 });
    core.answer(cmds[0] as Command, { status: 'overloaded' });
    await sleep(30);
    // Two of three: nothing is sent yet, neither the batch nor the responses on their own.
    expect(bus.replies).toEqual([]);
    expect(bus.published).toEqual([]);
    core.answer(cmds[1] as Command, { status: 'redirect', leader: 'p2' });
    const r = await reply;
    expect(decodeProposeBatchReply(r.data, 3).outcomes).toEqual([
      { status: 'overloaded' }, { status: 'redirect', leader: 'p2' },
      { status: 'chosen', slot: 12 },
    ]);
    expect(bus.replies).toHaveLength(1);
    expect(bus.published).toEqual([]);
    expect(driver.stats.sent).toBe(1);
    // A later response for a command of the answered batch goes out as usual, once.
    core.answer(cmds[0] as Command, { status: 'chosen', slot: 13 });
    await until('a published response', () => bus.published.length === 1);
    expect(bus.published[0]?.subject).toBe('synod.c.response.p1.a');
    expect(bus.replies).toHaveLength(1);
    await driver.stop();
  });

  test('a single request waiting for the same command gets its own response too, and its ' +
    'send is reported once', async () => {
    const bus = new MemBus();
    const core = new ScriptedCore();
    const sent: string[] = [];
    const driver = proposerDriver(bus, core, {
      hooks: { onSent: (m) => sent.push(m.type === 'response' ? `${m.clientId}#${m.seq}` : '') },
    });
    const c = cmd('a', 1);
    const batchReply = ask(bus, encodeApi({ cmds: [c, cmd('b', 1)] }));
    const single = bus.request('synod.c.request.a', encode({ type: 'request', from: 'a',
      cmd: c }), { timeoutMs: 2000 });
    await until('three steps', () => core.stepped.length === 3);
    core.answer(c, { status: 'chosen', slot: 3 });
    const s = decode((await single).data);
    expect(s).toMatchObject({ type: 'response', clientId: 'a', seq: 1,
      outcome: { status: 'chosen', slot: 3 } });
    core.answer(cmd('b', 1), { status: 'chosen', slot: 4 });
    expect(decodeProposeBatchReply((await batchReply).data, 2).outcomes)
      .toEqual([{ status: 'chosen', slot: 3 }, { status: 'chosen', slot: 4 }]);
    expect(sent.sort()).toEqual(['a#1', 'b#1']);
    await driver.stop();
  });

  test('two batches waiting for the same command (a retry in a second batch) are both ' +
    'answered', async () => {
    const bus = new MemBus();
    const core = new ScriptedCore();
    const driver = proposerDriver(bus, core);
    const c = cmd('a', 1);
    const first = ask(bus, encodeApi({ cmds: [c, cmd('b', 1)] }));
    const second = ask(bus, encodeApi({ cmds: [cmd('c', 1), c] }));
    await until('four steps', () => core.stepped.length === 4);
    core.answer(c, { status: 'chosen', slot: 3 });
    core.answer(cmd('b', 1), { status: 'chosen', slot: 4 });
    core.answer(cmd('c', 1), { status: 'overloaded' });
    expect(decodeProposeBatchReply((await first).data, 2).outcomes)
      .toEqual([{ status: 'chosen', slot: 3 }, { status: 'chosen', slot: 4 }]);
    expect(decodeProposeBatchReply((await second).data, 2).outcomes)
      .toEqual([{ status: 'overloaded' }, { status: 'chosen', slot: 3 }]);
    await driver.stop();
  });

  test('a batch published without a reply subject is stepped; responses go out as usual',
    async () => {
      const bus = new MemBus();
      const core = new ScriptedCore();
      const driver = proposerDriver(bus, core);
      bus.publish(SUBJECT, encodeApi({ cmds: [cmd('a', 1), cmd('b', 1)] }));
      await until('two steps', () => core.stepped.length === 2);
      core.answer(cmd('a', 1), { status: 'chosen', slot: 1 });
      core.answer(cmd('b', 1), { status: 'chosen', slot: 1 });
      await until('two responses', () => bus.published.length === 3);
      expect(bus.published.slice(1).map((p) => p.subject))
        .toEqual(['synod.c.response.p1.a', 'synod.c.response.p1.b']);
      expect(bus.replies).toEqual([]);
      await driver.stop();
    });

  const many = Array.from({ length: 257 }, (_, i) => cmd('m', i));
  test.each([
    ['not JSON', enc.encode('{"v":1,"cmds":['), 'decode:BAD_JSON'],
    ['an empty batch', encodeApi({ cmds: [] }), 'decode:BAD_FIELD'],
    ['257 commands', encodeApi({ cmds: many }), 'decode:LIMIT'],
    ['a command twice', encodeApi({ cmds: [cmd('a', 1), cmd('b', 1), cmd('a', 1)] }),
      'decode:BAD_FIELD'],
    ['a bad seq', enc.encode('{"v":1,"cmds":[{"clientId":"a","seq":-1,"payload":""}]}'),
      'decode:BAD_FIELD'],
    ['a trace too few', encodeApi({ cmds: [cmd('a', 1), cmd('b', 1)], traces: [null] }),
      'decode:BAD_FIELD'],
    ['an unknown key', enc.encode('{"v":1,"cmds":[{"clientId":"a","seq":1,"payload":""}],' +
      '"to":"p1"}'), 'decode:UNKNOWN_FIELD'],
    ['version 2', enc.encode('{"v":2,"cmds":[{"clientId":"a","seq":1,"payload":""}]}'),
      'decode:BAD_VERSION'],
  ])('a malformed batch (%s) is answered with the error header, counted, and never reaches ' +
    'the core', async (_name, data, reason) => {
    const bus = new MemBus();
    // A real proposer: with no leader known, every request it is stepped with is queued.
    const core = new ProposerCore({ id: 'p1', acceptors: ['a1', 'a2', 'a3'], rng: new Sfc32(1),
      electionTicks: 1_000_000 });
    const rejected: string[] = [];
    const driver = proposerDriver(bus, core, {
      hooks: { onRejected: (r) => rejected.push(r) },
    });
    const r = await ask(bus, data);
    expect(r.headers[ERROR_HEADER]).toBe(reason);
    // The body says what was wrong, in words.
    expect(new TextDecoder().decode(r.data)).toMatch(/\w+ \w+/);
    expect(Object.fromEntries(driver.rejected)).toEqual({ [reason]: 1 });
    expect(rejected).toEqual([reason]);
    expect(driver.stats).toMatchObject({ delivered: 0, rejected: 1, batches: 0 });
    expect(core.pendingCount).toBe(0);
    expect(core.role).toBe('follower');
    // The same commands, well formed, do reach it.
    const good = await Promise.race([ask(bus, encodeApi({ cmds: [cmd('a', 1), cmd('b', 1)] }),
      50).catch((e: unknown) => e), sleep(100)]);
    expect(good).toBeInstanceOf(TransportTimeoutError); // queued: no leader to choose them
    expect(core.pendingCount).toBe(2);
    expect(driver.rejected.size).toBe(1);
    await driver.stop();
  });

  test('a malformed batch without a reply subject is counted and dropped, unanswered',
    async () => {
      const bus = new MemBus();
      const core = new ScriptedCore();
      const driver = proposerDriver(bus, core);
      bus.publish(SUBJECT, enc.encode('nope'));
      await until('a rejection', () => driver.stats.rejected === 1);
      expect(Object.fromEntries(driver.rejected)).toEqual({ 'decode:BAD_JSON': 1 });
      expect(bus.replies).toEqual([]);
      expect(core.stepped).toEqual([]);
      await driver.stop();
    });

  test('the driver\'s limits apply to batches', async () => {
    const bus = new MemBus();
    const core = new ScriptedCore();
    const driver = proposerDriver(bus, core, { limits: { maxPayloadBytes: 4 } });
    const r = await ask(bus, encodeApi({ cmds: [cmd('a', 1, 'four'), cmd('b', 1, 'fiver')] }));
    expect(r.headers[ERROR_HEADER]).toBe('decode:LIMIT');
    expect(core.stepped).toEqual([]);
    await driver.stop();
  });

  test('the batch subject follows setClientIntake, and stop() leaves it', async () => {
    const bus = new MemBus();
    const core = new ScriptedCore();
    const driver = proposerDriver(bus, core);
    const b: ProposeBatch = { cmds: [cmd('a', 1), cmd('b', 1)] };
    expect(bus.listeners(SUBJECT)).toBe(1);
    driver.setClientIntake(false);
    expect(bus.listeners(SUBJECT)).toBe(0);
    await expect(ask(bus, encodeApi(b))).rejects.toMatchObject({ code: 'NO_RESPONDERS' });
    driver.setClientIntake(true);
    driver.setClientIntake(true);
    expect(bus.listeners(SUBJECT)).toBe(1);
    void ask(bus, encodeApi(b), 100).catch(() => undefined);
    await until('two steps', () => core.stepped.length === 2);
    await driver.stop();
    expect(bus.listeners(SUBJECT)).toBe(0);
  });

  test('the leader-only subject: heard whatever setClientIntake says, taken only while ' +
    'isLeader() is true, ignored (unanswered, counted) otherwise, left at stop()', async () => {
    const bus = new MemBus();
    const core = new ScriptedCore();
    let leading = false;
    const driver = proposerDriver(bus, core, { isLeader: () => leading });
    const LEADER = leaderProposeSubject(CLUSTER);
    const b: ProposeBatch = { cmds: [cmd('a', 1)] };
    driver.setClientIntake(false);
    expect(bus.listeners(LEADER)).toBe(1);
    // A follower: nothing stepped, no answer (the request times out), counted.
    await expect(bus.request(LEADER, encodeApi(b), { timeoutMs: 50 }))
      .rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(core.stepped).toEqual([]);
    expect(driver.stats.batchesNotLeader).toBe(1);
    expect(driver.stats.batches).toBe(0);
    // Leading: stepped as a batch and answered once.
    leading = true;
    const asked = bus.request(LEADER, encodeApi(b), { timeoutMs: 2000 });
    await until('one step', () => core.stepped.length === 1);
    expect(core.stepped).toEqual([{ type: 'request', from: 'a', cmd: cmd('a', 1) }]);
    core.answer(cmd('a', 1), { status: 'chosen', slot: 4 });
    const reply = await asked;
    expect(decodeProposeBatchReply(reply.data, 1).outcomes)
      .toEqual([{ status: 'chosen', slot: 4 }]);
    expect(driver.stats.batches).toBe(1);
    await driver.stop();
    expect(bus.listeners(LEADER)).toBe(0);
  });

  test('a proposer driver without isLeader does not hear the leader-only subject', async () => {
    const bus = new MemBus();
    const driver = proposerDriver(bus, new ScriptedCore());
    expect(bus.listeners(leaderProposeSubject(CLUSTER))).toBe(0);
    await driver.stop();
  });

  test('acceptors and learners do not listen for batches', async () => {
    const bus = new MemBus();
    const d = new CoreDriver({
      cluster: CLUSTER, role: 'acceptor', id: 'a1', core: new AcceptorCore({ id: 'a1' }),
      transport: bus, persist: () => Promise.resolve(), onFatal: () => undefined, tickMs: 1000,
      logger: silentLogger,
    });
    d.start();
    expect(bus.listeners(SUBJECT)).toBe(0);
    expect(bus.listeners(leaderProposeSubject(CLUSTER))).toBe(0);
    await d.stop();
  });
});
