/**
 * Log compaction, rule by rule. Acceptors may forget the votes of a slot once it is decided
 * AND durably delivered by the learners, who then hold the only copy. The leader names that
 * point (`compactBelow`, the lowest of its decided prefix and of every live learner's delivery
 * point, less a margin); an acceptor that takes the leader's accept drops its votes below it
 * and reports the floor in later promises; a proposer never proposes below a floor it has
 * seen. Safety does not change: a slot below a floor is already decided, so no proposal there
 * could be needed.
 */
import { AcceptorCore, LearnerCore, type Message, PlantedBug } from '../src/index.js';
import {
  accept,
  bal,
  drain,
  electWith,
  entry,
  FakeStore,
  heartbeat,
  newProposer,
  ofType,
  only,
  prepare,
  request,
  cmd,
  val,
  votes,
} from './helpers.js';

const A3 = ['a1', 'a2', 'a3'];
const progress = (from: string, nextSlot: number): Message =>
  ({ type: 'progress', from, nextSlot });

describe('acceptor: compaction on the leader\'s word', () => {
  function withVotes(n: number): { a: AcceptorCore; store: FakeStore } {
    const a = new AcceptorCore({ id: 'a1' });
    const store = new FakeStore();
    for (let s = 0; s < n; s++) a.step(accept('p1', bal(1, 'p1'), s, val(`v${s}`)));
    store.apply(drain(a).persist);
    return { a, store };
  }

  test('an accept carrying compactBelow drops the votes below it, in the same persist', () => {
    const { a, store } = withVotes(10);
    a.step({ ...accept('p1', bal(1, 'p1'), 10, val('v10')), compactBelow: 6 });
    const r = drain(a);
    expect(r.persist?.compact).toEqual({ floor: 6, dropped: [0, 1, 2, 3, 4, 5] });
    expect(r.persist?.accepted.map((e) => e.slot)).toEqual([10]);
    expect(r.events).toContainEqual({ kind: 'compacted', floor: 6, dropped: 6 });
    store.apply(r.persist);
    expect(a.floor).toBe(6);
    expect(a.acceptedEntries().map((e) => e.slot)).toEqual([6, 7, 8, 9, 10]);
    // A restart from the store keeps the floor and nothing below it.
    const b = new AcceptorCore({ id: 'a1' }, store.state());
    expect(b.floor).toBe(6);
    expect(b.acceptedEntries().map((e) => e.slot)).toEqual([6, 7, 8, 9, 10]);
  });

  test('the floor never goes down, and a compaction to the same floor writes nothing', () => {
    const { a } = withVotes(10);
    a.step({ ...accept('p1', bal(1, 'p1'), 10, val('v10')), compactBelow: 6 });
    drain(a);
    a.step({ ...accept('p1', bal(1, 'p1'), 11, val('v11')), compactBelow: 3 });
    a.step({ ...accept('p1', bal(1, 'p1'), 12, val('v12')), compactBelow: 6 });
    expect(drain(a).persist?.compact).toBeUndefined();
    expect(a.floor).toBe(6);
  });

  test('an accept below the promise (refused) compacts nothing', () => {
    const { a } = withVotes(5);
    a.step(prepare('p2', bal(5, 'p2')));
    drain(a);
    a.step({ ...accept('p1', bal(1, 'p1'), 5, val('late')), compactBelow: 4 });
    const r = drain(a);
    expect(ofType(r.messages, 'nack')).toHaveLength(1);
    expect(r.persist).toBeNull();
    expect(a.floor).toBe(0);
  });

  test('a compaction point above the accept\'s own slot is refused: a leader never proposes ' +
    'below its own point', () => {
    const { a } = withVotes(5);
    a.step({ ...accept('p1', bal(1, 'p1'), 2, val('v2')), compactBelow: 4 });
    const r = drain(a);
    expect(r.persist?.compact).toBeUndefined();
    expect(r.events).toContainEqual({ kind: 'rejected', reason: 'bad-compact', detail: '4>2' });
    expect(a.floor).toBe(0);
  });

  test('an accept below the floor is ignored (no vote, no reply): the slot is decided', () => {
    const { a } = withVotes(10);
    a.step({ ...accept('p1', bal(1, 'p1'), 10, val('v10')), compactBelow: 6 });
    drain(a);
    a.step(accept('p1', bal(2, 'p1'), 3, val('again')));
    const r = drain(a);
    expect(r.messages).toEqual([]);
    expect(r.persist).toBeNull();
    expect(r.events).toEqual([{ kind: 'rejected', reason: 'compacted', detail: '3' }]);
  });

  test('a promise from below the floor says so and reports only the votes kept', () => {
    const { a } = withVotes(10);
    a.step({ ...accept('p1', bal(1, 'p1'), 10, val('v10')), compactBelow: 6 });
    drain(a);
    a.step(prepare('p2', bal(2, 'p2'), 2));
    const p = only(drain(a).messages, 'promise');
    expect(p.floor).toBe(6);
    expect(p.accepted.map((e) => e.slot)).toEqual([6, 7, 8, 9, 10]);
    a.step(prepare('p2', bal(3, 'p2'), 8));
    const q = only(drain(a).messages, 'promise');
    expect(q.floor).toBeUndefined();
    expect(q.accepted.map((e) => e.slot)).toEqual([8, 9, 10]);
  });

  test('planted promise-without-floor: the mutant leaves its floor out of its promises', () => {
    const a = new AcceptorCore({ id: 'a1', plantedBug: PlantedBug.PromiseWithoutFloor });
    for (let s = 0; s <= 10; s++) a.step(accept('p1', bal(1, 'p1'), s, val(`v${s}`)));
    a.step({ ...accept('p1', bal(1, 'p1'), 10, val('v10')), compactBelow: 6 });
    drain(a);
    a.step(prepare('p2', bal(2, 'p2'), 2));
    const p = only(drain(a).messages, 'promise');
    expect(p.floor).toBeUndefined();
    expect(p.accepted.map((e) => e.slot)).toEqual([6, 7, 8, 9, 10]);
  });
});

describe('leader: where it compacts', () => {
  /** A leader of A3 with slots 0..n-1 decided. */
  function leaderWithDecided(n: number, retainVotes: number) {
    const p = newProposer('p1', A3, { retainVotes, learnerTimeoutTicks: 10 });
    electWith(p, A3);
    for (let s = 0; s < n; s++) {
      p.step(request('c1', cmd('c1', s + 1)));
      const acc = ofType(drain(p).messages, 'accept');
      for (const m of acc) votes(p, A3, m.ballot, m.slot, m.value);
    }
    drain(p);
    return p;
  }

  test('no learner heard: no compaction point at all (nobody else holds the log)', () => {
    const p = leaderWithDecided(20, 0);
    for (let i = 0; i < 5; i++) p.tick();
    const r = drain(p);
    for (const m of [...ofType(r.messages, 'heartbeat'), ...ofType(r.messages, 'accept')]) {
      expect(m.compactBelow).toBeUndefined();
    }
  });

  test('the point is min(decided prefix, every learner\'s delivery point) - retainVotes', () => {
    const p = leaderWithDecided(20, 2);
    p.step(progress('l1', 15));
    p.step(progress('l2', 9));
    p.tick();
    p.tick();
    expect(only(drain(p).messages, 'heartbeat').compactBelow).toBe(7);
    p.step(progress('l2', 20));
    p.tick();
    p.tick();
    expect(only(drain(p).messages, 'heartbeat').compactBelow).toBe(13);
    // Learners ahead of the leader's decided prefix do not move it past the prefix.
    p.step(progress('l1', 50));
    p.step(progress('l2', 50));
    p.tick();
    p.tick();
    expect(only(drain(p).messages, 'heartbeat').compactBelow).toBe(18);
    // The next accept carries the point too.
    p.step(request('c1', cmd('c1', 99)));
    expect(only(drain(p).messages, 'accept').compactBelow).toBe(18);
  });

  test('a silent learner stops holding compaction back after learnerTimeoutTicks', () => {
    const p = leaderWithDecided(20, 0);
    p.step(progress('l1', 20));
    p.step(progress('l2', 4));
    p.tick();
    p.tick();
    expect(only(drain(p).messages, 'heartbeat').compactBelow).toBe(4);
    for (let i = 0; i < 12; i++) {
      p.step(progress('l1', 20));
      p.tick();
    }
    const hb = ofType(drain(p).messages, 'heartbeat');
    expect(hb[hb.length - 1]?.compactBelow).toBe(20);
  });
});

describe('proposer: a floor is decided ground', () => {
  test('a new leader never proposes below a reported floor and takes the prefix as known',
    () => {
      const p = newProposer('p1', A3);
      p.campaign();
      const prep = only(drain(p).messages, 'prepare');
      expect(prep.fromSlot).toBe(0);
      // a1 compacted below 5; a2 kept a vote at slot 3 (decided, since a1 compacted it).
      p.step({
        type: 'promise', from: 'a1', to: 'p1', ballot: prep.ballot, fromSlot: 0, floor: 5,
        accepted: [entry(6, bal(1, 'p9'), val('six'))],
      });
      p.step({
        type: 'promise', from: 'a2', to: 'p1', ballot: prep.ballot, fromSlot: 0,
        accepted: [entry(3, bal(1, 'p9'), val('three')), entry(6, bal(1, 'p9'), val('six'))],
      });
      const r = drain(p);
      expect(p.role).toBe('leader');
      const acc = ofType(r.messages, 'accept');
      expect(acc.map((m) => m.slot)).toEqual([5, 6]);
      expect(acc.find((m) => m.slot === 6)?.value).toEqual(val('six'));
      expect(p.firstUnknown).toBe(5);
      expect(r.events).toContainEqual({ kind: 'skipped', fromSlot: 0, toSlot: 5 });
    });

  test('a follower skips to the leader\'s compaction point from a heartbeat', () => {
    const p = newProposer('p2', A3);
    p.step({ ...heartbeat('p1', bal(1, 'p1'), 40), compactBelow: 30 });
    expect(p.firstUnknown).toBe(30);
    expect(ofType(drain(p).messages, 'catchup')).toEqual([]);
  });
});

describe('learner: reports its durable delivery point', () => {
  test('every progressTicks, with the first undelivered slot', () => {
    const l = new LearnerCore({ id: 'l1', acceptors: A3, progressTicks: 3 });
    l.step({ type: 'chosen', from: 'p1', ballot: bal(1, 'p1'), slot: 0, value: val('x') });
    drain(l);
    l.tick();
    l.tick();
    expect(ofType(drain(l).messages, 'progress')).toEqual([]);
    l.tick();
    expect(only(drain(l).messages, 'progress')).toEqual(
      { type: 'progress', from: 'l1', nextSlot: 1 });
  });
});
