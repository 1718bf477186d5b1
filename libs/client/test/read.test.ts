import type { LogEntry } from '@synod/codec';
import { encodeApi, readSubject } from '@synod/codec';
import type { Transport } from '@synod/runtime';
import {
  SynodClient,
  SynodProtocolError,
  SynodRejectedError,
  SynodTimeoutError,
  SynodUnavailableError,
} from '../src/index.js';
import { Bus, cmdEntry, freshCluster, scriptedLearner } from './bus.js';

jest.setTimeout(15_000);

let bus: Bus;
let learnerBus: Transport;
let clientBus: Transport;

beforeAll(async () => {
  bus = await Bus.start();
  learnerBus = await bus.connect('learner');
  clientBus = await bus.connect('client');
});
afterAll(async () => {
  await bus.stop();
});

const client = (cluster: string, timeoutMs = 2000): SynodClient =>
  new SynodClient(clientBus, { cluster, timeoutMs, serverName: bus.url });

function logOf(n: number): Map<number, LogEntry> {
  return new Map(Array.from({ length: n }, (_, i) => [i, cmdEntry(i)] as const));
}

describe('read', () => {
  test('a decided slot: its entry; a slot not decided yet: null', async () => {
    const cluster = freshCluster();
    const l = scriptedLearner(learnerBus, cluster, 'l1', logOf(3));
    await learnerBus.flush();
    const c = client(cluster);
    await expect(c.read(1)).resolves.toEqual(cmdEntry(1));
    await expect(c.read(3)).resolves.toBeNull();
    await expect(c.read(1_000_000)).resolves.toBeNull();
    expect(l.reads).toEqual([
      { fromSlot: 1, limit: 1 }, { fromSlot: 3, limit: 1 }, { fromSlot: 1_000_000, limit: 1 },
    ]);
    l.stop();
  });

  test('a no-op slot and duplicates come through as the learner sent them', async () => {
    const cluster = freshCluster();
    const log = new Map<number, LogEntry>([
      [0, { slot: 0, value: { kind: 'noop' } }],
      [1, { slot: 1, value: { kind: 'cmds', cmds: [
        { clientId: 'a', seq: 1, payload: 'x' }, { clientId: 'a', seq: 2, payload: 'y' }] },
      dups: [0] }],
    ]);
    const l = scriptedLearner(learnerBus, cluster, 'l1', log);
    await learnerBus.flush();
    await expect(client(cluster).readRange(0, 10)).resolves.toEqual({
      learner: 'l1', nextSlot: 2, entries: [log.get(0), log.get(1)],
    });
    l.stop();
  });

  test('readRange pages: at most limit entries, with the learner delivery point', async () => {
    const cluster = freshCluster();
    const l = scriptedLearner(learnerBus, cluster, 'l1', logOf(10));
    await learnerBus.flush();
    const r = await client(cluster).readRange(4, 3);
    expect(r).toEqual({ learner: 'l1', nextSlot: 10, entries: [4, 5, 6].map((s) => cmdEntry(s)) });
    await expect(client(cluster).readRange(0, 1001)).rejects.toThrow(RangeError);
    await expect(client(cluster).read(-1)).rejects.toThrow(RangeError);
    l.stop();
  });

  test('no learner: SynodUnavailableError', async () => {
    const e = await client(freshCluster(), 400).read(0).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SynodUnavailableError);
  });

  test('a learner that never answers: SynodTimeoutError', async () => {
    const cluster = freshCluster();
    const sub = learnerBus.subscribe(readSubject(cluster), () => undefined);
    await learnerBus.flush();
    const e = await client(cluster, 600).read(0).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SynodTimeoutError);
    expect(e).toMatchObject({ code: 'TIMEOUT' });
    sub.unsubscribe();
  });

  test('an error header: BAD_REQUEST is a rejection, UNAVAILABLE is retried', async () => {
    const cluster = freshCluster();
    let code: string | null = 'BAD_REQUEST';
    const l = scriptedLearner(learnerBus, cluster, 'l1', logOf(2), { error: () => code });
    await learnerBus.flush();
    const e = await client(cluster).read(0).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SynodRejectedError);
    expect(e).toMatchObject({ code: 'REJECTED', remoteCode: 'BAD_REQUEST' });
    let failures = 0;
    code = null;
    const flaky = scriptedLearner(learnerBus, `${cluster}b`, 'l1', logOf(2),
      { error: () => (++failures <= 2 ? 'UNAVAILABLE' : null) });
    await learnerBus.flush();
    await expect(client(`${cluster}b`).read(1)).resolves.toEqual(cmdEntry(1));
    expect(flaky.reads).toHaveLength(3);
    code = 'UNAVAILABLE';
    const down = await client(cluster, 300).read(0).catch((x: unknown) => x);
    expect(down).toBeInstanceOf(SynodUnavailableError);
    l.stop();
    flaky.stop();
  });

  test('a malformed or inconsistent reply: SynodProtocolError', async () => {
    const cluster = freshCluster();
    let reply: Uint8Array = new TextEncoder().encode('{"v":1,"learner":"l1"}');
    const sub = learnerBus.subscribe(readSubject(cluster), (m) => learnerBus.respond(m, reply));
    await learnerBus.flush();
    await expect(client(cluster).read(0)).rejects.toBeInstanceOf(SynodProtocolError);
    // Slot 5 answered to a read of slot 0: out of range.
    reply = encodeApi({ learner: 'l1', nextSlot: 9, entries: [cmdEntry(5)] });
    await expect(client(cluster).read(0)).rejects.toThrow(/out of order or out of range/);
    // An entry at or beyond the learner's own delivery point.
    reply = encodeApi({ learner: 'l1', nextSlot: 0, entries: [cmdEntry(0)] });
    await expect(client(cluster).read(0)).rejects.toBeInstanceOf(SynodProtocolError);
    sub.unsubscribe();
  });
});
