/**
 * The election view starts from a learner's snapshot when one is served, and replays the log
 * from slot 0 when none is (no learner serves snapshots, a refusal, a snapshot that does not
 * restore), against a scripted learner on a real nats-server.
 */
import { electionSnapshotSubject, encodeApi, ERROR_HEADER, type LogEntry } from '@synod/codec';
import { ElectionMachine, encodeElectionCommand } from '@synod/election';
import type { Subscription, Transport } from '@synod/runtime';
import { ElectionView } from '../src/election-view.js';
import { type HolderChange, SynodClient } from '../src/index.js';
import { Bus, freshCluster, scriptedLearner } from './bus.js';

jest.setTimeout(20_000);

let bus: Bus;
let server: Transport;
beforeAll(async () => {
  bus = await Bus.start();
  server = await bus.connect('toy-learner');
});
afterAll(async () => {
  await bus.stop();
});

const SLOTS = 1500;

/** A log of SLOTS slots: app-1 campaigns for `orders` at slot 0 (an hour's lease), then others. */
function makeLog(): Map<number, LogEntry> {
  const log = new Map<number, LogEntry>();
  const stamp = Date.now();
  log.set(0, { slot: 0, value: { kind: 'cmds', stamp, cmds: [{ clientId: 'app-x', seq: 1,
    payload: encodeElectionCommand({ op: 'campaign', group: 'orders', candidate: 'app-1',
      ttlMs: 3_600_000 }) }] } });
  for (let s = 1; s < SLOTS; s++) {
    log.set(s, { slot: s, value: { kind: 'cmds', stamp: stamp + s,
      cmds: [{ clientId: `c-${s % 7}`, seq: Math.floor(s / 7) + 1, payload: `x${s}` }] } });
  }
  return log;
}

type Mode = { kind: 'good' } | { kind: 'tamper'; f: (snap: Record<string, unknown>) => void } |
  { kind: 'refuse'; code: string };

/** Serves election snapshots of `log` as a learner would, or misbehaves as `mode` says. */
function snapshotServer(cluster: string, log: Map<number, LogEntry>, mode: Mode): Subscription {
  return server.subscribe(electionSnapshotSubject(cluster), (m) => {
    if (mode.kind === 'refuse') {
      server.respond(m, new TextEncoder().encode(JSON.stringify({ v: 1,
        error: { code: mode.code, message: 'scripted' } })), { [ERROR_HEADER]: mode.code });
      return;
    }
    const machine = new ElectionMachine();
    for (let s = 0; s < log.size; s++) machine.apply(s, (log.get(s) as LogEntry).value);
    const snapshot = JSON.parse(JSON.stringify(machine.snapshot())) as Record<string, unknown>;
    if (mode.kind === 'tamper') mode.f(snapshot);
    server.respond(m, encodeApi({ learner: 'l1', snapshot }));
  }, { queue: `synod-${cluster}-learners` });
}

/** The first answer of observe, and the view's status then (before observe releases it). */
async function firstHolder(c: SynodClient): Promise<{ first: HolderChange;
  status: ReturnType<SynodClient['electionViewStatus']> }> {
  const ctl = new AbortController();
  for await (const h of c.observe('orders', { signal: ctl.signal })) {
    const status = c.electionViewStatus();
    ctl.abort();
    return { first: h, status };
  }
  throw new Error('observe ended');
}

async function scenario(mode: Mode | null): Promise<{ first: HolderChange;
  status: ReturnType<SynodClient['electionViewStatus']>; lowestRead: number }> {
  const cluster = freshCluster();
  const log = makeLog();
  const learner = scriptedLearner(server, cluster, 'l1', log);
  const snaps = mode === null ? null : snapshotServer(cluster, log, mode);
  await server.flush();
  const c = await SynodClient.connect({ servers: bus.url, cluster, clientId: 'app-obs',
    timeoutMs: 2000 });
  try {
    expect(c.electionViewStatus()).toBeNull();
    const { first, status } = await firstHolder(c);
    return { first, status,
      lowestRead: Math.min(...learner.reads.map((r) => r.fromSlot)) };
  } finally {
    await c.close();
    learner.stop();
    snaps?.unsubscribe();
  }
}

describe('the election view and learners\' snapshots', () => {
  test('with a snapshot served, the view starts from it: no slot below it is read or applied, ' +
    'and it knows the holder', async () => {
    const r = await scenario({ kind: 'good' });
    expect(r.first).toMatchObject({ holder: 'app-1', token: 0, reason: 'current' });
    expect(r.status).toEqual({ started: { from: 'snapshot', slot: SLOTS, learner: 'l1' },
      nextSlot: SLOTS, applied: 0, caughtUp: true, lastError: null });
    expect(r.lowestRead).toBeGreaterThanOrEqual(SLOTS);
  });

  test.each<[string, Mode | null, RegExp]>([
    ['no learner serves snapshots', null, /no learner serves election snapshots/],
    ['a learner refuses (TOO_LARGE)', { kind: 'refuse', code: 'TOO_LARGE' },
      /a learner refused: TOO_LARGE: scripted/],
    ['a snapshot that does not restore (a lease without an owner)', { kind: 'tamper',
      f: (s) => { (s['leases'] as Record<string, unknown>[])[0]!['owner'] = ''; } },
    /a learner's snapshot was refused: election snapshot: leases\[0\]\.owner/],
    ['a snapshot of another version', { kind: 'tamper', f: (s) => { s['v'] = 2; } },
      /version 2/],
    ['a snapshot with foreign deduplicator settings', { kind: 'tamper',
      f: (s) => { (s['dedupe'] as Record<string, unknown>)['window'] = 8; } },
    /deduplicator settings/],
  ])('%s: the view replays the log from slot 0 and says why', async (_name, mode, why) => {
    const r = await scenario(mode);
    expect(r.first).toMatchObject({ holder: 'app-1', token: 0, reason: 'current' });
    expect(r.status?.started).toEqual({ from: 'replay', reason: expect.stringMatching(why) });
    expect(r.status).toMatchObject({ nextSlot: SLOTS, applied: SLOTS, caughtUp: true });
    expect(r.lowestRead).toBe(0);
  });
});

describe('ElectionView with a snapshot source that throws', () => {
  test('the view replays from slot 0 and keeps the error as the reason', async () => {
    const log = makeLog();
    const view = new ElectionView({
      clientId: 'app-obs',
      electionSnapshot: () => Promise.reject(new Error('socket on fire')),
      watch: (from, o) => ({
        async *[Symbol.asyncIterator]() {
          for (let s = from; s < log.size; s++) yield log.get(s) as LogEntry;
          o.onCaughtUp(log.size);
          await new Promise<void>((r) => o.signal.addEventListener('abort', () => r()));
        },
      }),
    });
    view.acquire();
    await view.ready(new AbortController().signal);
    expect(view.started).toEqual({ from: 'replay', reason: 'socket on fire' });
    expect(view.applied).toBe(SLOTS);
    expect(view.lease('orders')?.holder).toBe('app-1');
    view.release();
  });
});
