import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type ClusterStatus, SynodClient } from '@synod/client';
import { type Ballot, compareMaybeBallots, describeBallot } from '@synod/protocol';
import { LocalCluster, runningLocalCluster } from '@synod/testing';

/** What `npm start` writes to .synod/cluster.json. */
interface ClusterInfo {
  cluster: string;
  natsUrl: string;
  services: Array<{ id: string; role: string; pid: number | null }>;
}

const root = resolve(__dirname, '../../..');
const t0 = Date.now();
/** Tags this run's values, so that a second demo on the same log counts only its own. */
const run = t0.toString(36);
const tty = process.stdout.isTTY === true;
const bold = (s: string): string => (tty ? `\x1b[1m${s}\x1b[0m` : s);

function say(what: string): void {
  const ms = String(Date.now() - t0).padStart(6);
  process.stdout.write(`${ms} ms  ${what}\n`);
}

function chapter(title: string): void {
  process.stdout.write(`\n${bold(`== ${title}`)}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The cluster of `npm start` when it runs (of `SYNOD_DATA_DIR` when set, as for the CLI), else
 * one of our own (stopped at the end).
 */
async function attach(): Promise<{ info: () => ClusterInfo; own: LocalCluster | null }> {
  const running = await runningLocalCluster(root);
  if (running !== null) {
    const read = (): ClusterInfo => JSON.parse(readFileSync(running.file, 'utf8')) as ClusterInfo;
    say(`using the cluster of \`npm start\` (${running.natsUrl}, ${running.file})`);
    return { info: read, own: null };
  }
  say('no running cluster found (`npm start`): starting one of our own for this demo');
  const dist = join(root, 'dist', 'apps');
  const own = await LocalCluster.start({
    mains: {
      acceptor: join(dist, 'acceptor/main.js'), proposer: join(dist, 'proposer/main.js'),
      learner: join(dist, 'learner/main.js'),
    },
    supervise: true,
  });
  const info = (): ClusterInfo => ({
    cluster: own.cluster, natsUrl: own.natsUrl,
    services: [...own.nodes.values()]
      .map((n) => ({ id: n.id, role: n.role, pid: n.proc?.pid ?? null })),
  });
  return { info, own };
}

function pidOf(info: ClusterInfo, id: string): number {
  const pid = info.services.find((s) => s.id === id)?.pid;
  if (pid === null || pid === undefined) throw new Error(`no process for ${id}`);
  return pid;
}

async function waitFor(cl: SynodClient, what: string, cond: (s: ClusterStatus) => boolean,
  timeoutMs = 15_000): Promise<ClusterStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await cl.status({ waitMs: 300 });
    if (cond(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

function rawBallotOf(s: ClusterStatus, id: string): Ballot | null {
  const svc = s.services.find((x) => x.id === id);
  const b = svc?.role === 'acceptor' ? svc['promised'] : svc?.['ballot'];
  return (b as Ballot | undefined) ?? null;
}

function ballotOf(s: ClusterStatus, id: string): string {
  return describeBallot(rawBallotOf(s, id));
}

async function story(info: () => ClusterInfo, cl: SynodClient): Promise<string[]> {
  const sent: string[] = [];
  chapter('1. Who leads?');
  let st = await waitFor(cl, 'a leader', (s) => s.leader !== null);
  const proposers = st.services.filter((s) => s.role === 'proposer').map((s) => s.id);
  const leader = st.leader as string;
  say(`proposers ${proposers.join(', ')}; ${leader} leads with ballot ${ballotOf(st, leader)}`);
  say(`acceptors answering: ${st.acceptorsAnswering.join(', ')} (voting: ${st.voting.join(', ')})`);

  chapter('2. Two proposers racing for leadership');
  const old = st.leader as string;
  say(`pausing ${old} (SIGSTOP): its heartbeats stop, the other proposers' election ` +
    'timers run out');
  process.kill(pidOf(info(), old), 'SIGSTOP');
  st = await waitFor(cl, 'a new leader', (s) => s.leader !== null && s.leader !== old);
  const winner = st.leader as string;
  say(`${winner} campaigned and won: ballot ${ballotOf(st, winner)}, above ${old}'s`);
  const during = await Promise.all([1, 2, 3].map((i) => cl.propose(`${run}-during-pause-${i}`)));
  sent.push(...during.map((_, i) => `${run}-during-pause-${i + 1}`));
  say(`3 values chosen under the new leader: slots ${during.map((p) => p.slot).join(', ')}`);
  process.kill(pidOf(info(), old), 'SIGCONT');
  say(`resuming ${old} (SIGCONT): it still believes it leads, with its old ballot...`);
  st = await waitFor(cl, `${old} to step down`, (s) =>
    s.services.some((x) => x.id === old && x['state'] === 'follower'));
  say(`...until a heartbeat or a nack shows it the higher ballot: ${old} is a follower again; ` +
    `one leader: ${st.leader}`);

  chapter('3. Many values at once');
  const values = Array.from({ length: 30 }, (_, i) => `${run}-value-${i}`);
  const chosen = await Promise.all(values.map((v) => cl.propose(v)));
  sent.push(...values);
  const slots = chosen.map((p) => p.slot).sort((a, b) => a - b);
  say(`30 concurrent proposals chosen in slots ${slots[0]}..${slots[slots.length - 1]}, ` +
    `${new Set(slots).size} distinct slots (commands that queue behind a full window share one)`);

  chapter('4. An acceptor is killed (kill -9) and comes back');
  const victim = st.acceptorsAnswering[1] ?? 'a2';
  const before = ballotOf(st, victim);
  const beforeRaw = rawBallotOf(st, victim);
  say(`${victim} has promised ${before}; killing it with SIGKILL`);
  process.kill(pidOf(info(), victim), 'SIGKILL');
  const without = await Promise.all([1, 2, 3, 4, 5]
    .map((i) => cl.propose(`${run}-without-${victim}-${i}`)));
  sent.push(...without.map((_, i) => `${run}-without-${victim}-${i + 1}`));
  say(`5 values chosen by the remaining majority: slots ${without.map((p) => p.slot).join(', ')}`);
  st = await waitFor(cl, `${victim} to come back`, (s) => s.voting.includes(victim), 20_000);
  say(`${victim} restarted from its Redis (AOF, fsync always): promise ${ballotOf(st, victim)} ` +
    `(was ${before}), voting again`);
  if (compareMaybeBallots(rawBallotOf(st, victim), beforeRaw) < 0) {
    throw new Error(`${victim}'s promise went back across the restart: ${before} -> ` +
      `${ballotOf(st, victim)} (a promise lost: Paxos is unsafe)`);
  }
  return sent;
}

async function verify(cl: SynodClient, sent: readonly string[]): Promise<boolean> {
  chapter('5. Every value chosen exactly once');
  const counts = new Map<string, number>();
  let next = 0;
  for (;;) {
    const r = await cl.readRange(next, 1000);
    for (const e of r.entries) {
      if (e.value.kind !== 'cmds') continue;
      e.value.cmds.forEach((c, i) => {
        if (e.dups?.includes(i) === true) return;
        counts.set(c.payload, (counts.get(c.payload) ?? 0) + 1);
      });
    }
    if (r.entries.length === 0 || next >= r.nextSlot) break;
    next = (r.entries[r.entries.length - 1]?.slot ?? next) + 1;
  }
  const missing = sent.filter((v) => counts.get(v) !== 1);
  say(`read the log back: ${sent.length - missing.length}/${sent.length} of this demo's values ` +
    `appear exactly once${missing.length === 0 ? '' : `; NOT: ${missing.join(', ')}`}`);
  return missing.length === 0;
}

async function main(): Promise<number> {
  process.stdout.write(
    bold('Synod demo: Paxos with a distinguished proposer, over NATS and Redis\n'));
  const { info, own } = await attach();
  // A paused (SIGSTOPped) leader still holds its NATS connection and its place in the client
  // queue group, so while it is paused about half the first attempts reach it and time out
  // (1 s); the retry goes to the leader-only subject, which the new leader answers. Before
  // the new leader is elected, every attempt times out; 15 s leaves room for a slow election
  // on a busy machine.
  const cl = await SynodClient.connect({
    servers: info().natsUrl, cluster: info().cluster, timeoutMs: 15_000,
  });
  try {
    const sent = await story(info, cl);
    const ok = await verify(cl, sent);
    process.stdout.write(`\n${ok ? 'The story holds.' : 'Something did not hold: see above.'}\n`);
    return ok ? 0 : 1;
  } finally {
    await cl.close();
    await own?.stop();
  }
}

main().then((code) => process.exit(code), (e: unknown) => {
  process.stderr.write(`demo: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
