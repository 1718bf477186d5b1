import { encode } from '@synod/codec';
import { AcceptorCore, type AcceptorPersist, type Message } from '@synod/protocol';
import {
  CoreDriver,
  type DriverHooks,
  type Headers,
  silentLogger,
  type Subscription,
  type Transport,
  type TransportMessage,
} from '../src/index.js';

/** The smallest in-process stand-in for the Transport port: records what is published. */
class RecordingBus implements Transport {
  readonly log: string[];
  private handler: ((m: TransportMessage) => void) | null = null;
  constructor(log: string[]) {
    this.log = log;
  }
  publish(subject: string, _data: Uint8Array, headers?: Headers): void {
    this.log.push(`publish ${subject} ${JSON.stringify(headers ?? {})}`);
  }
  subscribe(subject: string, fn: (m: TransportMessage) => void): Subscription {
    if (subject === 'synod.c.prepare.*') this.handler = fn;
    return { unsubscribe: () => undefined };
  }
  deliver(m: Message, headers: Headers = {}): void {
    this.handler?.({ subject: `synod.c.${m.type}.${m.from}`, data: encode(m), headers,
      reply: undefined });
  }
  request(): Promise<TransportMessage> {
    return Promise.reject(new Error('not used'));
  }
  requestMany(): Promise<TransportMessage[]> {
    return Promise.resolve([]);
  }
  respond(): boolean {
    return false;
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const prepare: Message = {
  type: 'prepare', from: 'p1', ballot: { round: 2, proposer: 'p1', incarnation: 1 }, fromSlot: 0,
};
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 10));

function driverWith(log: string[], persist: (p: AcceptorPersist) => Promise<void>,
  hooks: DriverHooks): { bus: RecordingBus; driver: CoreDriver<AcceptorPersist> } {
  const bus = new RecordingBus(log);
  const driver = new CoreDriver({
    cluster: 'c', role: 'acceptor', id: 'a1', core: new AcceptorCore({ id: 'a1' }),
    transport: bus, persist, onFatal: () => log.push('fatal'), tickMs: 1000,
    logger: silentLogger, hooks,
  });
  driver.start();
  return { bus, driver };
}

/** The hooks telemetry uses, in the order the Ready contract fixes. */
const hooks = (log: string[]): DriverHooks => ({
  onInbound: (m, t) => log.push(`inbound ${m.type} ${t.headers['traceparent'] ?? '-'}`),
  onReady: (r) => log.push(`ready ${r.messages.length} messages`),
  onPersistStart: () => {
    log.push('persist start');
    return (e) => log.push(e === undefined ? 'persist durable' : 'persist failed');
  },
  outboundHeaders: (m) => ({ traceparent: `for-${m.type}` }),
  onSent: (m) => log.push(`sent ${m.type}`),
  onReadyDone: () => log.push('ready done'),
});

describe('driver hooks (what telemetry observes)', () => {
  test('inbound -> ready -> persist start -> durable -> publish with headers -> sent -> done',
    async () => {
      const log: string[] = [];
      const { bus, driver } = driverWith(log, async () => {
        log.push('store write');
      }, hooks(log));
      bus.deliver(prepare, { traceparent: '00-abc' });
      await settle();
      await driver.stop();
      expect(log).toEqual([
        'inbound prepare 00-abc', 'ready 1 messages', 'persist start', 'store write',
        'persist durable', 'publish synod.c.promise.a1.p1 {"traceparent":"for-promise"}',
        'sent promise', 'ready done',
      ]);
    });

  test('a failed persist: its hook hears the error, nothing is sent, the node is fatal',
    async () => {
      const log: string[] = [];
      const { bus, driver } = driverWith(log, () => Promise.reject(new Error('disk')), hooks(log));
      bus.deliver(prepare);
      await settle();
      await driver.stop().catch(() => undefined);
      expect(log).toEqual(['inbound prepare -', 'ready 1 messages', 'persist start',
        'persist failed', 'fatal']);
    });
});
