/**
 * elect / observe / resign against a toy log service on a real nats-server: one process plays
 * the proposer (it appends each new command to the log in its own slot, stamped with its
 * clock, and answers with the slot) and the learner (reads and log events). Its clock and its
 * willingness to answer are the test's levers.
 */
import { decode, encode, type LogEntry } from '@synod/codec';
import { encodeElectionCommand } from '@synod/election';
import type { Transport } from '@synod/runtime';
import {
  type HolderChange,
  SynodAbortedError,
  SynodClient,
  type SynodLeaseLostError,
  SynodTimeoutError,
} from '../src/index.js';
import { Bus, freshCluster, publishLog, scriptedLearner } from './bus.js';

jest.setTimeout(20_000);

let bus: Bus;
let server: Transport;

beforeAll(async () => {
  bus = await Bus.start();
  server = await bus.connect('toy-log');
});
afterAll(async () => {
  await bus.stop();
});

/** A one-process stand-in for a cluster: a log, a clock, and a switch to stop answering. */
class ToyLog {
  readonly log = new Map<number, LogEntry>();
  /** Added to Date.now() for stamps: a leader whose clock is off. */
  clockOffsetMs = 0;
  /** While true, requests are dropped (the cluster is unreachable). */
  silent = false;
  /** Requests of the commands it says yes to are dropped (those commands never settle). */
  drop: ((cmd: { clientId: string; seq: number; payload: string }) => boolean) | null = null;
  /**
   * A command to put in the slot right after the next request's, delivered to watchers in the
   * same log event (a page the client's replica applies in one go), with its stamp offset.
   */
  rider: { cmd: { clientId: string; seq: number; payload: string }; offsetMs: number } | null =
    null;
  /** The next request is answered this much later (its entry is in the log at once). */
  delayNextMs = 0;
  private readonly slots = new Map<string, number>();
  private readonly stops: (() => void)[] = [];

  constructor(readonly cluster: string) {
    const sub = server.subscribe(`synod.${cluster}.request.*`, (m) => {
      if (this.silent) return;
      const req = decode(m.data);
      if (req.type !== 'request' || this.drop?.(req.cmd) === true) return;
      const key = `${req.cmd.clientId}#${req.cmd.seq}`;
      let slot = this.slots.get(key);
      if (slot === undefined) {
        slot = this.log.size;
        this.slots.set(key, slot);
        const e: LogEntry = {
          slot, value: { kind: 'cmds', cmds: [req.cmd], stamp: Date.now() + this.clockOffsetMs },
        };
        this.log.set(slot, e);
        const batch = [e];
        if (this.rider !== null) {
          const r: LogEntry = { slot: this.log.size, value: { kind: 'cmds', cmds: [this.rider.cmd],
            stamp: Date.now() + this.clockOffsetMs + this.rider.offsetMs } };
          this.log.set(r.slot, r);
          batch.push(r);
          this.rider = null;
        }
        publishLog(server, cluster, 'l1', batch);
      }
      const answer = encode({ type: 'response', from: 'p1', to: req.from,
        clientId: req.cmd.clientId, seq: req.cmd.seq, outcome: { status: 'chosen', slot } });
      const delay = this.delayNextMs;
      this.delayNextMs = 0;
      if (delay === 0) {
        server.respond(m, answer);
      } else {
        const t = setTimeout(() => server.respond(m, answer), delay);
        this.stops.push(() => clearTimeout(t));
      }
    }, { queue: `synod-${cluster}-proposers` });
    const learner = scriptedLearner(server, cluster, 'l1', this.log);
    this.stops.push(() => sub.unsubscribe(), () => learner.stop());
  }

  stop(): void {
    for (const f of this.stops) f();
  }
}

const clients: SynodClient[] = [];
async function client(cluster: string, id: string): Promise<SynodClient> {
  const c = await SynodClient.connect({ servers: bus.url, cluster, clientId: id, timeoutMs: 500 });
  clients.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** Collects an observation in the background. */
function watchHolders(c: SynodClient, group: string): { seen: HolderChange[]; stop(): void } {
  const ctl = new AbortController();
  const seen: HolderChange[] = [];
  void (async () => {
    for await (const h of c.observe(group, { signal: ctl.signal })) seen.push(h);
  })();
  return { seen, stop: () => ctl.abort() };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('elect', () => {
  test('on a free group it resolves with the token (the granting slot) and keeps renewing',
    async () => {
      const toy = new ToyLog(freshCluster());
      const a = await client(toy.cluster, 'app-a');
      const lead = await a.elect('orders', 'a', { ttlMs: 600 });
      expect(lead.token).toBe(0);
      expect(lead.held).toBe(true);
      const renewals: number[] = [];
      lead.on('renewed', (r) => renewals.push(r.expiresAt));
      await new Promise((r) => setTimeout(r, 1000));
      expect(lead.held).toBe(true);
      expect(renewals.length).toBeGreaterThanOrEqual(3);
      await lead.resign();
      expect(lead.held).toBe(false);
      expect(lead.lostReason?.reason).toBe('resigned');
      toy.stop();
    });

  test('a second candidate waits; when the holder resigns it is elected at once with a ' +
    'higher token, and observe streams both changes', async () => {
    const toy = new ToyLog(freshCluster());
    const [a, b, o] = await Promise.all([client(toy.cluster, 'app-a'),
      client(toy.cluster, 'app-b'), client(toy.cluster, 'obs')]);
    const holders = watchHolders(o, 'g');
    // The observer reports the current holder first; electing before it has would fold the
    // grant into that first report on a slow machine (3 reports instead of 4).
    await until(() => holders.seen.length >= 1);
    const first = await a.elect('g', 'a', { ttlMs: 3000 });
    const t0 = Date.now();
    const second = b.elect('g', 'b', { ttlMs: 3000 });
    await new Promise((r) => setTimeout(r, 300));
    await first.resign();
    const lead = await second;
    expect(Date.now() - t0).toBeLessThan(1500); // well before a's lease would have run out
    expect(lead.token).toBeGreaterThan(first.token);
    await until(() => holders.seen.length >= 4);
    expect(holders.seen.map((h) => [h.reason, h.holder])).toEqual([
      ['current', null], ['granted', 'a'], ['released', null], ['granted', 'b'],
    ]);
    holders.stop();
    await lead.resign();
    toy.stop();
  });

  test('when renewals stop being confirmed, leadership ends before the lease expires: the ' +
    'signal aborts and `lost` says why', async () => {
    const toy = new ToyLog(freshCluster());
    const a = await client(toy.cluster, 'app-a');
    const ttlMs = 1000;
    const lead = await a.elect('g', 'a', { ttlMs, marginMs: 200, renewEveryMs: 250 });
    let lastRenewal = performance.now();
    lead.on('renewed', () => {
      lastRenewal = performance.now();
    });
    await new Promise((r) => setTimeout(r, 600));
    toy.silent = true;
    const silentAt = performance.now();
    const lost = await new Promise<SynodLeaseLostError>((resolve) => lead.on('lost', resolve));
    const lostAt = performance.now();
    expect(lost.reason).toBe('unconfirmed');
    expect(lead.signal.aborted).toBe(true);
    expect(lead.signal.reason).toBe(lost);
    // Lost no later than ttl - margin after the send of the last confirmed renewal (which
    // was sent before it was confirmed), so before the log could expire the lease.
    expect(lostAt - lastRenewal).toBeLessThanOrEqual(ttlMs - 200 + 50);
    expect(lostAt - silentAt).toBeLessThan(ttlMs);
    toy.stop();
  });

  test('a full seq window of application proposals on the same client does not hold up ' +
    'renewals: election commands have their own client id and window', async () => {
    const toy = new ToyLog(freshCluster());
    const a = await client(toy.cluster, 'app-a');
    const ttlMs = 1000;
    const lead = await a.elect('g', 'a', { ttlMs, marginMs: 200, renewEveryMs: 250 });
    let renewals = 0;
    lead.on('renewed', () => renewals++);
    // One application proposal that does not settle (its requests are lost) for 20 s...
    toy.drop = (c) => c.payload === 'stuck';
    const stuck = a.propose('stuck', { timeoutMs: 20_000 }).catch((e: unknown) => e);
    // ...and 1023 that do: the window is full, no new seq of the application may start.
    // (A long deadline each: 1023 at once can take a while on a loaded machine.)
    await Promise.all(Array.from({ length: 1023 }, (_, i) =>
      a.propose(`v${i}`, { timeoutMs: 15_000 })));
    const window = a.propose('one too many', { timeoutMs: 300 });
    await expect(window).rejects.toBeInstanceOf(SynodTimeoutError); // the window still holds
    const before = renewals;
    await new Promise((r) => setTimeout(r, 2 * ttlMs));
    expect(lead.lostReason).toBeNull();
    expect(lead.held).toBe(true);
    expect(renewals - before).toBeGreaterThanOrEqual(3);
    // Election commands carry the election's client id, the application's the client's own.
    const ids = (p: (x: string) => boolean): Set<string> => new Set([...toy.log.values()]
      .flatMap((e) => e.value.kind === 'cmds' ? e.value.cmds : [])
      .filter((c) => p(c.payload)).map((c) => c.clientId));
    const isElection = (x: string): boolean => x.startsWith('{"synod":"election"');
    expect(a.electionClientId).not.toBe(a.clientId);
    expect([...ids(isElection)]).toEqual([a.electionClientId]);
    expect([...ids((x) => !isElection(x))]).toEqual([a.clientId]);
    await lead.resign();
    await a.close();
    expect(await stuck).toBeInstanceOf(SynodAbortedError);
    toy.stop();
  });

  test('a leader whose clock jumps ahead expires the lease early in log time: the holder ' +
    'learns from the log that its term is over (the token still fences it)', async () => {
    const toy = new ToyLog(freshCluster());
    const [a, b] = await Promise.all([client(toy.cluster, 'app-a'),
      client(toy.cluster, 'app-b')]);
    const first = await a.elect('g', 'a', { ttlMs: 5000 });
    const lost = new Promise<SynodLeaseLostError>((resolve) => first.on('lost', resolve));
    toy.clockOffsetMs = 60_000; // the clock assumption is violated
    const second = await b.elect('g', 'b', { ttlMs: 5000 });
    expect(second.token).toBeGreaterThan(first.token);
    const e = await lost;
    expect(e.reason).toBe('superseded');
    expect(first.held).toBe(false);
    await second.resign();
    toy.stop();
  });

  test('a grant to someone else applied in the same page as this grant: leadership is lost ' +
    'at once, not at the deadline', async () => {
    const toy = new ToyLog(freshCluster());
    const a = await client(toy.cluster, 'app-a');
    // B's campaign lands right after A's, stamped a minute later (a proposer clock that jumped):
    // the log grants the group to B, and A's replica applies both entries together.
    toy.rider = {
      cmd: { clientId: 'app-b', seq: 1, payload: encodeElectionCommand(
        { op: 'campaign', group: 'g', candidate: 'b', ttlMs: 5000 }) },
      offsetMs: 60_000,
    };
    const lead = await a.elect('g', 'a', { ttlMs: 5000 });
    expect(lead.held).toBe(false);
    expect(lead.lostReason?.reason).toBe('superseded');
    expect(lead.signal.aborted).toBe(true);
    toy.stop();
  });

  test('observe after a pause: the first state is today\'s, not what the view saw before it ' +
    'stopped', async () => {
    const toy = new ToyLog(freshCluster());
    const [a, b] = await Promise.all([client(toy.cluster, 'app-a'),
      client(toy.cluster, 'app-b')]);
    const before = watchHolders(a, 'g');
    await until(() => before.seen.length > 0);
    expect(before.seen[0]).toMatchObject({ reason: 'current', holder: null });
    before.stop();
    await new Promise((r) => setTimeout(r, 50)); // a's view stops: nobody uses it
    const lead = await b.elect('g', 'b', { ttlMs: 5000 });
    const after = watchHolders(a, 'g');
    await until(() => after.seen.length > 0);
    expect(after.seen[0]).toMatchObject({ reason: 'current', holder: 'b', token: lead.token });
    after.stop();
    await lead.resign();
    toy.stop();
  });

  test('a machine suspended past the deadline (the monotonic clock stood still, the wall ' +
    'clock did not): held turns false at once on resume', async () => {
    const toy = new ToyLog(freshCluster());
    const a = await client(toy.cluster, 'app-a');
    const lead = await a.elect('g', 'a', { ttlMs: 5000 });
    expect(lead.held).toBe(true);
    const real = Date.now.bind(Date);
    const spy = jest.spyOn(Date, 'now').mockImplementation(() => real() + 60_000);
    try {
      expect(lead.held).toBe(false);
      expect(lead.lostReason?.reason).toBe('unconfirmed');
    } finally {
      spy.mockRestore();
    }
    toy.stop();
  });

  test('the signal aborts a campaign that is still waiting', async () => {
    const toy = new ToyLog(freshCluster());
    const [a, b] = await Promise.all([client(toy.cluster, 'app-a'),
      client(toy.cluster, 'app-b')]);
    const first = await a.elect('g', 'a', { ttlMs: 5000 });
    const ctl = new AbortController();
    const waiting = b.elect('g', 'b', { signal: ctl.signal });
    setTimeout(() => ctl.abort(), 200);
    await expect(waiting).rejects.toBeInstanceOf(SynodAbortedError);
    expect(first.held).toBe(true);
    await first.resign();
    toy.stop();
  });

  test('a grant confirmed after the lease would have run out is handed back, and the ' +
    'campaign goes on: elect never resolves with a lease that is already over', async () => {
    const toy = new ToyLog(freshCluster());
    const a = await client(toy.cluster, 'app-a');
    toy.delayNextMs = 800;
    const lead = await a.elect('slow', 'a', { ttlMs: 600 });
    // Slot 0: the late grant; slot 1: its release; slot 2: the grant it leads on.
    expect(lead.token).toBe(2);
    expect(lead.held).toBe(true);
    expect(lead.validForMs).toBeGreaterThan(0);
    const ops = [0, 1, 2].map((s) => {
      const v = toy.log.get(s)?.value;
      return v?.kind === 'cmds' ? (JSON.parse(v.cmds[0]?.payload ?? '{}') as { op: string }).op
        : null;
    });
    expect(ops).toEqual(['campaign', 'resign', 'campaign']);
    await lead.resign();
    toy.stop();
  });

  test('while no proposer answers, elect keeps campaigning and says why through onRetry; ' +
    'while no learner answers, the view says why in electionViewStatus', async () => {
    const toy = new ToyLog(freshCluster());
    const a = await client(toy.cluster, 'app-a');
    toy.silent = true;
    const retries: string[] = [];
    const electing = a.elect('quiet', 'a', { ttlMs: 2000,
      onRetry: (e) => retries.push(`${e.code}: ${e.message}`) });
    await until(() => retries.length >= 1, 8000);
    expect(retries[0]).toMatch(/^(OUTCOME_UNKNOWN|UNAVAILABLE|TIMEOUT): /);
    toy.silent = false;
    const lead = await electing;
    expect(lead.held).toBe(true);
    await lead.resign();
    toy.stop();

    // A cluster name nobody serves: the view cannot read the log.
    const b = await client(freshCluster(), 'app-b');
    const ctl = new AbortController();
    void (async () => {
      try {
        for await (const h of b.observe('g', { signal: ctl.signal })) void h;
      } catch {
        // aborted
      }
    })();
    await until(() => b.electionViewStatus()?.lastError != null, 8000);
    expect(b.electionViewStatus()).toMatchObject({ caughtUp: false,
      lastError: expect.stringMatching(/learner/) });
    ctl.abort();
  });

  test('bad names and timings are programmer errors', async () => {
    const toy = new ToyLog(freshCluster());
    const a = await client(toy.cluster, 'app-a');
    await expect(a.elect('a b', 'x')).rejects.toThrow(RangeError);
    await expect(a.elect('g', '')).rejects.toThrow(RangeError);
    await expect(a.elect('g', 'x', { ttlMs: 5 })).rejects.toThrow(RangeError);
    await expect(a.elect('g', 'x', { ttlMs: 1000, marginMs: 1000 })).rejects.toThrow(RangeError);
    expect(() => a.observe('')).toThrow(RangeError);
    toy.stop();
  });
});
