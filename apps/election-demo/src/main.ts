import { type ChildProcess, fork } from 'node:child_process';
import { join, resolve } from 'node:path';
import { LocalCluster, runningLocalCluster } from '@synod/testing';
import { runInstance } from './instance.js';
import type { FromInstance, InstanceArgs, ToInstance } from './ipc.js';
import { ProtectedResource } from './resource.js';

/**
 * `npm run demo:election`: three application instances (separate processes) compete for the
 * lease of one group on the cluster of `npm start` (or on one of their own). The leader is
 * killed and another takes over; then a leader is frozen between its lease check and its
 * write (a GC pause), a third takes over, and when the frozen one wakes its write reaches the
 * protected resource with an old fencing token and is refused. Run as `main.js instance <json>`
 * it is one of those instances.
 */
const root = resolve(__dirname, '../../..');
const t0 = Date.now();
const tty = process.stdout.isTTY === true;
const paint = (code: string, s: string): string => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const COLORS: Record<string, string> = { 'app-1': '36', 'app-2': '35', 'app-3': '33' };
const TTL_MS = 3000;
const WRITE_EVERY_MS = 400;
const WAIT_MS = 30_000;

function say(who: string, what: string, at = Date.now()): void {
  const t = `+${((at - t0) / 1000).toFixed(3)}s`.padStart(9);
  process.stdout.write(`${t}  ${paint(COLORS[who] ?? '37', who.padEnd(9))} ${what}\n`);
}

function chapter(title: string): void {
  process.stdout.write(`\n${paint('1', `== ${title}`)}\n`);
}

/**
 * The cluster of `npm start` when it answers (of `SYNOD_DATA_DIR` when set, as for the CLI),
 * else one of our own (stopped at the end).
 */
async function attach(): Promise<{ natsUrl: string; cluster: string; own: LocalCluster | null }> {
  const info = await runningLocalCluster(root);
  if (info !== null) {
    say('demo', `using the cluster of \`npm start\` (${info.natsUrl}, cluster ${info.cluster})`);
    return { natsUrl: info.natsUrl, cluster: info.cluster, own: null };
  }
  say('demo', 'no running cluster found (`npm start`): starting one for this demo');
  const dist = join(root, 'dist', 'apps');
  const own = await LocalCluster.start({
    mains: {
      acceptor: join(dist, 'acceptor/main.js'), proposer: join(dist, 'proposer/main.js'),
      learner: join(dist, 'learner/main.js'),
    },
  });
  say('demo', `cluster up: NATS ${own.natsUrl}, 3 acceptors, 2 proposers, 1 learner`);
  return { natsUrl: own.natsUrl, cluster: own.cluster, own };
}

/** The three instances, the resource between them, and what happened, for the story. */
class Stage {
  readonly resource = new ProtectedResource();
  readonly children = new Map<string, ChildProcess>();
  readonly events: FromInstance[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(private readonly base: Omit<InstanceArgs, 'id'>) {}

  spawn(id: string): void {
    const args: InstanceArgs = { ...this.base, id };
    const child = fork(process.argv[1] ?? __filename, ['instance', JSON.stringify(args)], {
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    child.stderr?.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line !== '') say(id, `stderr: ${line}`);
    });
    child.on('message', (m: FromInstance) => this.onMessage(child, m));
    this.children.set(id, child);
    say(id, `started (pid ${child.pid})`);
  }

  send(id: string, m: ToInstance): void {
    this.children.get(id)?.send(m);
  }

  signal(id: string, sig: NodeJS.Signals): void {
    const pid = this.children.get(id)?.pid;
    if (pid !== undefined) process.kill(pid, sig);
  }

  /** Waits until an event satisfies `pred` (looking at past events first). */
  async waitFor<T extends FromInstance>(what: string, pred: (e: FromInstance) => e is T,
    since = 0): Promise<T> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const found = this.events.slice(since).find(pred);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.waiters.add(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Ends every instance still running (resuming a stopped one first), by PID. */
  stopAll(): void {
    for (const c of this.children.values()) {
      if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) continue;
      try {
        process.kill(c.pid, 'SIGCONT');
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }

  private onMessage(child: ChildProcess, m: FromInstance): void {
    this.events.push(m);
    this.report(m);
    if (m.ev === 'write') {
      const r = this.resource.write(m.id, m.token, m.n);
      const ok = r.accepted ? paint('32', 'accepted') : paint('31;1', 'REJECTED');
      const why = r.accepted ? '' : `: it has already accepted token ${r.highestBefore}, ` +
        `so token ${m.token} belongs to a leader that lost its lease`;
      say('resource', `write #${m.n} from ${m.id} with token ${m.token}: ${ok}${why}`);
      child.send({ cmd: 'write-result', n: m.n, accepted: r.accepted,
        highest: this.resource.highestToken } satisfies ToInstance);
    }
    for (const w of [...this.waiters]) w();
    this.waiters.clear();
  }

  private report(m: FromInstance): void {
    switch (m.ev) {
      case 'ready':
        return say(m.id, 'connected', m.at);
      case 'campaigning':
        return say(m.id, 'campaigning', m.at);
      case 'elected':
        return say(m.id, paint('1', `ELECTED, fencing token ${m.token}`) +
          ` (may lead for ${m.validForMs} ms unless renewed)`, m.at);
      case 'renewed':
        return say(m.id, `renewed (token ${m.token}, valid for ${m.validForMs} ms)`, m.at);
      case 'lost':
        return say(m.id, paint('1', `LOST leadership`) + ` (${m.reason}): ${m.message}`, m.at);
      case 'stalling':
        return say(m.id, `checked its lease (held), now freezing before its write (SIGSTOP)`,
          m.at);
      case 'write':
        return say(m.id, `writes #${m.n} with token ${m.token}` + (m.at - m.checkedAt > 500
          ? ` (lease checked ${((m.at - m.checkedAt) / 1000).toFixed(1)} s ago!)` : ''), m.at);
      case 'error':
        return say(m.id, `error: ${m.message}`, m.at);
    }
  }
}

const isElected = (e: FromInstance): e is Extract<FromInstance, { ev: 'elected' }> =>
  e.ev === 'elected';

/** Seconds since the start, for the timeline. */
const rel = (at: number): string => `${((at - t0) / 1000).toFixed(3)}s`;

/**
 * When an instance's leadership would have ended on its own clock: the time of its last
 * election or confirmed renewal of `token`, plus how long it was then still valid for.
 */
function leaseDeadline(events: readonly FromInstance[], id: string, token: number): number {
  let until = 0;
  for (const e of events) {
    if ((e.ev === 'elected' || e.ev === 'renewed') && e.id === id && e.token === token) {
      until = Math.max(until, e.at + e.validForMs);
    }
  }
  return until;
}

/** The story; returns the failed checks (none when the demo holds). */
async function story(stage: Stage): Promise<string[]> {
  const failed: string[] = [];
  const check = (ok: boolean, what: string): void => {
    say('check', `${ok ? paint('32', 'ok  ') : paint('31;1', 'FAIL')} ${what}`);
    if (!ok) failed.push(what);
  };
  chapter('1. Three instances campaign for one group');
  for (const id of ['app-1', 'app-2', 'app-3']) stage.spawn(id);
  const first = await stage.waitFor('a first leader', isElected);
  const acceptedBy = (id: string, token: number) =>
    (e: FromInstance): e is Extract<FromInstance, { ev: 'write' }> =>
      e.ev === 'write' && e.id === id && e.token === token &&
      stage.resource.writes.some((w) => w.writer === id && w.n === e.n && w.accepted);
  await stage.waitFor(`writes by ${first.id}`, acceptedBy(first.id, first.token));
  await new Promise((r) => setTimeout(r, 1200));

  chapter(`2. The leader (${first.id}) is killed (kill -9)`);
  const killedAt = Date.now();
  say('demo', `kill -9 ${first.id}: it stops renewing; the others wait for its lease to run ` +
    `out in log time (${TTL_MS} ms after its last renewal)`);
  stage.signal(first.id, 'SIGKILL');
  const mark = stage.events.length;
  const second = await stage.waitFor('a new leader', (e): e is Extract<FromInstance,
    { ev: 'elected' }> => isElected(e) && e.id !== first.id, mark);
  const takeover = second.at - killedAt;
  check(takeover <= TTL_MS + 1000, `${second.id} took over ${(takeover / 1000).toFixed(2)} s ` +
    `after the kill (lease ${TTL_MS / 1000} s, counted from ${first.id}'s last renewal)`);
  check(second.token > first.token, `tokens increase: ${first.token} < ${second.token}`);
  await stage.waitFor(`a write by ${second.id}`, acceptedBy(second.id, second.token));

  chapter(`3. ${second.id} freezes between its lease check and its write (a GC pause)`);
  stage.send(second.id, { cmd: 'stall-before-write' });
  await stage.waitFor('the stall', (e): e is FromInstance => e.ev === 'stalling' &&
    e.id === second.id);
  const mark2 = stage.events.length;
  const third = await stage.waitFor('a third leader', (e): e is Extract<FromInstance,
    { ev: 'elected' }> => isElected(e) && e.id !== second.id, mark2);
  check(third.token > second.token, `tokens increase: ${second.token} < ${third.token}`);
  const until = leaseDeadline(stage.events, second.id, second.token);
  check(until < third.at, `${second.id}'s own lease deadline (+${rel(until)}: last confirmed ` +
    `renewal + lease - margin) passed before ${third.id} was elected (+${rel(third.at)}): ` +
    `running, it would have stopped in time; frozen, only the token can stop its write`);
  await stage.waitFor(`a write by ${third.id}`, acceptedBy(third.id, third.token));
  say('demo', `SIGCONT ${second.id}: it wakes up believing it still leads, and its write ` +
    `goes out with token ${second.token}`);
  stage.signal(second.id, 'SIGCONT');
  const stale = await stage.waitFor(`the stale write of ${second.id}`,
    (e): e is Extract<FromInstance, { ev: 'write' }> => e.ev === 'write' &&
      e.id === second.id && e.token === second.token, mark2);
  await stage.waitFor(`${second.id} to learn it lost`, (e): e is FromInstance =>
    e.ev === 'lost' && e.id === second.id && e.token === second.token);
  const rec = stage.resource.writes.find((w) => w.writer === second.id && w.n === stale.n);
  check(rec?.accepted === false, `the resource refused the write with the old token ` +
    `${second.token} (it had accepted ${rec?.highestBefore ?? '?'})`);
  await new Promise((r) => setTimeout(r, 1000));

  chapter('Summary');
  const tokens = stage.events.filter(isElected).map((e) => e.token);
  check(tokens.every((t, i) => i === 0 || t > (tokens[i - 1] as number)),
    `fencing tokens in order of election: ${tokens.join(' < ')}`);
  const w = stage.resource.writes;
  say('resource', `${w.filter((x) => x.accepted).length} writes accepted, ` +
    `${w.filter((x) => !x.accepted).length} refused`);
  return failed;
}

async function driver(): Promise<number> {
  process.stdout.write(paint('1', 'Synod: leader election with leases and fencing tokens\n'));
  const { natsUrl, cluster, own } = await attach();
  const group = `demo-${t0.toString(36)}`;
  say('demo', `group ${group}, lease ${TTL_MS} ms; each leader writes every ` +
    `${WRITE_EVERY_MS} ms, always checking its lease first and sending its token`);
  const stage = new Stage({ group, natsUrl, cluster, ttlMs: TTL_MS,
    writeEveryMs: WRITE_EVERY_MS });
  const stop = (): void => stage.stopAll();
  process.on('exit', stop);
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(143));
  try {
    const failed = await story(stage);
    process.stdout.write(failed.length === 0
      ? `\nThe story holds: one leader at a time, tokens strictly increasing, and a write ` +
        `from a leader that lost its lease refused by its token.\n`
      : `\nSomething did not hold: ${failed.join('; ')}\n`);
    return failed.length === 0 ? 0 : 1;
  } finally {
    stop();
    await own?.stop();
  }
}

const mode = process.argv[2];
if (mode === 'instance') {
  runInstance(JSON.parse(process.argv[3] ?? '{}') as InstanceArgs).catch((e: unknown) => {
    process.send?.({ ev: 'error', id: 'instance', at: Date.now(),
      message: e instanceof Error ? e.message : String(e) } satisfies FromInstance);
    process.exit(1);
  });
} else {
  driver().then((code) => process.exit(code), (e: unknown) => {
    process.stderr.write(`demo:election: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
