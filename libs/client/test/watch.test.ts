import type { LogEntry } from '@synod/codec';
import { logSubject } from '@synod/codec';
import type { Transport } from '@synod/runtime';
import { SynodClient, SynodUnavailableError } from '../src/index.js';
import { Bus, cmdEntry, freshCluster, publishLog, scriptedLearner } from './bus.js';

jest.setTimeout(15_000);

let bus: Bus;
let learners: Transport;
let clientBus: Transport;

beforeAll(async () => {
  bus = await Bus.start();
  learners = await bus.connect('learners');
  clientBus = await bus.connect('client');
});
afterAll(async () => {
  await bus.stop();
});

const client = (cluster: string, timeoutMs = 2000): SynodClient =>
  new SynodClient(clientBus, { cluster, timeoutMs, serverName: bus.url });

function addSlots(log: Map<number, LogEntry>, from: number, to: number): LogEntry[] {
  const out: LogEntry[] = [];
  for (let s = from; s <= to; s++) {
    log.set(s, cmdEntry(s));
    out.push(cmdEntry(s));
  }
  return out;
}

/** Collects a watch into `got` in the background, until `n` entries or the signal. */
function collect(entries: AsyncIterable<LogEntry>, n: number): {
  got: number[]; done: Promise<void>;
} {
  const got: number[] = [];
  const done = (async () => {
    for await (const e of entries) {
      expect(e).toEqual(cmdEntry(e.slot));
      got.push(e.slot);
      if (got.length >= n) break;
    }
  })();
  return { got, done };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('watch', () => {
  test('from 0: history by reads, then live events of two learners; in order, no repeats, ' +
    'a gap filled by a read', async () => {
    const cluster = freshCluster();
    const log = new Map<number, LogEntry>();
    addSlots(log, 0, 4);
    let delivered = 5;
    const l1 = scriptedLearner(learners, cluster, 'l1', log, { nextSlot: () => delivered });
    await learners.flush();
    const w = collect(client(cluster).watch(0, { pageSize: 2 }), 10);
    await until(() => w.got.length === 5);
    expect(l1.reads.map((r) => r.fromSlot)).toEqual([0, 2, 4]);
    addSlots(log, 5, 9);
    delivered = 10;
    // Both learners publish 5 and 6; 7 is never published live; 8 and 9 come twice.
    publishLog(learners, cluster, 'l1', [cmdEntry(5), cmdEntry(6)]);
    publishLog(learners, cluster, 'l2', [cmdEntry(5)]);
    publishLog(learners, cluster, 'l2', [cmdEntry(6)]);
    publishLog(learners, cluster, 'l2', [cmdEntry(8), cmdEntry(9)]);
    publishLog(learners, cluster, 'l1', [cmdEntry(8)]);
    publishLog(learners, cluster, 'l1', [cmdEntry(9)]);
    await w.done;
    expect(w.got).toEqual(range(0, 9));
    expect(l1.reads.some((r) => r.fromSlot === 7)).toBe(true);
    l1.stop();
  });

  test('live events during a long catch-up are held until history reaches them', async () => {
    const cluster = freshCluster();
    const log = new Map<number, LogEntry>();
    addSlots(log, 0, 2499);
    // Slow reads: the live events below arrive while history is still being paged through.
    const l1 = scriptedLearner(learners, cluster, 'l1', log, { delayMs: 80 });
    await learners.flush();
    const w = collect(client(cluster).watch(10), 2495);
    await new Promise((r) => setTimeout(r, 40));
    // l2 delivered five more slots than l1, which answers the reads and never catches up.
    const live = range(2500, 2504).map((s) => cmdEntry(s));
    publishLog(learners, cluster, 'l2', live);
    await w.done;
    expect(w.got).toEqual(range(10, 2504));
    // Three pages of history from l1; slots 2500.. came from the held live events only.
    expect(l1.reads.map((r) => r.fromSlot)).toEqual([10, 1010, 2010]);
    l1.stop();
  });

  test('malformed log events are ignored; an abort ends the iteration quietly', async () => {
    const cluster = freshCluster();
    const log = new Map<number, LogEntry>();
    let delivered = 0;
    const l1 = scriptedLearner(learners, cluster, 'l1', log, { nextSlot: () => delivered });
    await learners.flush();
    const ac = new AbortController();
    const caughtUp: number[] = [];
    const w = collect(client(cluster).watch(0, {
      signal: ac.signal, onCaughtUp: (cursor) => caughtUp.push(cursor),
    }), 100);
    await until(() => caughtUp.length === 1);
    learners.publish(logSubject(cluster, 'l1'), new TextEncoder().encode('{"v":1}'));
    addSlots(log, 0, 1);
    delivered = 2;
    publishLog(learners, cluster, 'l1', [cmdEntry(0), cmdEntry(1)]);
    await until(() => w.got.length === 2);
    ac.abort();
    await w.done;
    expect(w.got).toEqual([0, 1]);
    expect(caughtUp).toEqual([0]);
    l1.stop();
  });

  test('closing the client ends its watches', async () => {
    const cluster = freshCluster();
    const l1 = scriptedLearner(learners, cluster, 'l1', new Map());
    await learners.flush();
    const c = client(cluster);
    const w = collect(c.watch(0), 1);
    await new Promise((r) => setTimeout(r, 50));
    await c.close();
    await w.done;
    expect(w.got).toEqual([]);
    l1.stop();
  });

  test('no learner: the watch fails with the error, unless onError keeps it going', async () => {
    const cluster = freshCluster();
    const failing = client(cluster, 300).watch(0);
    await expect(collect(failing, 1).done).rejects.toBeInstanceOf(SynodUnavailableError);
    const errors: number[] = [];
    const log = new Map<number, LogEntry>();
    addSlots(log, 0, 2);
    const w = collect(client(cluster, 300).watch(0, {
      onError: (e, info) => {
        expect(e).toBeInstanceOf(SynodUnavailableError);
        errors.push(info.failures);
        return true;
      },
    }), 3);
    await until(() => errors.length >= 1);
    const l1 = scriptedLearner(learners, cluster, 'l1', log);
    await w.done;
    expect(w.got).toEqual([0, 1, 2]);
    l1.stop();
  });
});
