/**
 * Leader election on real processes: a cluster (nats-server, redis-server per acceptor and
 * learner, the services), and application instances as separate OS processes (the instance of
 * `npm run demo:election`: it campaigns, then writes to a protected resource every 100 ms while
 * it holds the lease, each write carrying its fencing token). The test process plays the
 * resource, over the instances' IPC channels, and refuses writes with a token below the
 * highest it has accepted. Faults: the leader killed, the leader paused (SIGSTOP/SIGCONT) at an
 * arbitrary moment, the leader frozen between its lease check and its write.
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { SynodClient } from '@synod/client';
import {
  decodeElectionSnapshotReply,
  electionSnapshotSubject,
  encodeApi,
  ERROR_HEADER,
} from '@synod/codec';
import { ElectionMachine, type ElectionSnapshot, FencingGuard } from '@synod/election';
import type { LocalCluster } from '@synod/testing';
import { connectNats } from '@synod/transport-nats';
import { client, learnerLog, startCluster } from './harness.js';

const root = resolve(__dirname, '../../..');
const TTL_MS = 1500;
const WRITE_EVERY_MS = 100;

/** What an instance reports (the demo's IPC protocol, apps/election-demo/src/ipc.ts). */
type Ev =
  | { ev: 'ready' | 'campaigning'; id: string; at: number }
  | { ev: 'elected'; id: string; at: number; token: number; validForMs: number }
  | { ev: 'renewed'; id: string; at: number; token: number; validForMs: number }
  | { ev: 'lost'; id: string; at: number; token: number; reason: string; message: string }
  | { ev: 'stalling'; id: string; at: number; token: number }
  | { ev: 'write'; id: string; at: number; token: number; n: number; checkedAt: number }
  | { ev: 'error'; id: string; at: number; message: string };
type Elected = Extract<Ev, { ev: 'elected' }>;

interface Write {
  readonly id: string;
  readonly token: number;
  readonly accepted: boolean;
  /** When the resource received it (test process clock). */
  readonly at: number;
}

/** The instances of one test, and the protected resource they write to. */
class Apps {
  readonly events: Ev[] = [];
  readonly writes: Write[] = [];
  private readonly guard = new FencingGuard();
  private readonly procs = new Map<string, ChildProcess>();
  readonly group = `e2e-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6)}`;

  constructor(private readonly cluster: LocalCluster) {}

  spawn(id: string): void {
    const args = { id, group: this.group, natsUrl: this.cluster.natsUrl,
      cluster: this.cluster.cluster, ttlMs: TTL_MS, writeEveryMs: WRITE_EVERY_MS };
    const p = fork(join(root, 'dist/apps/election-demo/main.js'),
      ['instance', JSON.stringify(args)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    p.on('message', (m: Ev) => {
      this.events.push(m);
      if (m.ev !== 'write') return;
      const accepted = this.guard.admit(m.token);
      this.writes.push({ id: m.id, token: m.token, accepted, at: Date.now() });
      p.send({ cmd: 'write-result', n: m.n, accepted, highest: this.guard.highestToken });
    });
    this.procs.set(id, p);
  }

  signal(id: string, sig: NodeJS.Signals): void {
    const pid = this.procs.get(id)?.pid;
    if (pid !== undefined) process.kill(pid, sig);
  }

  send(id: string, m: object): void {
    this.procs.get(id)?.send(m);
  }

  async waitFor<T extends Ev>(what: string, pred: (e: Ev) => e is T, since = 0,
    timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(since).find(pred);
      if (found !== undefined) return found;
      const err = this.events.find((e) => e.ev === 'error');
      if (err !== undefined) throw new Error(`an instance failed: ${JSON.stringify(err)}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** A leader other than `not` elected after event index `since`. */
  elected(since: number, not?: string): Promise<Elected> {
    return this.waitFor('an election', (e): e is Elected => e.ev === 'elected' &&
      e.id !== not, since);
  }

  /** Waits for an accepted write by `id` with `token`. */
  async wrote(id: string, token: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!this.writes.some((w) => w.id === id && w.token === token && w.accepted)) {
      if (Date.now() > deadline) throw new Error(`no accepted write by ${id}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** When `id`'s leadership of `token` would end on its own clock (last confirmation). */
  deadline(id: string, token: number): number {
    let until = 0;
    for (const e of this.events) {
      if ((e.ev === 'elected' || e.ev === 'renewed') && e.id === id && e.token === token) {
        until = Math.max(until, e.at + e.validForMs);
      }
    }
    return until;
  }

  /** Ends every instance, by PID (resuming a stopped one first). */
  stop(): void {
    for (const p of this.procs.values()) {
      if (p.pid === undefined || p.exitCode !== null || p.signalCode !== null) continue;
      try {
        process.kill(p.pid, 'SIGCONT');
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}

describe('leader election on real processes', () => {
  let cluster: LocalCluster;
  let reader: SynodClient;
  let apps: Apps | null = null;

  beforeAll(async () => {
    execFileSync(process.execPath, [join(root, 'tools/build-apps.mjs'), 'election-demo'],
      { cwd: root, stdio: 'pipe' });
    cluster = await startCluster();
    reader = await client(cluster);
  });
  afterEach(() => {
    apps?.stop();
    apps = null;
  });
  afterAll(async () => {
    await reader?.close();
    await cluster?.stop();
  });

  /** The leader's stamp on the entry at `slot`: the log time of a grant. */
  async function stampOf(slot: number): Promise<number> {
    const e = await reader.read(slot);
    if (e === null || e.value.kind !== 'cmds' || e.value.stamp === undefined) {
      throw new Error(`slot ${slot} has no stamped value: ${JSON.stringify(e)}`);
    }
    return e.value.stamp;
  }

  test('the leader is killed (kill -9): another instance takes over within the lease ' +
    '(counted from its last renewal), with a higher token, and nobody else ever wrote meanwhile',
  async () => {
    const a = (apps = new Apps(cluster));
    for (const id of ['i1', 'i2', 'i3']) a.spawn(id);
    const first = await a.elected(0);
    await a.wrote(first.id, first.token);
    await new Promise((r) => setTimeout(r, 700));
    const mark = a.events.length;
    const killedAt = Date.now();
    a.signal(first.id, 'SIGKILL');
    const next = await a.elected(mark, first.id);
    expect(next.token).toBeGreaterThan(first.token);
    expect(next.at - killedAt).toBeLessThan(TTL_MS + 1000);
    // The grant came after the dead leader's lease, as the log measures it.
    expect(await stampOf(next.token)).toBeGreaterThanOrEqual(a.deadline(first.id, first.token));
    await a.wrote(next.id, next.token);
    // The learner applies the same state machine to the log it delivers: same holder, same token.
    const st = JSON.parse((await cluster.health('l1', '/status')).body) as {
      election: { leases: { group: string; holder: string; token: number }[]; stopped: unknown };
    };
    expect(st.election.stopped).toBeNull();
    expect(st.election.leases.find((l) => l.group === a.group))
      .toMatchObject({ holder: next.id, token: next.token });
    const tokens = a.events.filter((e): e is Elected => e.ev === 'elected').map((e) => e.token);
    expect([...tokens].sort((x, y) => x - y)).toEqual(tokens);
    expect(new Set(tokens).size).toBe(tokens.length);
    expect(a.writes.filter((w) => !w.accepted)).toEqual([]);
  });

  test('network pause of the leader (SIGSTOP, SIGCONT): its own lease deadline passes before ' +
    'the new grant, it learns it lost, and none of its writes is accepted after the new ' +
    'holder starts writing', async () => {
    const a = (apps = new Apps(cluster));
    for (const id of ['i1', 'i2']) a.spawn(id);
    const first = await a.elected(0);
    await a.wrote(first.id, first.token);
    await new Promise((r) => setTimeout(r, 500 + Math.random() * 400)); // an arbitrary moment
    const mark = a.events.length;
    a.signal(first.id, 'SIGSTOP');
    const next = await a.elected(mark, first.id);
    expect(next.token).toBeGreaterThan(first.token);
    const grantedAt = await stampOf(next.token);
    // The old leader, had it been running, would have stopped before the new grant existed.
    expect(a.deadline(first.id, first.token)).toBeLessThan(grantedAt);
    await a.wrote(next.id, next.token);
    const resumedMark = a.events.length;
    a.signal(first.id, 'SIGCONT');
    const lost = await a.waitFor('the old leader to learn it lost',
      (e): e is Extract<Ev, { ev: 'lost' }> => e.ev === 'lost' && e.id === first.id &&
        e.token === first.token, resumedMark);
    expect(['unconfirmed', 'superseded', 'refused']).toContain(lost.reason);
    await new Promise((r) => setTimeout(r, 500));
    const firstNew = a.writes.findIndex((w) => w.token === next.token && w.accepted);
    const late = a.writes.slice(firstNew).filter((w) => w.id === first.id && w.accepted);
    expect(late).toEqual([]);
  });

  test('the leader freezes between its lease check and its write: a third takes over, and ' +
    'the frozen write, sent on waking with the old token, is refused by the resource',
  async () => {
    const a = (apps = new Apps(cluster));
    for (const id of ['i1', 'i2']) a.spawn(id);
    const first = await a.elected(0);
    await a.wrote(first.id, first.token);
    a.send(first.id, { cmd: 'stall-before-write' });
    await a.waitFor('the stall', (e): e is Ev => e.ev === 'stalling' && e.id === first.id);
    const mark = a.events.length;
    const next = await a.elected(mark, first.id);
    await a.wrote(next.id, next.token);
    a.signal(first.id, 'SIGCONT');
    await a.waitFor('the stale write', (e): e is Ev => e.ev === 'write' && e.id === first.id &&
      e.token === first.token && a.events.indexOf(e) >= mark);
    await new Promise((r) => setTimeout(r, 200));
    const stale = a.writes.filter((w) => w.id === first.id).at(-1);
    expect(stale).toMatchObject({ token: first.token, accepted: false });
    await a.waitFor('the old leader to learn it lost', (e): e is Ev => e.ev === 'lost' &&
      e.id === first.id);
  });
  test('a new client\'s election view starts from the learner\'s snapshot, which is exactly ' +
    'the state a replay of the learner\'s log gives; a bad snapshot request is refused',
  async () => {
    // The tests above left elections in the log.
    const raw = await connectNats({ servers: cluster.natsUrl });
    try {
      const subject = electionSnapshotSubject(cluster.cluster);
      const reply = await raw.request(subject, encodeApi({}), { timeoutMs: 5000 });
      expect(reply.headers[ERROR_HEADER]).toBeUndefined();
      const r = decodeElectionSnapshotReply(reply.data);
      expect(r.learner).toBe('l1');
      const served = ElectionMachine.restore(r.snapshot as unknown as ElectionSnapshot);
      expect(served.stats.commands).toBeGreaterThan(10);
      const log = await learnerLog(cluster, 'l1');
      const replayed = new ElectionMachine();
      for (let s = 0; s < served.nextSlot; s++) {
        const v = log.get(s);
        if (v === undefined) throw new Error(`slot ${s} missing from l1's log`);
        replayed.apply(s, v);
      }
      expect(served.snapshot()).toEqual(replayed.snapshot());

      const bad = await raw.request(subject, new TextEncoder().encode('{"v":1,"x":1}'),
        { timeoutMs: 5000 });
      expect(bad.headers[ERROR_HEADER]).toBe('BAD_REQUEST');
    } finally {
      await raw.close();
    }
    const fresh = await client(cluster);
    try {
      const ctl = new AbortController();
      for await (const h of fresh.observe('nobody-campaigns-here', { signal: ctl.signal })) {
        expect(h).toMatchObject({ holder: null, reason: 'current' });
        const st = fresh.electionViewStatus();
        expect(st?.started).toMatchObject({ from: 'snapshot', learner: 'l1' });
        const from = st?.started?.from === 'snapshot' ? st.started.slot : -1;
        expect(from).toBeGreaterThan(10);
        // Only what was decided after the snapshot was applied from the log.
        expect(st?.applied).toBe((st?.nextSlot ?? 0) - from);
        ctl.abort();
      }
      // Outcomes after the snapshot: this client's own campaign, and what a second client
      // (also started from a snapshot) sees of it.
      const lead = await fresh.elect('after-snapshot', 'x1', { ttlMs: 5000 });
      expect(lead.token).toBeGreaterThan(10);
      const other = await client(cluster);
      try {
        const ctl2 = new AbortController();
        for await (const h of other.observe('after-snapshot', { signal: ctl2.signal })) {
          expect(h).toMatchObject({ holder: 'x1', token: lead.token, reason: 'current' });
          expect(other.electionViewStatus()?.started?.from).toBe('snapshot');
          ctl2.abort();
        }
      } finally {
        await other.close();
      }
      await lead.resign();
    } finally {
      await fresh.close();
    }
  });
});
