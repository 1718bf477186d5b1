/**
 * P2, P2a and P2b as properties of whole runs: three acceptors, two proposers and a learner on
 * a tiny synchronous network whose schedule fast-check chooses (deliver, drop, duplicate,
 * reorder, ticks, campaigns, client requests and retries, acceptor and proposer restarts).
 * The checker judges "chosen" from the acceptors' votes alone and observes without steering.
 * Every planted bug of the cores must be caught by the same property.
 */
import * as fc from 'fast-check';
import {
  AcceptorCore,
  type Ballot,
  commandKey,
  compareBallots,
  describeBallot,
  describeValue,
  LearnerCore,
  type Message,
  PlantedBug,
  ProposerCore,
  quorumSize,
  Sfc32,
  type Value,
  valueEquals,
} from '../src/index.js';
import { ACCEPTORS3, cmd, fcParams, must, Net, ofType, request } from './helpers.js';

const PROPOSERS = ['p1', 'p2'] as const;
const CLIENTS = ['c1', 'c2', 'c3'] as const;

type SimAct =
  | { readonly k: 'deliver' | 'drop' | 'dup'; readonly i: number }
  | { readonly k: 'tick'; readonly who: number; readonly n: number }
  | { readonly k: 'campaign' | 'restartProposer'; readonly who: number }
  | {
    readonly k: 'request'; readonly who: number; readonly client: number; readonly fresh: boolean;
  }
  | { readonly k: 'restartAcceptor'; readonly who: number };

const who = (n: number): fc.Arbitrary<number> => fc.integer({ min: 0, max: n - 1 });
const actArb: fc.Arbitrary<SimAct> = fc.oneof(
  { weight: 14, arbitrary: fc.record({ k: fc.constant('deliver' as const), i: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('drop' as const), i: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('dup' as const), i: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({
    k: fc.constant('tick' as const), who: who(PROPOSERS.length), n: fc.integer({ min: 1, max: 6 }),
  }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('campaign' as const), who: who(2) }) },
  { weight: 3, arbitrary: fc.record({
    k: fc.constant('request' as const), who: who(PROPOSERS.length), client: who(CLIENTS.length),
    fresh: fc.boolean(),
  }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('restartAcceptor' as const), who: who(3) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('restartProposer' as const), who: who(2) }) },
);
const runArb = fc.array(actArb, { minLength: 10, maxLength: 120, size: 'max' });

class Sim {
  readonly net = new Net();
  readonly requested = new Set<string>();
  private readonly seqs = CLIENTS.map(() => 0);
  private incarnations = 0;

  constructor(private readonly bug: PlantedBug | undefined) {
    const withBug = bug === undefined ? {} : { plantedBug: bug };
    for (const id of ACCEPTORS3) this.net.addAcceptor(new AcceptorCore({ id, ...withBug }));
    for (const id of PROPOSERS) this.net.addProposer(this.proposer(id));
    this.net.addLearner(new LearnerCore({ id: 'l1', acceptors: ACCEPTORS3, ...withBug }));
  }

  private proposer(id: string): ProposerCore {
    return new ProposerCore({
      id, acceptors: ACCEPTORS3, rng: new Sfc32(this.incarnations + 1),
      incarnation: this.incarnations++, electionTicks: 8, heartbeatTicks: 2, retryTicks: 3,
      maxBatch: 2, maxInflight: 3, ...(this.bug === undefined ? {} : { plantedBug: this.bug }),
    });
  }

  apply(act: SimAct): void {
    const net = this.net;
    const pid = (i: number): string => PROPOSERS[i % PROPOSERS.length] as string;
    switch (act.k) {
      case 'deliver':
      case 'drop':
      case 'dup': {
        if (net.pool.length === 0) return;
        const at = act.i % net.pool.length;
        const e = net.pool[at];
        if (e === undefined) return;
        if (act.k !== 'dup') net.pool.splice(at, 1);
        if (act.k !== 'drop') net.deliver(e);
        return;
      }
      case 'tick': {
        const p = net.proposer(pid(act.who));
        for (let t = 0; t < act.n; t++) p.tick();
        net.learner('l1').tick();
        break;
      }
      case 'campaign':
        net.proposer(pid(act.who)).campaign();
        break;
      case 'request': {
        const client = CLIENTS[act.client] as string;
        if (act.fresh || this.seqs[act.client] === 0) {
          this.seqs[act.client] = (this.seqs[act.client] ?? 0) + 1;
        }
        const c = cmd(client, this.seqs[act.client] ?? 0);
        this.requested.add(commandKey(c));
        net.deliver({ to: pid(act.who), msg: request(client, c) });
        return;
      }
      case 'restartAcceptor':
        net.restartAcceptor(ACCEPTORS3[act.who] as string,
          this.bug === undefined ? {} : { plantedBug: this.bug });
        return;
      case 'restartProposer':
        net.addProposer(this.proposer(pid(act.who)));
        return;
    }
    net.collect();
  }
}

/** Throws unless P2, P2a, P2b, validity and integrity hold for the whole history. */
function checkRun(sim: Sim): void {
  const { history, committed, decisions } = sim.net;
  const q = quorumSize(ACCEPTORS3.length);
  const voters = new Map<string, Set<string>>();
  const chosen = new Map<number, { ballot: Ballot; value: Value; at: number }[]>();
  history.forEach((m, at) => {
    if (m.type !== 'accepted') return;
    const key = `${m.slot}/${describeBallot(m.ballot)}`;
    const set = voters.get(key) ?? new Set<string>();
    voters.set(key, set);
    set.add(m.from);
    if (set.size !== q) return;
    const list = chosen.get(m.slot) ?? [];
    chosen.set(m.slot, list);
    list.push({ ballot: m.ballot, value: m.value, at });
  });
  const show = (v: Value): string => describeValue(v);
  for (const [slot, list] of chosen) {
    const first = [...list].sort((a, b) => compareBallots(a.ballot, b.ballot))[0] as
      { ballot: Ballot; value: Value };
    const v = first.value;
    for (const c of list) {
      must(valueEquals(c.value, v), () => `P2 slot ${slot}: chosen ${show(v)} at ` +
        `${describeBallot(first.ballot)} and ${show(c.value)} at ${describeBallot(c.ballot)}`);
    }
    const later = (m: Message & { slot: number; ballot: Ballot }): boolean =>
      m.slot === slot && compareBallots(m.ballot, first.ballot) > 0;
    for (const m of ofType(history, 'accepted').filter(later)) {
      must(valueEquals(m.value, v), () => `P2a slot ${slot}: ${m.from} accepted ${show(m.value)}` +
        ` at ${describeBallot(m.ballot)} after ${show(v)} was chosen`);
    }
    for (const m of ofType(history, 'accept').filter(later)) {
      must(valueEquals(m.value, v), () => `P2b slot ${slot}: ${m.from} issued ${show(m.value)}` +
        ` at ${describeBallot(m.ballot)} after ${show(v)} was chosen`);
    }
    if (v.kind === 'cmds') {
      for (const c of v.cmds) {
        must(sim.requested.has(commandKey(c)), () => `validity: ${commandKey(c)} never requested`);
      }
    }
  }
  // Integrity: a decision is made only once its value is chosen (judged from votes sent).
  for (const d of decisions) {
    const c = chosen.get(d.slot)?.[0];
    must(c !== undefined && c.at < d.at && valueEquals(c.value, d.value),
      () => `integrity: ${d.node} decided ${show(d.value)} at slot ${d.slot} when ` +
        (c === undefined || c.at >= d.at ? 'nothing was chosen' : `${show(c.value)} was`));
  }
  // Every acknowledged command is in the value chosen for its acknowledged slot.
  history.forEach((m, at) => {
    if (m.type !== 'response' || m.outcome.status !== 'chosen') return;
    const slot = m.outcome.slot;
    const c = chosen.get(slot)?.[0];
    must(c !== undefined && c.at < at && c.value.kind === 'cmds' &&
      c.value.cmds.some((x) => x.clientId === m.clientId && x.seq === m.seq),
    () => `ack: ${m.from} told ${m.to} ${m.clientId}#${m.seq} is at slot ${slot}, which holds ` +
      `${c === undefined || c.at >= at ? 'nothing chosen' : show(c.value)}`);
  });
  const learned = committed.get('l1') ?? [];
  learned.forEach((d, i) => must(d.slot === i, () => `learner delivered slot ${d.slot} as #${i}`));
}

function property(bug: PlantedBug | undefined): fc.IProperty<[SimAct[]]> {
  return fc.property(runArb, (acts) => {
    const sim = new Sim(bug);
    for (const act of acts) sim.apply(act);
    // Let what is in flight land, so that late votes are judged too.
    sim.net.run(() => false, 2_000);
    checkRun(sim);
  });
}

describe('property: agreement over whole runs (3 acceptors, 2 proposers, 1 learner)', () => {
  test('P2, P2a, P2b, validity and integrity hold under arbitrary schedules and restarts', () => {
    fc.assert(property(undefined), fcParams());
  });

  test('runs make progress: most schedules choose something', () => {
    const stats = fc.sample(runArb, { numRuns: 300, seed: 7 }).map((acts) => {
      const sim = new Sim(undefined);
      for (const act of acts) sim.apply(act);
      sim.net.run(() => false, 2_000);
      return (sim.net.committed.get('l1') ?? []).length;
    });
    expect(stats.filter((n) => n > 0).length).toBeGreaterThan(150);
  });

  const mutants: PlantedBug[] = [
    PlantedBug.AcceptBelowPromise,
    PlantedBug.IgnoreHighestAccepted,
    PlantedBug.MinorityQuorum,
    PlantedBug.SharedBallot,
    PlantedBug.LearnerAcrossBallots,
    PlantedBug.InventValue,
  ];
  test.each(mutants)('planted %s: caught by the same property', (bug) => {
    const r = fc.check(property(bug), fcParams());
    expect(r.failed).toBe(true);
  });
});
