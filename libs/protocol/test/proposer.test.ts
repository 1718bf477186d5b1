/**
 * ProposerCore: leader election, stepping down, heartbeats, forwarding, dedupe, overload,
 * batching, pipelining and retransmission.
 */
import {
  AcceptorCore, type Message, NOOP, type ProposerCore, type Value,
} from '../src/index.js';
import {
  accept,
  ACCEPTORS3,
  ACCEPTORS5,
  acceptedMsg,
  bal,
  chosenMsg,
  cmd,
  cmds,
  drain,
  electWith,
  entry,
  heartbeat,
  nack,
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

/** Ticks `p` until it sends a prepare; returns the number of ticks (or -1 after `max`). */
function ticksToPrepare(p: ProposerCore, max: number): number {
  for (let t = 1; t <= max; t++) {
    p.tick();
    if (ofType(drain(p).messages, 'prepare').length > 0) return t;
  }
  return -1;
}

/** A leader elected by a1 and a2 with nothing to recover (its first Ready is drained). */
function leader(overrides: Parameters<typeof newProposer>[2] = {}): ProposerCore {
  const p = newProposer('p1', ACCEPTORS3, overrides);
  electWith(p, ['a1', 'a2']);
  expect(p.role).toBe('leader');
  return p;
}

/** The accepts in `ms` as [slot, value] pairs. */
function accepts(ms: readonly Message[]): [number, Value][] {
  return ofType(ms, 'accept').map((m) => [m.slot, m.value]);
}

/** Decides `slot` at `p`'s ballot with votes from a1 and a2. */
function decide(p: ProposerCore, slot: number, v: Value): void {
  votes(p, ['a1', 'a2'], p.ballot, slot, v);
}

describe('ProposerCore: leader election', () => {
  test('a follower campaigns after a randomized timeout in [electionTicks, 2*electionTicks)',
    () => {
      const seen = new Set<number>();
      for (let seed = 1; seed <= 40; seed++) {
        const p = newProposer('p1', ACCEPTORS3, { electionTicks: 10 }, seed);
        const t = ticksToPrepare(p, 40);
        expect(t).toBeGreaterThanOrEqual(10);
        expect(t).toBeLessThan(20);
        expect(p.role).toBe('candidate');
        seen.add(t);
      }
      expect(seen.size).toBeGreaterThan(3); // timeouts are spread, so candidates rarely duel
    });

  test('the same seed gives the same election timeout', () => {
    const a = ticksToPrepare(newProposer('p1', ACCEPTORS3, {}, 7), 100);
    const b = ticksToPrepare(newProposer('p1', ACCEPTORS3, {}, 7), 100);
    expect(a).toBe(b);
  });

  test('a candidate with a quorum of promises becomes leader and announces itself', () => {
    const p = newProposer('p1', ACCEPTORS3, { electionTicks: 5 });
    expect(ticksToPrepare(p, 20)).toBeGreaterThan(0);
    const b = p.ballot;
    p.step(promise('a1', 'p1', b, []));
    p.step(promise('a3', 'p1', b, []));
    const r = drain(p);
    expect(p.role).toBe('leader');
    expect(p.leader).toBe('p1');
    expect(r.events).toContainEqual({ kind: 'leader-elected', ballot: b, nextSlot: 0 });
    expect(only(r.messages, 'heartbeat')).toEqual(heartbeat('p1', b, 0));
  });

  test('a candidate resends its prepare after retryTicks and starts a higher ballot after ' +
    'its election timeout', () => {
    const p = newProposer('p1', ACCEPTORS3, { electionTicks: 10, retryTicks: 3 });
    p.campaign();
    const first = only(drain(p).messages, 'prepare');
    p.tick();
    p.tick();
    expect(drain(p).messages).toEqual([]);
    p.tick();
    expect(only(drain(p).messages, 'prepare')).toEqual(first);
    // The election timer restarted at the campaign: a new ballot comes within 2*electionTicks.
    let ticks = 3;
    let next = first;
    while (next.ballot.round === first.ballot.round && ticks < 40) {
      p.tick();
      ticks++;
      for (const m of ofType(drain(p).messages, 'prepare')) next = m;
    }
    expect(ticks).toBeGreaterThanOrEqual(10);
    expect(ticks).toBeLessThan(20);
    expect(next.ballot.round).toBe(first.ballot.round + 1);
    expect(p.role).toBe('candidate');
  });

  test('a campaign goes above every ballot the proposer has seen', () => {
    const p = newProposer('p1');
    raiseSeen(p, bal(41, 'p9'));
    p.campaign();
    expect(only(drain(p).messages, 'prepare').ballot.round).toBe(42);
  });
});

describe('ProposerCore: stepping down', () => {
  test('a leader steps down on a nack with a higher ballot and defers to its owner', () => {
    const p = leader();
    p.step(request('c1', cmd('c1', 1)));
    drain(p);
    const mine = p.ballot;
    p.step(nack('a2', 'p1', mine, bal(mine.round + 3, 'p7'), 0));
    const r = drain(p);
    expect(p.role).toBe('follower');
    expect(p.leader).toBe('p7');
    expect(p.inflightCount).toBe(0);
    expect(r.events).toContainEqual(
      { kind: 'preempted', ballot: mine, by: bal(mine.round + 3, 'p7') });
    p.campaign();
    expect(only(drain(p).messages, 'prepare').ballot.round).toBe(mine.round + 4);
  });

  test('a candidate steps down on a nack of its prepare', () => {
    const p = newProposer('p1');
    p.campaign();
    const b = only(drain(p).messages, 'prepare').ballot;
    p.step(nack('a1', 'p1', b, bal(b.round, 'p9'), null));
    expect(p.role).toBe('follower');
  });

  test('a nack for an older ballot of ours is ignored', () => {
    const p = newProposer('p1');
    p.campaign();
    const old = only(drain(p).messages, 'prepare').ballot;
    p.campaign();
    drain(p);
    p.step(nack('a1', 'p1', old, bal(old.round + 1, 'p0'), null));
    expect(p.role).toBe('candidate');
  });

  test('a leader steps down on a heartbeat or an accepted vote with a higher ballot', () => {
    const p1 = leader();
    p1.step(heartbeat('p9', bal(p1.ballot.round + 1, 'p9')));
    expect(p1.role).toBe('follower');
    expect(p1.leader).toBe('p9');
    const p2 = leader();
    p2.step(acceptedMsg('a3', bal(p2.ballot.round + 1, 'p9'), 0, val('x')));
    expect(p2.role).toBe('follower');
  });

  test('a leader ignores heartbeats with lower ballots', () => {
    const p = leader();
    p.step(heartbeat('p0', bal(0, 'p0')));
    expect(p.role).toBe('leader');
  });
});

describe('ProposerCore: heartbeats', () => {
  test('a leader sends a heartbeat every heartbeatTicks with chosenUpTo', () => {
    const p = leader({ heartbeatTicks: 3 });
    p.step(request('c1', cmd('c1', 1)));
    decide(p, 0, cmds(cmd('c1', 1)));
    drain(p);
    const hbs: Message[] = [];
    for (let i = 0; i < 9; i++) {
      p.tick();
      hbs.push(...ofType(drain(p).messages, 'heartbeat'));
    }
    expect(hbs).toEqual([1, 2, 3].map(() => heartbeat('p1', p.ballot, 1)));
  });

  test('heartbeats from a live leader suppress elections; silence starts one', () => {
    const p = newProposer('p1', ACCEPTORS3, { electionTicks: 10 });
    for (let t = 1; t <= 300; t++) {
      if (t % 5 === 0) p.step(heartbeat('p2', bal(3, 'p2')));
      p.tick();
      expect(ofType(drain(p).messages, 'prepare')).toEqual([]);
    }
    expect(p.role).toBe('follower');
    expect(p.leader).toBe('p2');
    const t = ticksToPrepare(p, 40);
    expect(t).toBeGreaterThan(0);
    expect(t).toBeLessThan(20);
    expect(p.ballot.round).toBe(4);
  });

  test('heartbeats with a ballot below one already seen do not suppress elections', () => {
    const p = newProposer('p1', ACCEPTORS3, { electionTicks: 10 });
    p.step(heartbeat('p2', bal(5, 'p2')));
    let prepared = false;
    for (let t = 1; t <= 20 && !prepared; t++) {
      p.step(heartbeat('p3', bal(4, 'p3')));
      p.tick();
      prepared = ofType(drain(p).messages, 'prepare').length > 0;
    }
    expect(prepared).toBe(true);
  });
});

describe('ProposerCore: a follower below the acceptors\' floor', () => {
  test('a new leader\'s heartbeats carry the floor its promises reported, so a follower ' +
    'that lags below it skips there at once', () => {
    const p = newProposer('p1');
    p.campaign();
    const prep = only(drain(p).messages, 'prepare');
    for (const a of ['a1', 'a2']) p.step({ ...promise(a, 'p1', prep.ballot, []), floor: 40 });
    const r = drain(p);
    expect(p.role).toBe('leader');
    expect(p.firstUnknown).toBe(40);
    const hb = ofType(r.messages, 'heartbeat').at(-1) ?? (() => {
      for (let t = 0; t < 50; t++) p.tick();
      return only(drain(p).messages, 'heartbeat');
    })();
    expect(hb.compactBelow).toBe(40);
    const f = newProposer('p2');
    f.step(hb);
    drain(f);
    expect(f.firstUnknown).toBe(40);
  });
});

describe('ProposerCore: clients', () => {
  test('a follower forwards requests to the known leader and relays its answer', () => {
    const p = newProposer('p1');
    p.step(heartbeat('p2', bal(1, 'p2')));
    drain(p);
    p.step(request('c1', cmd('c1', 1)));
    expect(drain(p).messages).toEqual([request('p1', cmd('c1', 1), 'p2')]);
    const answer = {
      type: 'response', from: 'p2', to: 'p1', clientId: 'c1', seq: 1,
      outcome: { status: 'chosen', slot: 4 },
    } as const;
    p.step(answer);
    expect(drain(p).messages).toEqual([{ ...answer, from: 'p1', to: 'c1' }]);
  });

  test('requests queued while no leader is known are forwarded once one is heard of', () => {
    const p = newProposer('p1');
    p.step(request('c1', cmd('c1', 1)));
    p.step(request('c2', cmd('c2', 1)));
    expect(drain(p).messages).toEqual([]);
    expect(p.pendingCount).toBe(2);
    p.step(heartbeat('p2', bal(1, 'p2')));
    expect(drain(p).messages).toEqual([
      request('p1', cmd('c1', 1), 'p2'), request('p1', cmd('c2', 1), 'p2'),
    ]);
    expect(p.pendingCount).toBe(0);
  });

  test('a forwarded request that reaches a non-leader is redirected, never forwarded twice',
    () => {
      const p = newProposer('p1');
      p.step(heartbeat('p3', bal(1, 'p3')));
      drain(p);
      p.step(request('p2', cmd('c1', 1), 'p1'));
      expect(drain(p).messages).toEqual([{
        type: 'response', from: 'p1', to: 'p2', clientId: 'c1', seq: 1,
        outcome: { status: 'redirect', leader: 'p3' },
      }]);
    });

  test('dedupe: a retried request after its decision is answered with the original slot, ' +
    'without a new proposal', () => {
    const p = leader();
    p.step(request('c1', cmd('c1', 1)));
    p.step(request('c2', cmd('c2', 1)));
    expect(accepts(drain(p).messages).map(([s]) => s)).toEqual([0, 1]);
    decide(p, 1, cmds(cmd('c2', 1)));
    // Slot 1 is final only once slot 0 is known: no answer before that.
    expect(ofType(drain(p).messages, 'response')).toEqual([]);
    decide(p, 0, cmds(cmd('c1', 1)));
    expect(ofType(drain(p).messages, 'response').filter((m) => m.to === 'c2')).toEqual([{
      type: 'response', from: 'p1', to: 'c2', clientId: 'c2', seq: 1,
      outcome: { status: 'chosen', slot: 1 },
    }]);
    p.step(request('c2', cmd('c2', 1)));
    const r = drain(p);
    expect(ofType(r.messages, 'accept')).toEqual([]);
    expect(r.messages).toEqual([{
      type: 'response', from: 'p1', to: 'c2', clientId: 'c2', seq: 1,
      outcome: { status: 'chosen', slot: 1 },
    }]);
  });

  test('dedupe: a retry while the command is in flight waits for the same slot', () => {
    const p = leader();
    p.step(request('c1', cmd('c1', 1)));
    drain(p);
    p.step(request('c1', cmd('c1', 1)));
    p.step(request('p2', cmd('c1', 1), 'p1')); // the same retry, forwarded by p2
    expect(drain(p).messages).toEqual([]);
    decide(p, 0, cmds(cmd('c1', 1)));
    const to = ofType(drain(p).messages, 'response').map((m) => [m.to, m.outcome]);
    expect(to).toEqual([
      ['c1', { status: 'chosen', slot: 0 }], ['p2', { status: 'chosen', slot: 0 }],
    ]);
  });

  test('conflict: a request reusing a decided (clientId, seq) with another payload is told ' +
    'conflict at once and proposes nothing', () => {
    const p = leader();
    p.step(request('c1', cmd('c1', 1, 'first')));
    drain(p);
    decide(p, 0, cmds(cmd('c1', 1, 'first')));
    drain(p);
    p.step(request('c1', cmd('c1', 1, 'different')));
    const r = drain(p);
    expect(ofType(r.messages, 'accept')).toEqual([]);
    expect(r.messages).toEqual([{
      type: 'response', from: 'p1', to: 'c1', clientId: 'c1', seq: 1,
      outcome: { status: 'conflict', slot: 0 },
    }]);
    // The same payload again is an honest retry: chosen.
    p.step(request('c1', cmd('c1', 1, 'first')));
    expect(ofType(drain(p).messages, 'response').map((m) => m.outcome))
      .toEqual([{ status: 'chosen', slot: 0 }]);
  });

  test('conflict: two payloads under one (clientId, seq) in flight together: the one not ' +
    'chosen is told conflict when the slot is decided', () => {
    const p = leader();
    p.step(request('c1', cmd('c1', 1, 'first')));
    drain(p);
    p.step(request('p2', cmd('c1', 1, 'second'), 'p1')); // forwarded by p2, another payload
    expect(drain(p).messages).toEqual([]);
    decide(p, 0, cmds(cmd('c1', 1, 'first')));
    const to = ofType(drain(p).messages, 'response').map((m) => [m.to, m.outcome]);
    expect(to).toEqual([
      ['c1', { status: 'chosen', slot: 0 }], ['p2', { status: 'conflict', slot: 0 }],
    ]);
  });

  test('conflict only once the slot is the copy that counts: a lower slot still undecided may ' +
    'hold the retried payload', () => {
    const p = leader();
    p.step(request('c9', cmd('c9', 1)));
    p.step(request('c1', cmd('c1', 1, 'first')));
    drain(p);
    // Slot 1 decided first, holding another payload under c1#1 (e.g. a stale forwarded copy);
    // slot 0 not decided yet.
    decide(p, 1, cmds(cmd('c1', 1, 'other')));
    drain(p);
    p.step(request('c1', cmd('c1', 1, 'first')));
    expect(ofType(drain(p).messages, 'response')).toEqual([]);
    decide(p, 0, cmds(cmd('c9', 1), cmd('c1', 1, 'first')));
    expect(ofType(drain(p).messages, 'response').filter((m) => m.to === 'c1')
      .map((m) => m.outcome)).toEqual([{ status: 'chosen', slot: 0 }]);
  });

  test('conflict: one sender relaying both payloads of one id is told chosen (the honest one ' +
    'was)', () => {
    const p = leader();
    p.step(request('p2', cmd('c1', 1, 'first'), 'p1'));
    p.step(request('p2', cmd('c1', 1, 'second'), 'p1'));
    drain(p);
    decide(p, 0, cmds(cmd('c1', 1, 'first')));
    expect(ofType(drain(p).messages, 'response').map((m) => [m.to, m.outcome]))
      .toEqual([['p2', { status: 'chosen', slot: 0 }]]);
  });

  test('dedupe: a follower that learned the decision answers a retry itself', () => {
    const p = newProposer('p1');
    p.step(heartbeat('p2', bal(1, 'p2')));
    votes(p, ['a1', 'a3'], bal(1, 'p2'), 3, cmds(cmd('c1', 1), cmd('c9', 9)));
    for (const slot of [0, 1, 2]) votes(p, ['a1', 'a3'], bal(1, 'p2'), slot, { kind: 'noop' });
    drain(p);
    p.step(request('c9', cmd('c9', 9)));
    expect(drain(p).messages).toEqual([{
      type: 'response', from: 'p1', to: 'c9', clientId: 'c9', seq: 9,
      outcome: { status: 'chosen', slot: 3 },
    }]);
  });

  test('dedupe: a command decided in two slots is answered with the lower slot, ' +
    'whatever the order decisions were learned in', () => {
    const p = newProposer('p1');
    const c = cmd('c1', 1);
    p.step(chosenMsg('p2', bal(2, 'p2'), 7, cmds(c)));
    p.step(chosenMsg('p3', bal(1, 'p3'), 5, cmds(c)));
    for (const slot of [0, 1, 2, 3, 4, 6]) {
      p.step(chosenMsg('p2', bal(2, 'p2'), slot, { kind: 'noop' }));
    }
    drain(p);
    p.step(request('c1', c));
    expect(only(drain(p).messages, 'response').outcome).toEqual({ status: 'chosen', slot: 5 });
  });

  test('overloaded: a request past maxPending is refused with a typed outcome', () => {
    const p = leader({ maxPending: 2, maxInflight: 1, maxBatch: 1 });
    for (let seq = 1; seq <= 3; seq++) p.step(request('c1', cmd('c1', seq)));
    expect(accepts(drain(p).messages)).toEqual([[0, cmds(cmd('c1', 1))]]);
    expect(p.pendingCount).toBe(2);
    p.step(request('c4', cmd('c4', 1)));
    expect(drain(p).messages).toEqual([{
      type: 'response', from: 'p1', to: 'c4', clientId: 'c4', seq: 1,
      outcome: { status: 'overloaded' },
    }]);
    expect(p.pendingCount).toBe(2);
    decide(p, 0, cmds(cmd('c1', 1)));
    drain(p);
    p.step(request('c4', cmd('c4', 1)));
    expect(ofType(drain(p).messages, 'response')).toEqual([]);
    expect(p.pendingCount).toBe(2);
  });

  test('overloaded: a request whose payload would take the queue past maxPendingChars is ' +
    'refused; the room comes back as the queue drains', () => {
    const p = leader({ maxPendingChars: 25, maxInflight: 1, maxBatch: 1 });
    p.step(request('c1', cmd('c1', 1, 'x'.repeat(10)))); // proposed at once: not queued
    p.step(request('c1', cmd('c1', 2, 'x'.repeat(10))));
    p.step(request('c1', cmd('c1', 3, 'x'.repeat(10))));
    drain(p);
    expect(p.pendingCount).toBe(2);
    p.step(request('c4', cmd('c4', 1, 'y'.repeat(6)))); // 20 + 6 > 25
    expect(only(drain(p).messages, 'response').outcome).toEqual({ status: 'overloaded' });
    p.step(request('c5', cmd('c5', 1, 'z'.repeat(5)))); // 20 + 5 fits
    expect(ofType(drain(p).messages, 'response')).toEqual([]);
    expect(p.pendingCount).toBe(3);
    decide(p, 0, cmds(cmd('c1', 1, 'x'.repeat(10)))); // slot 1 takes c1#2 off the queue
    drain(p);
    p.step(request('c4', cmd('c4', 1, 'y'.repeat(6)))); // 15 + 6 fits now
    expect(ofType(drain(p).messages, 'response')).toEqual([]);
    expect(p.pendingCount).toBe(3);
  });

  test('overloaded: a follower with maxPending requests awaiting the leader refuses more', () => {
    const p = newProposer('p1', ACCEPTORS3, { maxPending: 2 });
    p.step(heartbeat('p2', bal(1, 'p2')));
    for (let seq = 1; seq <= 3; seq++) p.step(request('c1', cmd('c1', seq)));
    const r = drain(p);
    expect(ofType(r.messages, 'request')).toHaveLength(2);
    expect(ofType(r.messages, 'response').map((m) => m.outcome))
      .toEqual([{ status: 'overloaded' }]);
  });
});

describe('ProposerCore: phase 2 pipeline', () => {
  test('batching: up to maxBatch queued commands go into one slot', () => {
    const p = newProposer('p1', ACCEPTORS3, { maxBatch: 3 });
    for (let seq = 1; seq <= 7; seq++) p.step(request('c1', cmd('c1', seq)));
    const r = electWith(p, ['a1', 'a2']);
    const c = (seq: number): ReturnType<typeof cmd> => cmd('c1', seq);
    expect(accepts(r.messages)).toEqual([
      [0, cmds(c(1), c(2), c(3))], [1, cmds(c(4), c(5), c(6))], [2, cmds(c(7))],
    ]);
  });

  test('batching: commands that arrive while the window is full share the next slot', () => {
    const p = leader({ maxBatch: 3, maxInflight: 1 });
    for (let seq = 1; seq <= 5; seq++) p.step(request('c1', cmd('c1', seq)));
    expect(accepts(drain(p).messages)).toEqual([[0, cmds(cmd('c1', 1))]]);
    decide(p, 0, cmds(cmd('c1', 1)));
    expect(accepts(drain(p).messages)).toEqual([
      [1, cmds(cmd('c1', 2), cmd('c1', 3), cmd('c1', 4))],
    ]);
    expect(p.pendingCount).toBe(1);
  });

  test('stepMany: commands that arrive together fill slots together, not one slot each', () => {
    const c = (seq: number): ReturnType<typeof cmd> => cmd('c1', seq);
    const apart = leader({ maxBatch: 4, maxInflight: 3 });
    for (let seq = 1; seq <= 6; seq++) apart.step(request('c1', c(seq)));
    // Stepped one by one, each of the first three takes a free slot alone.
    expect(accepts(drain(apart).messages)).toEqual([
      [0, cmds(c(1))], [1, cmds(c(2))], [2, cmds(c(3))],
    ]);
    const together = leader({ maxBatch: 4, maxInflight: 3 });
    together.stepMany([1, 2, 3, 4, 5, 6].map((seq) => request('c1', c(seq))));
    expect(accepts(drain(together).messages)).toEqual([
      [0, cmds(c(1), c(2), c(3), c(4))], [1, cmds(c(5), c(6))],
    ]);
    // Nothing else differs: a duplicate is still answered from the queue, and proposing
    // resumes for single steps afterwards.
    together.stepMany([request('c1', c(6)), request('c1', c(7))]);
    expect(accepts(drain(together).messages)).toEqual([[2, cmds(c(7))]]);
    expect(together.pendingCount).toBe(0);
  });

  test('stepMany on a follower forwards each command to the leader, as step does', () => {
    const p = newProposer('p2', ACCEPTORS3);
    p.step(heartbeat('p1', bal(1, 'p1'), 0));
    drain(p);
    p.stepMany([request('c1', cmd('c1', 1)), request('c2', cmd('c2', 1))]);
    const fwd = ofType(drain(p).messages, 'request');
    expect(fwd.map((m) => [m.to, m.cmd.clientId])).toEqual([['p1', 'c1'], ['p1', 'c2']]);
  });

  test('retained decided slots are bounded by their commands and payload characters too, ' +
    'not only by their number', () => {
    const c = (seq: number, payload?: string): ReturnType<typeof cmd> => cmd('c1', seq, payload);
    const p = leader({ maxBatch: 4, maxInflight: 1, retainDecided: 1000,
      retainDecidedCommands: 10, retainDecidedChars: 1000 });
    let seq = 0;
    for (let slot = 0; slot < 6; slot++) {
      const v = cmds(c(++seq), c(++seq), c(++seq), c(++seq));
      decide(p, slot, v);
      drain(p);
    }
    // 6 slots of 4 commands, at most 10 commands kept: slots 0..3 are gone, 4 and 5 remain.
    // A retry of a dropped command is proposed again (the log's Deduplicator skips the copy);
    // a retained one is answered from memory.
    p.step(request('c1', c(1)));
    expect(accepts(drain(p).messages)).toEqual([[6, cmds(c(1))]]);
    p.step(request('c1', c(24)));
    const r = drain(p).messages;
    expect(accepts(r)).toEqual([]);
    expect(ofType(r, 'response').map((m) => m.outcome)).toEqual([{ status: 'chosen', slot: 5 }]);
    // By characters: two 600-character commands cannot both stay under 1000. The older value
    // goes (a catch-up no longer gets it from here), but its dedupe entry stays: a retry is
    // still answered with its first slot instead of being proposed again.
    const q = leader({ maxBatch: 1, maxInflight: 1, retainDecidedChars: 1000,
      retainDecidedCommands: 3 });
    decide(q, 0, cmds(c(1, 'x'.repeat(600))));
    drain(q);
    decide(q, 1, cmds(c(2, 'y'.repeat(600))));
    drain(q);
    q.step({ type: 'catchup', from: 'l1', fromSlot: 0, toSlot: 1 });
    expect(ofType(drain(q).messages, 'chosen').map((m) => m.slot)).toEqual([1]);
    q.step(request('c1', c(1, 'x'.repeat(600))));
    q.step(request('c1', c(2, 'y'.repeat(600))));
    const both = drain(q).messages;
    expect(accepts(both)).toEqual([]);
    expect(ofType(both, 'response').map((m) => m.outcome))
      .toEqual([{ status: 'chosen', slot: 0 }, { status: 'chosen', slot: 1 }]);
    // The command bound counts those kept keys too: two more slots push slot 0 out entirely.
    decide(q, 2, cmds(c(3, 'z')));
    decide(q, 3, cmds(c(4, 'w')));
    drain(q);
    q.step(request('c1', c(1, 'x'.repeat(600))));
    expect(accepts(drain(q).messages).map(([sl]) => sl)).toEqual([4]);
  });

  test('a candidate that learned (and dropped) decided slots during its election does not ' +
    'propose them again as leader', () => {
    const p = newProposer('p2', ACCEPTORS3, { maxInflight: 4, retainDecidedCommands: 2 });
    p.campaign();
    const prep = only(drain(p).messages, 'prepare');
    const old = bal(1, 'p1');
    const v = (i: number): Value => cmds(cmd('c1', i + 1));
    // The old leader's decisions reach it while it campaigns: slots 0..5, of which only the
    // last two stay retained (two commands at most).
    for (let slot = 0; slot < 6; slot++) p.step(chosenMsg('p1', old, slot, v(slot)));
    expect(p.firstUnknown).toBe(6);
    drain(p);
    const entries = Array.from({ length: 6 }, (_, slot) => entry(slot, old, v(slot)));
    for (const a of ['a1', 'a2']) {
      p.step(promise(a, 'p2', prep.ballot, entries, prep.fromSlot));
    }
    expect(p.role).toBe('leader');
    expect(accepts(drain(p).messages)).toEqual([]);
    expect(p.inflightCount).toBe(0);
    p.step(request('c9', cmd('c9', 1)));
    expect(accepts(drain(p).messages)).toEqual([[6, cmds(cmd('c9', 1))]]);
  });

  test('pipelining: up to maxInflight slots are in phase 2 at once', () => {
    const p = leader({ maxBatch: 1, maxInflight: 3 });
    for (let seq = 1; seq <= 5; seq++) p.step(request('c1', cmd('c1', seq)));
    expect(accepts(drain(p).messages).map(([s]) => s)).toEqual([0, 1, 2]);
    expect(p.inflightCount).toBe(3);
    expect(p.pendingCount).toBe(2);
    decide(p, 1, cmds(cmd('c1', 2))); // out of order: the window still moves
    expect(accepts(drain(p).messages)).toEqual([[3, cmds(cmd('c1', 4))]]);
    decide(p, 0, cmds(cmd('c1', 1)));
    expect(accepts(drain(p).messages)).toEqual([[4, cmds(cmd('c1', 5))]]);
    expect(p.firstUnknown).toBe(2);
  });

  test('retransmission: an unanswered accept is sent again after retryTicks', () => {
    const p = leader({ retryTicks: 4, heartbeatTicks: 100, electionTicks: 200 });
    p.step(request('c1', cmd('c1', 1)));
    p.step(request('c2', cmd('c2', 1)));
    const sent = ofType(drain(p).messages, 'accept');
    for (let i = 0; i < 3; i++) {
      p.tick();
      expect(ofType(drain(p).messages, 'accept')).toEqual([]);
    }
    p.tick();
    expect(ofType(drain(p).messages, 'accept')).toEqual(sent);
    decide(p, 0, cmds(cmd('c1', 1)));
    drain(p);
    for (let i = 0; i < 3; i++) p.tick();
    expect(ofType(drain(p).messages, 'accept')).toEqual([]);
    p.tick();
    expect(ofType(drain(p).messages, 'accept')).toEqual([sent[1]]);
  });

  test('a leader that sees a quorum announces the decision to learners (MsgChosen)', () => {
    const p = leader();
    p.step(request('c1', cmd('c1', 1)));
    drain(p);
    decide(p, 0, cmds(cmd('c1', 1)));
    const r = drain(p);
    expect(only(r.messages, 'chosen')).toEqual(chosenMsg('p1', p.ballot, 0, cmds(cmd('c1', 1))));
    expect(r.committed).toEqual([{ slot: 0, value: cmds(cmd('c1', 1)) }]);
  });

  test('a command displaced from its slot by another decision is proposed again', () => {
    const p = leader();
    p.step(request('c1', cmd('c1', 1)));
    drain(p);
    p.step(chosenMsg('p0', bal(0, 'p0'), 0, val('other')));
    expect(accepts(drain(p).messages)).toEqual([[1, cmds(cmd('c1', 1))]]);
  });

  test('a new leader fills recovered gaps before new commands and never reuses a decided slot',
    () => {
      const p = newProposer('p1', ACCEPTORS3);
      p.step(chosenMsg('px', bal(1, 'px'), 0, val('d0')));
      p.step(request('c1', cmd('c1', 1)));
      drain(p);
      const r = electWith(p, ['a1', 'a2'], { a2: [entry(2, bal(1, 'px'), val('x'))] });
      expect(accepts(r.messages)).toEqual([[1, NOOP], [2, val('x')], [3, cmds(cmd('c1', 1))]]);
    });

  test('catch-up is served from the decided log', () => {
    const p = newProposer('p1');
    for (const slot of [0, 1, 3]) votes(p, ['a1', 'a2'], bal(1, 'p2'), slot, val(`v${slot}`));
    drain(p);
    p.step({ type: 'catchup', from: 'l1', fromSlot: 1, toSlot: 5 });
    const r = drain(p);
    expect(r.messages).toEqual([
      { ...chosenMsg('p1', bal(1, 'p2'), 1, val('v1')), to: 'l1' },
      { ...chosenMsg('p1', bal(1, 'p2'), 3, val('v3')), to: 'l1' },
    ]);
  });
});

describe('ProposerCore: recovering decided slots it no longer retains', () => {
  /** A leader that decided slots 0..4 (values v0..v4) and retains only the last one. */
  function forgetful(): ProposerCore {
    const p = leader({ retainDecided: 1, retainDecidedCommands: 1 });
    for (let slot = 0; slot < 5; slot++) {
      p.step(request('c1', cmd('c1', slot + 1, `v${slot}`)));
      drain(p);
      decide(p, slot, cmds(cmd('c1', slot + 1, `v${slot}`)));
      drain(p);
    }
    expect(p.firstUnknown).toBe(5);
    expect(p.decidedAt(0)).toBeUndefined();
    return p;
  }
  const v = (slot: number): Value => cmds(cmd('c1', slot + 1, `v${slot}`));
  const catchup = (fromSlot: number, from = 'l1'): Message =>
    ({ type: 'catchup', from, fromSlot, toSlot: 10 });
  /** A report for the recovery that `prep` started (the acceptor echoes its number). */
  const report = (prep: { recovery?: number }, from: string, p: ProposerCore,
    entries: ReturnType<typeof entry>[], fromSlot: number,
    extra: { upTo?: number; floor?: number } = {}): Message =>
    ({ ...promise(from, 'p1', p.ballot, entries, fromSlot), ...extra,
      ...(prep.recovery === undefined ? {} : { recovery: prep.recovery }) });

  test('a catch-up for a slot it dropped makes the leader ask a quorum again at its own ' +
    'ballot, and answer the highest-ballot vote of each slot the quorum covers', () => {
    const p = forgetful();
    p.step(catchup(1));
    const prep = only(drain(p).messages, 'prepare');
    expect(prep).toEqual({
      type: 'prepare', from: 'p1', ballot: p.ballot, fromSlot: 1, recovery: 1,
    });
    // Votes split across ballots: a1 holds slot 1 at an old ballot, a3 at the leader's.
    const old = bal(0, 'p0');
    p.step(report(prep, 'a1', p, [entry(1, old, v(1)), entry(2, p.ballot, v(2))], 1));
    expect(drain(p).messages).toEqual([]);
    p.step(report(prep, 'a3', p, [entry(1, p.ballot, v(1)), entry(3, old, v(3))], 1));
    const answers = ofType(drain(p).messages, 'chosen');
    expect(answers.map((m) => [m.to, m.slot, m.value, m.ballot])).toEqual([
      ['l1', 1, v(1), p.ballot], ['l1', 2, v(2), p.ballot], ['l1', 3, v(3), old],
    ]);
    // Still the leader of the same ballot; nothing was proposed or persisted.
    expect(p.role).toBe('leader');
    expect(p.recoveredSlots).toBe(3);
  });

  test('only slots every report covers: not below a reported floor, not past a page end, ' +
    'nothing past the reports', () => {
    const p = forgetful();
    p.step(catchup(0));
    const prep = only(drain(p).messages, 'prepare');
    p.step(report(prep, 'a1', p, [entry(1, p.ballot, v(1)), entry(2, p.ballot, v(2)),
      entry(3, p.ballot, v(3))], 0, { upTo: 3 }));
    p.step(report(prep, 'a2', p, [entry(2, p.ballot, v(2)), entry(6, p.ballot, val('x'))], 0,
      { floor: 2 }));
    const answers = ofType(drain(p).messages, 'chosen');
    // Slot 0 and 1 lie below a2's floor (compacted there); slot 3 past a1's page.
    expect(answers.map((m) => m.slot)).toEqual([2]);
  });

  test('no recovery when the slot is retained, when it is not yet decided, below the ' +
    'compaction point, from a follower, or while one is under way; a stale one expires', () => {
    const p = forgetful();
    p.step(catchup(4));
    expect(ofType(drain(p).messages, 'prepare')).toEqual([]);
    p.step(catchup(7));
    expect(ofType(drain(p).messages, 'prepare')).toEqual([]);
    p.step(catchup(1));
    expect(ofType(drain(p).messages, 'prepare')).toHaveLength(1);
    p.step(catchup(2, 'l2'));
    expect(ofType(drain(p).messages, 'prepare')).toEqual([]);
    for (let t = 0; t < 4; t++) p.tick();
    drain(p);
    p.step(catchup(2, 'l2'));
    expect(ofType(drain(p).messages, 'prepare').map((m) => m.fromSlot)).toEqual([2]);
    // A promise for another fromSlot, from a non-acceptor, without the recovery's number or
    // with an older one counts for nothing.
    const nonce = { recovery: 2 };
    p.step(report(nonce, 'a1', p, [entry(2, p.ballot, v(2))], 1));
    p.step(report(nonce, 'zz', p, [entry(2, p.ballot, v(2))], 2));
    p.step(report({}, 'a2', p, [entry(2, p.ballot, v(2))], 2));
    p.step(report({ recovery: 1 }, 'a3', p, [entry(2, p.ballot, v(2))], 2));
    p.step(report(nonce, 'a1', p, [entry(2, p.ballot, v(2))], 2));
    expect(ofType(drain(p).messages, 'chosen')).toEqual([]);
    p.step(report(nonce, 'a3', p, [entry(2, p.ballot, v(2))], 2));
    expect(ofType(drain(p).messages, 'chosen').map((m) => [m.to, m.slot])).toEqual([['l2', 2]]);
    const f = newProposer('p2', ACCEPTORS3);
    f.step(heartbeat('p1', bal(1, 'p1'), 5));
    drain(f);
    f.step(catchup(1));
    expect(ofType(drain(f).messages, 'prepare')).toEqual([]);
    // Below the leader's compaction point (learner l1 delivered up to 3, no votes kept below
    // it) the learners hold the log: no recovery; at or above it, one.
    const c = leader({ retainDecided: 1, retainDecidedCommands: 1, retainVotes: 0 });
    for (let slot = 0; slot < 5; slot++) {
      c.step(request('c1', cmd('c1', slot + 1, `v${slot}`)));
      drain(c);
      decide(c, slot, v(slot));
      drain(c);
    }
    c.step({ type: 'progress', from: 'l1', nextSlot: 3 });
    c.tick();
    drain(c);
    expect(c.compactBelow).toBe(3);
    c.step(catchup(1, 'l2'));
    expect(ofType(drain(c).messages, 'prepare')).toEqual([]);
    c.step(catchup(3, 'l2'));
    const out = drain(c).messages;
    expect(ofType(out, 'chosen').map((m) => m.slot)).toEqual([4]);
    expect(ofType(out, 'prepare').map((m) => m.fromSlot)).toEqual([3]);
  });
});

describe('ProposerCore: recovery against real acceptors', () => {
  test('a delayed promise of the election (same ballot, same slot, taken before the decision) ' +
    'is not a recovery report: the learner gets the chosen value, not an older vote', () => {
    const a = ['a1', 'a2', 'a3'].map((id) => new AcceptorCore({ id }));
    const [a1, a2, a3] = a as [AcceptorCore, AcceptorCore, AcceptorCore];
    // a1 accepted X at slot 0 under an older ballot; X was never chosen.
    a1.step(prepare('p0', bal(1, 'p0')));
    a1.step(accept('p0', bal(1, 'p0'), 0, val('X')));
    drain(a1);
    const p = newProposer('p1', ACCEPTORS3, { retainDecided: 0, retainDecidedCommands: 0 });
    raiseSeen(p, bal(1, 'p0'));
    p.campaign();
    const prep = only(drain(p).messages, 'prepare');
    a2.step(prep);
    a3.step(prep);
    const held = only(drain(a2).messages, 'promise');
    p.step(held);
    p.step(only(drain(a3).messages, 'promise'));
    expect(p.role).toBe('leader');
    drain(p);
    // Y is chosen at slot 0 by a2 and a3; the leader then drops it (retains nothing).
    p.step(request('c1', cmd('c1', 1, 'Y')));
    const acc = only(drain(p).messages, 'accept');
    for (const x of [a2, a3]) {
      x.step(acc);
      for (const m of drain(x).messages) p.step(m);
    }
    drain(p);
    expect(p.firstUnknown).toBe(1);
    expect(p.decidedAt(0)).toBeUndefined();
    // A learner asks for slot 0: the leader asks again at its ballot.
    p.step({ type: 'catchup', from: 'l1', fromSlot: 0, toSlot: 5 });
    const rprep = only(drain(p).messages, 'prepare');
    expect(rprep.recovery).toBeDefined();
    // The election's promise of a2 (no vote then) arrives again, then a1's fresh report (X).
    p.step(held);
    a1.step(rprep);
    const r1 = drain(a1);
    expect(r1.persist).not.toBeNull(); // a1 promised an older ballot: it raises its promise
    for (const m of r1.messages) p.step(m);
    expect(ofType(drain(p).messages, 'chosen')).toEqual([]);
    // a2's report for this recovery: no write (it already promised this ballot), vote Y.
    a2.step(rprep);
    const r2 = drain(a2);
    expect(r2.persist).toBeNull();
    expect(only(r2.messages, 'promise').recovery).toBe(rprep.recovery);
    for (const m of r2.messages) p.step(m);
    const answers = ofType(drain(p).messages, 'chosen');
    expect(answers.map((m) => [m.to, m.slot, m.value])).toEqual([
      ['l1', 0, cmds(cmd('c1', 1, 'Y'))],
    ]);
  });

  test('a slot decided while a recovery runs is not answered from it (a report taken before ' +
    'the decision may lack the chosen vote)', () => {
    const p = newProposer('p1', ACCEPTORS3, { retainDecided: 0, retainDecidedCommands: 0 });
    electWith(p, ['a1', 'a2']);
    for (let slot = 0; slot < 2; slot++) {
      p.step(request('c1', cmd('c1', slot + 1)));
      drain(p);
      votes(p, ['a1', 'a2'], p.ballot, slot, cmds(cmd('c1', slot + 1)));
      drain(p);
    }
    // Slot 2 is in flight when a learner asks from slot 1: the recovery covers slot 1 only.
    p.step(request('c1', cmd('c1', 3, 'Y')));
    drain(p);
    p.step({ type: 'catchup', from: 'l1', fromSlot: 1, toSlot: 9 });
    const rprep = only(drain(p).messages, 'prepare');
    const nonce = rprep.recovery as number;
    // a2 reports before it accepts Y at slot 2; then Y is chosen there by a2 and a3.
    p.step({ ...promise('a2', 'p1', p.ballot, [entry(1, p.ballot, cmds(cmd('c1', 2)))], 1),
      recovery: nonce });
    votes(p, ['a2', 'a3'], p.ballot, 2, cmds(cmd('c1', 3, 'Y')));
    expect(p.firstUnknown).toBe(3);
    drain(p);
    // a1, which holds an old X at slot 2, reports late.
    p.step({ ...promise('a1', 'p1', p.ballot, [entry(1, p.ballot, cmds(cmd('c1', 2))),
      entry(2, bal(0, 'p0'), val('X'))], 1), recovery: nonce });
    const answers = ofType(drain(p).messages, 'chosen');
    expect(answers.map((m) => [m.slot, m.value])).toEqual([[1, cmds(cmd('c1', 2))]]);
  });

  test('a promise a leader gets while no recovery runs changes nothing', () => {
    const p = newProposer('p1', ACCEPTORS3);
    electWith(p, ['a1', 'a2']);
    const before = [p.role, p.firstUnknown, p.ballot];
    p.step({ ...promise('a3', 'p1', p.ballot, [entry(0, p.ballot, val('z'))], 0), recovery: 1 });
    expect(drain(p).messages).toEqual([]);
    expect([p.role, p.firstUnknown, p.ballot]).toEqual(before);
  });
});

describe('ProposerCore: thrifty phase 2', () => {
  /** [slot, addressee or '*'] of every accept in `ms`. */
  const targets = (ms: readonly Message[]): [number, string][] =>
    ofType(ms, 'accept').map((m) => [m.slot, m.to ?? '*']);

  /** A thrifty leader whose slot 0 (c1#1) `voters` decided: they are now its quorum. */
  function thriftyLeader(voters: string[],
    overrides: Parameters<typeof newProposer>[2] = {}): ProposerCore {
    const p = leader({ thrifty: true, ...overrides });
    p.step(request('c1', cmd('c1', 1)));
    drain(p);
    votes(p, voters, p.ballot, 0, cmds(cmd('c1', 1)));
    return p;
  }

  test('off by default: every accept is one broadcast', () => {
    const p = leader();
    p.step(request('c1', cmd('c1', 1)));
    expect(targets(drain(p).messages)).toEqual([[0, '*']]);
    decide(p, 0, cmds(cmd('c1', 1)));
    drain(p);
    p.step(request('c1', cmd('c1', 2)));
    expect(targets(drain(p).messages)).toEqual([[1, '*']]);
    expect(p.thriftyQuorum).toBeNull();
  });

  test('after a decision, new accepts go to the quorum that decided it, one per acceptor', () => {
    const p = leader({ thrifty: true });
    p.step(request('c1', cmd('c1', 1)));
    // No quorum known yet: the first accept goes to every acceptor.
    expect(targets(drain(p).messages)).toEqual([[0, '*']]);
    votes(p, ['a3', 'a2'], p.ballot, 0, cmds(cmd('c1', 1)));
    expect(p.thriftyQuorum).toEqual(['a2', 'a3']);
    drain(p);
    p.step(request('c1', cmd('c1', 2)));
    const r = drain(p);
    expect(targets(r.messages)).toEqual([[1, 'a2'], [1, 'a3']]);
    // Both carry the same proposal: one value per slot and ballot.
    const [x, y] = ofType(r.messages, 'accept');
    expect(x?.value).toEqual(y?.value);
    expect(x?.ballot).toEqual(p.ballot);
    // Those two votes decide it.
    votes(p, ['a2', 'a3'], p.ballot, 1, cmds(cmd('c1', 2)));
    expect(p.firstUnknown).toBe(2);
    expect(p.thriftyFallbacks).toBe(0);
  });

  test('a vote from outside the quorum still counts (any quorum decides)', () => {
    const p = thriftyLeader(['a1', 'a2']);
    p.step(request('c1', cmd('c1', 2)));
    expect(targets(drain(p).messages)).toEqual([[1, 'a1'], [1, 'a2']]);
    // a2 and a3 (a3 heard the accept some other way, e.g. a retransmission) decide slot 1.
    votes(p, ['a2', 'a3'], p.ballot, 1, cmds(cmd('c1', 2)));
    expect(p.firstUnknown).toBe(2);
    expect(p.thriftyQuorum).toEqual(['a2', 'a3']);
  });

  test('an accept its quorum leaves undecided goes to the other acceptors after the timeout, ' +
    'and new accepts go to every acceptor until a decision names a quorum again', () => {
    const p = thriftyLeader(['a1', 'a2'], { thriftyTimeoutTicks: 2, retryTicks: 10 });
    drain(p);
    p.step(request('c1', cmd('c1', 2)));
    expect(targets(drain(p).messages)).toEqual([[1, 'a1'], [1, 'a2']]);
    // a2 went silent: a1 votes, a2 does not.
    votes(p, ['a1'], p.ballot, 1, cmds(cmd('c1', 2)));
    p.tick();
    expect(targets(drain(p).messages)).toEqual([]);
    p.tick();
    expect(targets(drain(p).messages)).toEqual([[1, 'a3']]);
    expect(p.thriftyFallbacks).toBe(1);
    expect(p.thriftyQuorum).toBeNull();
    p.step(request('c1', cmd('c1', 3)));
    expect(targets(drain(p).messages)).toEqual([[2, '*']]);
    // a3 answers: slot 1 is decided by a1 and a3, who take the next accepts.
    votes(p, ['a3'], p.ballot, 1, cmds(cmd('c1', 2)));
    expect(p.firstUnknown).toBe(2);
    expect(p.thriftyQuorum).toEqual(['a1', 'a3']);
    drain(p);
    p.step(request('c1', cmd('c1', 4)));
    expect(targets(drain(p).messages)).toEqual([[3, 'a1'], [3, 'a3']]);
    // The ordinary retransmission of a slot already sent to everyone is a broadcast again.
    for (let t = 0; t < 10; t++) p.tick();
    expect(targets(drain(p).messages)).toContainEqual([2, '*']);
  });

  test('a new leadership starts without a quorum: the first accepts after phase 1 go to ' +
    'every acceptor', () => {
    const p = thriftyLeader(['a1', 'a2']);
    expect(p.thriftyQuorum).toEqual(['a1', 'a2']);
    // Preempted, then elected again at a higher ballot.
    p.step(heartbeat('p2', bal(p.ballot.round + 1, 'p2'), 1));
    expect(p.role).toBe('follower');
    expect(p.thriftyQuorum).toBeNull();
    raiseSeen(p, bal(p.ballot.round + 1, 'p2'));
    p.step(request('c1', cmd('c1', 2)));
    const r = electWith(p, ['a2', 'a3']);
    expect(p.role).toBe('leader');
    expect(targets(r.messages).every(([, to]) => to === '*')).toBe(true);
  });

  test('the fallback does not wait for retransmissions: a timeout longer than retryTicks ' +
    'still asks the others (a dead member of the quorum cannot stall a slot)', () => {
    const p = thriftyLeader(['a1', 'a2'], { thriftyTimeoutTicks: 5, retryTicks: 2 });
    drain(p);
    p.step(request('c1', cmd('c1', 2)));
    expect(targets(drain(p).messages)).toEqual([[1, 'a1'], [1, 'a2']]);
    const sent: [number, string][] = [];
    for (let t = 0; t < 5; t++) {
      p.tick();
      sent.push(...targets(drain(p).messages));
    }
    // Retransmissions to the quorum at ticks 2 and 4, then the others at tick 5.
    expect(sent).toEqual([[1, 'a1'], [1, 'a2'], [1, 'a1'], [1, 'a2'], [1, 'a3']]);
    expect(p.thriftyFallbacks).toBe(1);
  });

  test('five acceptors: the quorum is three, and the fallback asks the other two', () => {
    const p = newProposer('p1', ACCEPTORS5, { thrifty: true, thriftyTimeoutTicks: 1 });
    electWith(p, ['a1', 'a2', 'a3']);
    p.step(request('c1', cmd('c1', 1)));
    drain(p);
    votes(p, ['a5', 'a2', 'a4'], p.ballot, 0, cmds(cmd('c1', 1)));
    expect(p.thriftyQuorum).toEqual(['a2', 'a4', 'a5']);
    drain(p);
    p.step(request('c1', cmd('c1', 2)));
    expect(targets(drain(p).messages)).toEqual([[1, 'a2'], [1, 'a4'], [1, 'a5']]);
    p.tick();
    expect(targets(drain(p).messages)).toEqual([[1, 'a1'], [1, 'a3']]);
  });

  test('with a quorum of every acceptor (one or two of them) thrifty changes nothing', () => {
    for (const acceptors of [['a1'], ['a1', 'a2']]) {
      const p = newProposer('p1', acceptors, { thrifty: true, thriftyTimeoutTicks: 1 });
      electWith(p, acceptors);
      p.step(request('c1', cmd('c1', 1)));
      drain(p);
      votes(p, acceptors, p.ballot, 0, cmds(cmd('c1', 1)));
      expect(p.thriftyQuorum).toBeNull();
      drain(p);
      p.step(request('c1', cmd('c1', 2)));
      expect(targets(drain(p).messages)).toEqual([[1, '*']]);
      p.tick();
      drain(p);
      expect(p.thriftyFallbacks).toBe(0);
    }
  });

  test('a decision learned from a chosen leaves the quorum as it was', () => {
    const p = thriftyLeader(['a1', 'a3']);
    p.step(request('c1', cmd('c1', 2)));
    drain(p);
    p.step(chosenMsg('p2', p.ballot, 1, cmds(cmd('c1', 2))));
    expect(p.firstUnknown).toBe(2);
    expect(p.thriftyQuorum).toEqual(['a1', 'a3']);
  });

  test('votes of an older ballot do not name the quorum', () => {
    const p = leader({ thrifty: true });
    const old = bal(0, 'p0');
    votes(p, ['a1', 'a3'], old, 0, val('x'));
    expect(p.firstUnknown).toBe(1);
    expect(p.thriftyQuorum).toBeNull();
  });
});

describe('ProposerCore: stamps (the leader\'s time, carried by the log)', () => {
  test('without a time from its driver, a leader proposes unstamped batches', () => {
    const p = leader();
    p.step(request('c1', cmd('c1', 1)));
    const [[, v]] = accepts(drain(p).messages) as [[number, Value]];
    expect(v).toEqual(cmds(cmd('c1', 1)));
  });

  test('a batch carries the time the driver gave before the step that formed it', () => {
    const p = leader();
    p.setTime(1_000);
    p.step(request('c1', cmd('c1', 1)));
    p.setTime(1_250);
    p.step(request('c2', cmd('c2', 1)));
    expect(accepts(drain(p).messages)).toEqual([
      [0, { ...cmds(cmd('c1', 1)), stamp: 1_000 }],
      [1, { ...cmds(cmd('c2', 1)), stamp: 1_250 }],
    ]);
  });

  test('a clock that runs backwards never makes a stamp lower than one already decided', () => {
    const p = leader();
    p.setTime(5_000);
    p.step(request('c1', cmd('c1', 1)));
    const [[slot, v]] = accepts(drain(p).messages) as [[number, Value]];
    decide(p, slot, v);
    drain(p);
    p.setTime(4_000); // an NTP step backwards
    p.step(request('c2', cmd('c2', 1)));
    const [[, w]] = accepts(drain(p).messages) as [[number, Value]];
    expect(w.kind === 'cmds' ? w.stamp : null).toBe(5_000);
    expect(p.highestStamp).toBe(5_000);
  });

  test('a new leader with a slow clock re-proposes an adopted value with its own stamp, and ' +
    'stamps its new batches at or above it', () => {
    const adopted = { ...val('x'), stamp: 9_000 };
    const p = newProposer('p1', ACCEPTORS3);
    p.setTime(2_000);
    const out = electWith(p, ['a1', 'a2'], { a1: [entry(0, bal(1, 'p2'), adopted)] });
    expect(accepts(out.messages)).toEqual([[0, adopted]]);
    p.step(request('c1', cmd('c1', 1)));
    expect(accepts(drain(p).messages)).toEqual([[1, { ...cmds(cmd('c1', 1)), stamp: 9_000 }]]);
  });

  test('setTime refuses what is not a non-negative safe integer (a programmer error)', () => {
    const p = leader();
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => p.setTime(bad)).toThrow(RangeError);
    }
  });
});
