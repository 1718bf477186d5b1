/**
 * Paper tests: one test per claim of Lamport's "Paxos Made Simple" (2001), named after the
 * claim, driving the pure cores directly (step, tick, ready, advance). In the spirit of
 * etcd-io/raft's raft_paper_test.go.
 */
import {
  AcceptorCore,
  type Ballot,
  ballotEquals,
  compareBallots,
  describeBallot,
  LearnerCore,
  type Message,
  NOOP,
  type Value,
  valueEquals,
} from '../src/index.js';
import {
  ACCEPTORS3,
  ACCEPTORS5,
  accept,
  acceptedMsg,
  bal,
  chosenMsg,
  cmd,
  cmds,
  drain,
  elect,
  electWith,
  entry,
  newProposer,
  ofType,
  only,
  prepare,
  promise,
  raiseSeen,
  request,
  val,
  votes,
} from './helpers.js';

/** Every subset of `xs` with at least `min` elements. */
function subsets<T>(xs: readonly T[], min: number): T[][] {
  const out: T[][] = [];
  for (let mask = 0; mask < 1 << xs.length; mask++) {
    const s = xs.filter((_, i) => (mask & (1 << i)) !== 0);
    if (s.length >= min) out.push(s);
  }
  return out;
}

/** Steps `m` into each acceptor and returns their replies (Readies drained). */
function toAcceptors(m: Message, acceptors: readonly AcceptorCore[]): Message[] {
  const replies: Message[] = [];
  for (const a of acceptors) {
    a.step(m);
    replies.push(...drain(a).messages);
  }
  return replies;
}

/** The ballots at which a majority of `n` acceptors accepted in `slot`, judged from `history`. */
function chosenAt(history: readonly Message[], n: number, slot: number): Map<string, Value> {
  const voters = new Map<string, { value: Value; from: Set<string> }>();
  const chosen = new Map<string, Value>();
  for (const m of ofType(history, 'accepted')) {
    if (m.slot !== slot) continue;
    const key = describeBallot(m.ballot);
    const v = voters.get(key) ?? { value: m.value, from: new Set<string>() };
    v.from.add(m.from);
    voters.set(key, v);
    if (v.from.size > n / 2) chosen.set(key, v.value);
  }
  return chosen;
}

describe('Paxos Made Simple: choosing a value (acceptor)', () => {
  test('P1: an acceptor must accept the first proposal that it receives', () => {
    for (const b of [bal(0, 'p1'), bal(1, 'p1'), bal(7, 'p9')]) {
      for (const slot of [0, 3]) {
        const a = new AcceptorCore({ id: 'a1' });
        a.step(accept('p1', b, slot, val('v')));
        const r = drain(a);
        expect(r.messages).toEqual([acceptedMsg('a1', b, slot, val('v'))]);
        expect(a.acceptedAt(slot)).toEqual(entry(slot, b, val('v')));
      }
    }
  });

  test('P1a: an acceptor can accept a proposal numbered n iff it has not responded to a ' +
    'prepare request having a number greater than n', () => {
    const grid: Ballot[] = [];
    for (let round = 0; round <= 3; round++) for (const p of ['p1', 'p2']) grid.push(bal(round, p));
    for (const prepared of grid) {
      for (const n of grid) {
        const a = new AcceptorCore({ id: 'a1' });
        a.step(prepare(prepared.proposer, prepared));
        drain(a);
        a.step(accept(n.proposer, n, 0, val('v')));
        const r = drain(a);
        const respondedAbove = compareBallots(prepared, n) > 0;
        expect(ofType(r.messages, 'accepted')).toHaveLength(respondedAbove ? 0 : 1);
        expect(ofType(r.messages, 'nack')).toHaveLength(respondedAbove ? 1 : 0);
        expect(a.acceptedAt(0) !== undefined).toBe(!respondedAbove);
      }
    }
  });

  test('P1 (phase 1b): a prepare above every earlier one is answered with a promise carrying ' +
    'the highest-numbered proposal accepted', () => {
    const a = new AcceptorCore({ id: 'a1' });
    a.step(accept('p1', bal(1, 'p1'), 0, val('v1')));
    a.step(accept('p2', bal(2, 'p2'), 0, val('v2')));
    drain(a);
    a.step(prepare('p3', bal(3, 'p3')));
    const p = only(drain(a).messages, 'promise');
    expect(p).toEqual(promise('a1', 'p3', bal(3, 'p3'), [entry(0, bal(2, 'p2'), val('v2'))]));
  });

  test('promise rule: an acceptor that promised n nacks a prepare below n, naming its promise',
    () => {
      const a = new AcceptorCore({ id: 'a1' });
      a.step(prepare('p2', bal(5, 'p2')));
      drain(a);
      for (const low of [bal(4, 'p9'), bal(5, 'p1'), bal(0, 'p2')]) {
        a.step(prepare(low.proposer, low));
        const r = drain(a);
        expect(r.messages).toEqual([
          { type: 'nack', from: 'a1', to: low.proposer, ballot: low, promised: bal(5, 'p2'),
            slot: null },
        ]);
        expect(r.persist).toBeNull();
        expect(a.promised).toEqual(bal(5, 'p2'));
      }
    });

  test('promise rule: an acceptor that promised n nacks accept requests below n in any slot',
    () => {
      const a = new AcceptorCore({ id: 'a1' });
      a.step(accept('p1', bal(1, 'p1'), 2, val('old')));
      a.step(prepare('p2', bal(5, 'p2'), 10));
      drain(a);
      for (const slot of [0, 2, 10, 99]) {
        a.step(accept('p1', bal(4, 'p1'), slot, val('late')));
        const r = drain(a);
        expect(r.messages).toEqual([
          { type: 'nack', from: 'a1', to: 'p1', ballot: bal(4, 'p1'), promised: bal(5, 'p2'),
            slot },
        ]);
        expect(r.persist).toBeNull();
      }
      expect(a.acceptedEntries()).toEqual([entry(2, bal(1, 'p1'), val('old'))]);
    });
});

/**
 * The scenario behind P2: proposer p1 gets `v` chosen at slot 0 by quorum `q1`; then p2 (which
 * holds its own client command `w`) runs phase 1 with quorum `q2`, and its accepts reach `s2`;
 * then p3 runs phase 1 with quorum `q3` and its accepts reach everyone. Returns the history of
 * every acceptor reply and every accept request issued.
 */
function chooseThenCompete(
  ids: readonly string[], q1: readonly string[], q2: readonly string[], s2: readonly string[],
  q3: readonly string[],
): { history: Message[]; b1: Ballot } {
  const acceptors = new Map(ids.map((id) => [id, new AcceptorCore({ id })]));
  const pick = (q: readonly string[]): AcceptorCore[] =>
    q.map((id) => acceptors.get(id) as AcceptorCore);
  const history: Message[] = [];
  const p1 = newProposer('p1', ids);
  p1.step(request('c1', cmd('v', 1, 'v')));
  const lead1 = elect(p1, pick(q1));
  const acc1 = only(lead1.messages, 'accept');
  history.push(acc1, ...toAcceptors(acc1, pick(q1)));

  const runner = (id: string, q: readonly string[], reach: readonly string[]): void => {
    // Ids order ballots of equal round: p1 < p2 < p3, so each campaigns above the last.
    const p = newProposer(id, ids);
    p.step(request(`c-${id}`, cmd(`w-${id}`, 1, `w-${id}`)));
    const lead = elect(p, pick(q));
    for (const m of ofType(lead.messages, 'accept')) {
      history.push(m, ...toAcceptors(m, pick(reach)));
    }
  };
  runner('p2', q2, s2);
  runner('p3', q3, ids);
  return { history, b1: acc1.ballot };
}

describe('Paxos Made Simple: choosing a value (safety of the chosen value)', () => {
  const v = cmds(cmd('v', 1, 'v'));

  test('P2: if a proposal with value v is chosen, then every higher-numbered proposal that is ' +
    'chosen has value v', () => {
    for (const ids of [ACCEPTORS3, ACCEPTORS5]) {
      const majorities = subsets(ids, Math.floor(ids.length / 2) + 1);
      for (const q1 of majorities) {
        for (const q2 of majorities) {
          const { history } = chooseThenCompete(ids, q1, q2, ids, ids);
          const chosen = chosenAt(history, ids.length, 0);
          expect(chosen.size).toBeGreaterThanOrEqual(2); // p1's ballot, then p2's and p3's
          for (const value of chosen.values()) expect(valueEquals(value, v)).toBe(true);
        }
      }
    }
  });

  test('P2a: if a proposal with value v is chosen, then every higher-numbered proposal ' +
    'accepted by any acceptor has value v', () => {
    const majorities = subsets(ACCEPTORS3, 2);
    for (const q1 of majorities) {
      for (const q2 of majorities) {
        for (const s2 of subsets(ACCEPTORS3, 0)) {
          for (const q3 of majorities) {
            const { history, b1 } = chooseThenCompete(ACCEPTORS3, q1, q2, s2, q3);
            for (const m of ofType(history, 'accepted')) {
              if (m.slot === 0 && compareBallots(m.ballot, b1) > 0) expect(m.value).toEqual(v);
            }
          }
        }
      }
    }
  });

  test('P2b: if a proposal with value v is chosen, then every higher-numbered proposal ' +
    'issued by any proposer has value v', () => {
    const majorities = subsets(ACCEPTORS3, 2);
    for (const q1 of majorities) {
      for (const q2 of majorities) {
        for (const s2 of subsets(ACCEPTORS3, 0)) {
          for (const q3 of majorities) {
            const { history, b1 } = chooseThenCompete(ACCEPTORS3, q1, q2, s2, q3);
            const issued = ofType(history, 'accept').filter((m) => m.slot === 0);
            expect(issued.filter((m) => compareBallots(m.ballot, b1) > 0)).toHaveLength(2);
            for (const m of issued) expect(m.value).toEqual(v);
          }
        }
      }
    }
  });

  test('P2c: a proposer issues the value of the highest-numbered proposal among the ' +
    'responses of a majority', () => {
    const p = newProposer('p1', ACCEPTORS5);
    raiseSeen(p, bal(4, 'px'));
    p.step(request('c1', cmd('own', 1)));
    drain(p);
    const r = electWith(p, ['a1', 'a2', 'a3'], {
      a1: [entry(0, bal(1, 'x'), val('v1'))],
      a2: [entry(0, bal(3, 'y'), val('v3'))],
      a3: [entry(0, bal(3, 'x'), val('v3x'))],
    });
    expect(p.role).toBe('leader');
    const acc = ofType(r.messages, 'accept');
    expect(acc[0]).toEqual(accept('p1', p.ballot, 0, val('v3')));
    // Its own command goes to the next free slot instead.
    expect(acc[1]).toEqual(accept('p1', p.ballot, 1, cmds(cmd('own', 1))));
  });

  test('P2c: a proposer issues its own value when no acceptor of the majority has accepted ' +
    'any proposal', () => {
    const p = newProposer('p1', ACCEPTORS3);
    p.step(request('c1', cmd('own', 1)));
    drain(p);
    const r = electWith(p, ['a3', 'a1']);
    expect(ofType(r.messages, 'accept')).toEqual([accept('p1', p.ballot, 0, cmds(cmd('own', 1)))]);
  });

  test('P2c: a majority of responses is enough, and a response after it cannot change the ' +
    'value', () => {
    const p = newProposer('p1', ACCEPTORS3);
    p.step(request('c1', cmd('own', 1)));
    p.campaign();
    const b = only(drain(p).messages, 'prepare').ballot;
    p.step(promise('a1', 'p1', b, []));
    expect(p.role).toBe('candidate');
    expect(drain(p).messages).toEqual([]);
    p.step(promise('a2', 'p1', b, []));
    expect(p.role).toBe('leader');
    expect(only(drain(p).messages, 'accept').value).toEqual(cmds(cmd('own', 1)));
    p.step(promise('a3', 'p1', b, [entry(0, bal(0, 'px'), val('late'))]));
    expect(ofType(drain(p).messages, 'accept')).toEqual([]);
  });

  test('P2c: promises for another ballot, duplicates and unknown acceptors do not make a ' +
    'majority', () => {
    const p = newProposer('p1', ACCEPTORS3);
    p.campaign();
    const b = only(drain(p).messages, 'prepare').ballot;
    p.step(promise('a1', 'p1', b, []));
    p.step(promise('a1', 'p1', b, []));
    p.step(promise('intruder', 'p1', b, []));
    p.step(promise('a2', 'p1', bal(b.round - 1, 'p1'), []));
    expect(p.role).toBe('candidate');
  });
});

describe('Paxos Made Simple: learning a chosen value', () => {
  const lrn = (): LearnerCore => new LearnerCore({ id: 'l1', acceptors: ACCEPTORS5 });

  test('learner rule: a learner learns a value only when a majority of acceptors accepted it ' +
    'at one ballot', () => {
    const l = lrn();
    votes(l, ['a1', 'a2'], bal(1, 'p1'), 0, val('v'));
    expect(drain(l).committed).toEqual([]);
    votes(l, ['a5'], bal(1, 'p1'), 0, val('v'));
    expect(drain(l).committed).toEqual([{ slot: 0, value: val('v') }]);
  });

  test('learner rule: votes at different ballots do not add up, even for the same value', () => {
    const l = lrn();
    l.step(acceptedMsg('a1', bal(1, 'p1'), 0, val('v')));
    l.step(acceptedMsg('a2', bal(2, 'p2'), 0, val('v')));
    l.step(acceptedMsg('a3', bal(3, 'p1'), 0, val('v')));
    l.step(acceptedMsg('a4', bal(1, 'p2'), 0, val('v')));
    votes(l, ['a1', 'a2'], bal(1, 'p1'), 0, val('v')); // a1 again, then a2: 2 at (1,p1)
    expect(drain(l).committed).toEqual([]);
    l.step(acceptedMsg('a5', bal(1, 'p1'), 0, val('v')));
    expect(drain(l).committed).toEqual([{ slot: 0, value: val('v') }]);
  });

  test('learner rule: the same acceptor voting twice counts once', () => {
    const l = lrn();
    for (let i = 0; i < 5; i++) l.step(acceptedMsg('a1', bal(1, 'p1'), 0, val('v')));
    l.step(acceptedMsg('a2', bal(1, 'p1'), 0, val('v')));
    expect(drain(l).committed).toEqual([]);
  });

  test('distinguished learner: a learner learns a value from a proposer that saw a majority ' +
    'accept it', () => {
    const acceptors = ACCEPTORS3.map((id) => new AcceptorCore({ id }));
    const p = newProposer('p1', ACCEPTORS3);
    p.step(request('c1', cmd('c1', 1)));
    const acc = only(elect(p, acceptors).messages, 'accept');
    for (const m of toAcceptors(acc, acceptors.slice(0, 2))) p.step(m);
    const ch = only(drain(p).messages, 'chosen');
    expect(ch).toEqual(chosenMsg('p1', p.ballot, 0, cmds(cmd('c1', 1))));
    const l = new LearnerCore({ id: 'l1', acceptors: ACCEPTORS3 });
    l.step(ch);
    expect(drain(l).committed).toEqual([{ slot: 0, value: cmds(cmd('c1', 1)) }]);
  });
});

describe('Paxos Made Simple: Multi-Paxos (implementing a state machine)', () => {
  test('Multi-Paxos: one prepare covers every slot from fromSlot on', () => {
    const a = new AcceptorCore({ id: 'a1' });
    for (const slot of [1, 3, 10]) a.step(accept('p1', bal(1, 'p1'), slot, val(`s${slot}`)));
    drain(a);
    a.step(prepare('p2', bal(2, 'p2'), 3));
    const r = drain(a);
    expect(only(r.messages, 'promise').accepted).toEqual([
      entry(3, bal(1, 'p1'), val('s3')),
      entry(10, bal(1, 'p1'), val('s10')),
    ]);
    expect(r.persist).toEqual({ promised: bal(2, 'p2'), accepted: [] });
    for (const slot of [3, 10, 11, 500]) {
      a.step(accept('p2', bal(2, 'p2'), slot, val(`new${slot}`)));
      const ra = drain(a);
      expect(ofType(ra.messages, 'accepted')).toHaveLength(1);
      expect(ra.persist?.promised).toBeNull(); // no new promise needed
    }
    // ...and the promise holds in those slots against the older ballot.
    a.step(accept('p1', bal(1, 'p1'), 600, val('late')));
    expect(only(drain(a).messages, 'nack').slot).toBe(600);
  });

  test('Multi-Paxos: a leader skips phase 1 for new slots', () => {
    const acceptors = ACCEPTORS3.map((id) => new AcceptorCore({ id }));
    const p = newProposer('p1', ACCEPTORS3);
    elect(p, acceptors);
    for (let seq = 1; seq <= 5; seq++) {
      p.step(request('c1', cmd('c1', seq)));
      const out = drain(p).messages;
      expect(ofType(out, 'prepare')).toEqual([]);
      const acc = only(out, 'accept');
      expect(acc.slot).toBe(seq - 1);
      expect(acc.ballot).toEqual(p.ballot);
      const replies = toAcceptors(acc, acceptors);
      expect(ofType(replies, 'accepted')).toHaveLength(3);
      for (const m of replies) p.step(m);
      expect(drain(p).committed).toEqual([{ slot: seq - 1, value: cmds(cmd('c1', seq)) }]);
    }
  });

  test('Multi-Paxos: gaps are filled with no-ops', () => {
    const p = newProposer('p1', ACCEPTORS3);
    const r = electWith(p, ['a1', 'a2'], {
      a1: [entry(0, bal(0, 'px'), val('v0'))],
      a2: [entry(3, bal(0, 'py'), val('v3'))],
    });
    const acc = ofType(r.messages, 'accept').map((m) => [m.slot, m.value]);
    expect(acc).toEqual([[0, val('v0')], [1, NOOP], [2, NOOP], [3, val('v3')]]);
    p.step(request('c1', cmd('c1', 1)));
    expect(only(drain(p).messages, 'accept').slot).toBe(4);
  });

  test('Multi-Paxos: the new leader re-proposes, in each slot, the value of the highest ' +
    'ballot accepted there', () => {
    const p = newProposer('p1', ACCEPTORS5);
    raiseSeen(p, bal(9, 'px'));
    const r = electWith(p, ['a1', 'a2', 'a4'], {
      a1: [entry(0, bal(2, 'x'), val('0@2')), entry(1, bal(7, 'x'), val('1@7'))],
      a2: [entry(0, bal(5, 'x'), val('0@5')), entry(1, bal(3, 'y'), val('1@3')),
        entry(2, bal(1, 'z'), val('2@1'))],
      a4: [entry(0, bal(5, 'a'), val('0@5a')), entry(2, bal(8, 'y'), val('2@8'))],
    });
    const acc = ofType(r.messages, 'accept').map((m) => [m.slot, m.value]);
    expect(acc).toEqual([[0, val('0@5')], [1, val('1@7')], [2, val('2@8')]]);
    expect(ofType(r.messages, 'accept').every((m) => ballotEquals(m.ballot, p.ballot))).toBe(true);
  });

  test('Multi-Paxos: phase 1 starts at the first slot not known to be decided, and decided ' +
    'slots are not proposed again', () => {
    const p = newProposer('p1', ACCEPTORS3);
    for (const slot of [0, 1, 4]) p.step(chosenMsg('px', bal(1, 'px'), slot, val(`d${slot}`)));
    drain(p);
    p.campaign();
    const prep = only(drain(p).messages, 'prepare');
    expect(prep.fromSlot).toBe(2);
    for (const a of ['a1', 'a2']) {
      p.step(promise(a, 'p1', prep.ballot, [entry(4, bal(1, 'px'), val('d4'))], 2));
    }
    const acc = ofType(drain(p).messages, 'accept').map((m) => [m.slot, m.value]);
    expect(acc).toEqual([[2, NOOP], [3, NOOP]]);
  });

  test('proposal numbers: different proposers draw ballots from disjoint sets', () => {
    const p1 = newProposer('p1');
    const p2 = newProposer('p2');
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      for (const p of [p1, p2]) {
        p.campaign();
        const b = only(drain(p).messages, 'prepare').ballot;
        expect(b.proposer).toBe(p.id);
        const key = describeBallot(b);
        expect(seen.has(key)).toBe(false);
        seen.add(key);
      }
    }
  });

  test('progress: a leader that can talk to a majority gets its value chosen and learned',
    () => {
      const acceptors = ACCEPTORS5.map((id) => new AcceptorCore({ id }));
      const reachable = acceptors.slice(2); // a3, a4, a5
      const p = newProposer('p1', ACCEPTORS5);
      const l = new LearnerCore({ id: 'l1', acceptors: ACCEPTORS5 });
      p.step(request('c1', cmd('c1', 1)));
      const acc = only(elect(p, reachable).messages, 'accept');
      for (const m of toAcceptors(acc, reachable)) {
        p.step(m);
        l.step(m);
      }
      expect(p.decidedAt(0)).toEqual(cmds(cmd('c1', 1)));
      expect(drain(l).committed).toEqual([{ slot: 0, value: cmds(cmd('c1', 1)) }]);
    });
});
