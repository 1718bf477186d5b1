import { encode } from '@synod/codec';
import {
  AcceptorCore,
  type AcceptorPersist,
  type Message,
  ProposerCore,
  Sfc32,
} from '@synod/protocol';
import {
  CoreDriver,
  type Headers,
  silentLogger,
  type Subscription,
  type Transport,
  type TransportMessage,
} from '../src/index.js';

/** An in-process bus: enough of the Transport port to drive one node (a fake of our port). */
class LoopBus implements Transport {
  readonly published: Array<{ subject: string; msg: Message }> = [];
  readonly events: string[] = [];
  private readonly subs: Array<{ pattern: RegExp; fn: (m: TransportMessage) => void }> = [];

  publish(subject: string, data: Uint8Array): void {
    this.events.push(`publish ${subject}`);
    this.published.push({ subject, msg: JSON.parse(new TextDecoder().decode(data)) as Message });
  }
  subscribe(subject: string, fn: (m: TransportMessage) => void): Subscription {
    const re = new RegExp(`^${subject.replace(/\./g, '\\.').replace(/\*/g, '[^.]+')}$`);
    const entry = { pattern: re, fn };
    this.subs.push(entry);
    return { unsubscribe: () => this.subs.splice(this.subs.indexOf(entry), 1) };
  }
  deliver(subject: string, data: Uint8Array): void {
    for (const s of this.subs) {
      if (s.pattern.test(subject)) s.fn({ subject, data, headers: {}, reply: undefined });
    }
  }
  request(): Promise<TransportMessage> {
    return Promise.reject(new Error('not used'));
  }
  requestMany(): Promise<TransportMessage[]> {
    return Promise.resolve([]);
  }
  respond(_to: TransportMessage, _data: Uint8Array, _h?: Headers): boolean {
    return false;
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const ballot = { round: 3, proposer: 'p1', incarnation: 9 };
const prepare: Message = { type: 'prepare', from: 'p1', ballot, fromSlot: 0 };

function acceptorDriver(bus: LoopBus, persist: (p: AcceptorPersist) => Promise<void>,
  onFatal: (e: unknown) => void = () => undefined) {
  const core = new AcceptorCore({ id: 'a1' });
  const driver = new CoreDriver({
    cluster: 'c', role: 'acceptor', id: 'a1', core, transport: bus, persist, onFatal,
    tickMs: 1000, logger: silentLogger,
  });
  driver.start();
  return { core, driver };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('CoreDriver', () => {
  test('persist -> send: the promise leaves only after the store acknowledged it', async () => {
    const bus = new LoopBus();
    let release: () => void = () => undefined;
    const { driver } = acceptorDriver(bus, (p) => {
      bus.events.push(`persist ${JSON.stringify(p.promised)}`);
      return new Promise<void>((r) => {
        release = r;
      });
    });
    bus.deliver('synod.c.prepare.p1', encode(prepare));
    await tick();
    expect(bus.events).toEqual([`persist ${JSON.stringify(ballot)}`]);
    expect(bus.published).toEqual([]);
    release();
    await tick();
    expect(bus.events[1]).toBe('publish synod.c.promise.a1.p1');
    expect(bus.published[0]?.msg.type).toBe('promise');
    await driver.stop();
  });

  test('deliveries during a persist share the next Ready and its single store write', async () => {
    const bus = new LoopBus();
    const writes: AcceptorPersist[] = [];
    let release: () => void = () => undefined;
    const { driver } = acceptorDriver(bus, (p) => {
      writes.push(p);
      return new Promise<void>((r) => {
        release = r;
      });
    });
    bus.deliver('synod.c.prepare.p1', encode(prepare));
    await tick();
    for (let slot = 0; slot < 5; slot++) {
      bus.deliver('synod.c.accept.p1', encode({
        type: 'accept', from: 'p1', ballot, slot, value: { kind: 'noop' },
      }));
    }
    release();
    await tick();
    release();
    await tick();
    expect(writes).toHaveLength(2);
    expect(writes[1]?.accepted.map((e) => e.slot)).toEqual([0, 1, 2, 3, 4]);
    expect(bus.published.filter((p) => p.msg.type === 'accepted')).toHaveLength(5);
    await driver.stop();
  });

  test('a burst delivered in one turn shares one store write, its first message included',
    async () => {
      const bus = new LoopBus();
      const writes: AcceptorPersist[] = [];
      const { driver } = acceptorDriver(bus, (p) => {
        writes.push(p);
        return Promise.resolve();
      });
      // One read from the bus: the prepare and five accepts are delivered back to back.
      bus.deliver('synod.c.prepare.p1', encode(prepare));
      for (let slot = 0; slot < 5; slot++) {
        bus.deliver('synod.c.accept.p1', encode({
          type: 'accept', from: 'p1', ballot, slot, value: { kind: 'noop' },
        }));
      }
      expect(writes).toHaveLength(0);
      await tick();
      await tick();
      expect(writes).toHaveLength(1);
      expect(writes[0]?.promised).toEqual(ballot);
      expect(writes[0]?.accepted.map((e) => e.slot)).toEqual([0, 1, 2, 3, 4]);
      expect(bus.published.filter((p) => p.msg.type === 'accepted')).toHaveLength(5);
      await driver.stop();
    });

  test('a proposer leaves and rejoins the client queue group (setClientIntake)', async () => {
    const bus = new LoopBus();
    const core = new ProposerCore({ id: 'p1', acceptors: ['a1', 'a2', 'a3'], rng: new Sfc32(1) });
    const driver = new CoreDriver({
      cluster: 'c', role: 'proposer', id: 'p1', core, transport: bus, onFatal: () => undefined,
      tickMs: 60_000, logger: silentLogger, requestQueue: 'synod-c-proposers',
    });
    driver.start();
    const request = (seq: number): void => bus.deliver('synod.c.request.cl',
      encode({ type: 'request', from: 'cl', cmd: { clientId: 'cl', seq, payload: 'x' } }));
    request(1);
    expect(core.pendingCount).toBe(1);
    driver.setClientIntake(false);
    request(2);
    expect(core.pendingCount).toBe(1);
    driver.setClientIntake(true);
    driver.setClientIntake(true);
    request(3);
    expect(core.pendingCount).toBe(2);
    await driver.stop();
  });

  test('bad deliveries are counted by reason and never reach the core', async () => {
    const bus = new LoopBus();
    const { core, driver } = acceptorDriver(bus, () => Promise.resolve());
    bus.deliver('synod.c.prepare.p1', new TextEncoder().encode('{not json'));
    bus.deliver('synod.c.prepare.p2', encode(prepare));
    const bad = JSON.stringify({ v: 1, ...prepare, ballot: { ...ballot, round: -1 } });
    bus.deliver('synod.c.prepare.p1', new TextEncoder().encode(bad));
    await tick();
    expect(Object.fromEntries(driver.rejected)).toEqual({
      'decode:BAD_JSON': 1, 'subject:SENDER_MISMATCH': 1, 'decode:BAD_FIELD': 1,
    });
    expect(core.promised).toBeNull();
    expect(bus.published).toEqual([]);
    await driver.stop();
  });

  test('a flood of bad deliveries is counted in full but logged a burst at a time, with one ' +
    'line for the rest when the window ends', async () => {
    const bus = new LoopBus();
    const lines: Array<{ fields: Record<string, unknown>; msg: string }> = [];
    const record = (fields: unknown, msg?: string): void => {
      lines.push({ fields: fields as Record<string, unknown>, msg: msg ?? '' });
    };
    const logger = { ...silentLogger, warn: record, child: () => logger };
    const driver = new CoreDriver({
      cluster: 'c', role: 'acceptor', id: 'a1', core: new AcceptorCore({ id: 'a1' }),
      transport: bus, tickMs: 10, logger, persist: () => Promise.resolve(),
      onFatal: () => undefined, rejectLogBurst: 5, rejectLogWindowMs: 100,
    });
    driver.start();
    for (let i = 0; i < 200; i++) {
      bus.deliver('synod.c.prepare.p1', new TextEncoder().encode('{not json'));
    }
    bus.deliver('synod.c.prepare.p2', encode(prepare));
    expect(driver.rejected.get('decode:BAD_JSON')).toBe(200);
    const oneByOne = (): typeof lines => lines.filter((l) => l.msg === 'rejected delivery');
    expect(oneByOne().map((l) => l.fields['reason'])).toEqual([
      ...Array.from({ length: 5 }, () => 'decode:BAD_JSON'), 'subject:SENDER_MISMATCH']);
    await new Promise((r) => setTimeout(r, 250));
    const summaries = lines.filter((l) => l.fields['notLogged'] !== undefined);
    expect(summaries.map((l) => l.fields)).toEqual([
      { reason: 'decode:BAD_JSON', notLogged: 195, windowMs: 100 }]);
    expect(summaries[0]?.msg).toMatch(/^195 more rejected deliveries \(decode:BAD_JSON\) in 0\.1 s/);
    await driver.stop();
  });

  test('catch-ups from one sender faster than catchupIntervalMs are dropped and counted',
    async () => {
      const bus = new LoopBus();
      const core = new AcceptorCore({ id: 'a1' });
      const driver = new CoreDriver({
        cluster: 'c', role: 'acceptor', id: 'a1', core, transport: bus, tickMs: 1000,
        logger: silentLogger, persist: () => Promise.resolve(), onFatal: () => undefined,
        catchupIntervalMs: 200,
      });
      driver.start();
      const accept: Message = { type: 'accept', from: 'p1', ballot, slot: 0,
        value: { kind: 'cmds', cmds: [{ clientId: 'c1', seq: 1, payload: 'x' }] } };
      bus.deliver('synod.c.accept.p1', encode(accept));
      await tick();
      await tick();
      bus.published.length = 0;
      const catchup = (from: string): void => bus.deliver(`synod.c.catchup.${from}`,
        encode({ type: 'catchup', from, fromSlot: 0, toSlot: 10 }));
      for (let i = 0; i < 50; i++) catchup('l9');
      catchup('l8');
      await tick();
      await tick();
      // One answer (the vote of slot 0) to each sender, not fifty to the flooding one.
      expect(bus.published.map((p) => p.subject).sort())
        .toEqual(['synod.c.accepted.a1.l8', 'synod.c.accepted.a1.l9']);
      expect(driver.rejected.get('rate-limited:catchup')).toBe(49);
      await new Promise((r) => setTimeout(r, 250));
      catchup('l9');
      await tick();
      await tick();
      expect(bus.published).toHaveLength(3);
      await driver.stop();
    });

  test('a failed persist sends nothing, calls onFatal and stops the node', async () => {
    const bus = new LoopBus();
    const fatal: unknown[] = [];
    const { driver } = acceptorDriver(bus, () => Promise.reject(new Error('disk on fire')),
      (e) => fatal.push(e));
    bus.deliver('synod.c.prepare.p1', encode(prepare));
    await tick();
    await tick();
    expect(fatal).toHaveLength(1);
    expect(bus.published).toEqual([]);
    bus.deliver('synod.c.prepare.p1', encode({ ...prepare, ballot: { ...ballot, round: 4 } }));
    await tick();
    expect(bus.published).toEqual([]);
    await driver.stop();
  });
});
