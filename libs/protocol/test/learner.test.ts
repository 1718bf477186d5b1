/**
 * LearnerCore: in-order delivery, catch-up when behind, restart from durable state.
 */
import { LearnerCore, type LearnerDurableState, PlantedBug } from '../src/index.js';
import {
  ACCEPTORS3,
  acceptedMsg,
  bal,
  chosenMsg,
  drain,
  heartbeat,
  ofType,
  val,
  votes,
} from './helpers.js';

function learner(
  durable?: LearnerDurableState, extra: { catchupTicks?: number; maxCatchupSlots?: number } = {},
): LearnerCore {
  return new LearnerCore({ id: 'l1', acceptors: ACCEPTORS3, ...extra }, durable);
}

function tickN(l: LearnerCore, n: number): void {
  for (let i = 0; i < n; i++) l.tick();
}

describe('LearnerCore: delivery', () => {
  test('decisions that arrive out of order are delivered in slot order', () => {
    const l = learner();
    l.step(chosenMsg('p1', bal(1, 'p1'), 2, val('v2')));
    let r = drain(l);
    expect(r.committed).toEqual([]);
    expect(r.persist).toEqual({ decisions: [{ slot: 2, value: val('v2') }], nextSlot: 0 });
    votes(l, ['a1', 'a3'], bal(1, 'p1'), 0, val('v0'));
    r = drain(l);
    expect(r.committed).toEqual([{ slot: 0, value: val('v0') }]);
    expect(r.persist).toEqual({ decisions: [{ slot: 0, value: val('v0') }], nextSlot: 1 });
    l.step(chosenMsg('p1', bal(1, 'p1'), 1, val('v1')));
    r = drain(l);
    expect(r.committed).toEqual([{ slot: 1, value: val('v1') }, { slot: 2, value: val('v2') }]);
    expect(l.nextSlot).toBe(3);
  });

  test('a decided slot is decided once: later votes and chosen messages for it are ignored', () => {
    const l = learner();
    votes(l, ['a1', 'a2'], bal(1, 'p1'), 5, val('v'));
    expect(drain(l).persist).toEqual({ decisions: [{ slot: 5, value: val('v') }], nextSlot: 0 });
    votes(l, ['a3'], bal(1, 'p1'), 5, val('v'));
    votes(l, ['a1', 'a2'], bal(2, 'p2'), 5, val('v'));
    l.step(chosenMsg('p2', bal(2, 'p2'), 5, val('v')));
    const r = drain(l);
    expect(r.persist).toBeNull();
    expect(r.committed).toEqual([]);
    expect(r.events).toEqual([]);
  });

  test('delivered slots are never delivered again', () => {
    const l = learner();
    l.step(chosenMsg('p1', bal(1, 'p1'), 0, val('v0')));
    drain(l);
    l.step(chosenMsg('p1', bal(1, 'p1'), 0, val('v0')));
    votes(l, ACCEPTORS3, bal(2, 'p1'), 0, val('v0'));
    expect(drain(l).committed).toEqual([]);
  });

  test('votes from unknown acceptors are rejected and do not count', () => {
    const l = learner();
    l.step(acceptedMsg('a1', bal(1, 'p1'), 0, val('v')));
    l.step(acceptedMsg('mallory', bal(1, 'p1'), 0, val('v')));
    const r = drain(l);
    expect(r.committed).toEqual([]);
    expect(r.events).toEqual([{ kind: 'rejected', reason: 'unknown-acceptor', detail: 'mallory' }]);
  });

  test('planted learner-across-ballots: the mutant decides on votes at different ballots', () => {
    const l = new LearnerCore({
      id: 'l1', acceptors: ACCEPTORS3, plantedBug: PlantedBug.LearnerAcrossBallots,
    });
    l.step(acceptedMsg('a1', bal(1, 'p1'), 0, val('x')));
    l.step(acceptedMsg('a2', bal(2, 'p2'), 0, val('y')));
    expect(drain(l).committed).toHaveLength(1);
  });
});

describe('LearnerCore: catch-up', () => {
  test('a learner behind a heartbeat asks for a catch-up after catchupTicks, and again later, ' +
    'each time waiting twice as long (up to 8x) until it makes progress', () => {
    const l = learner(undefined, { catchupTicks: 6 });
    tickN(l, 50); // idle and up to date: nothing to ask
    expect(ofType(drain(l).messages, 'catchup')).toEqual([]);
    l.step(heartbeat('p1', bal(1, 'p1'), 5));
    expect(l.highestSlotKnown).toBe(4);
    tickN(l, 5);
    expect(ofType(drain(l).messages, 'catchup')).toEqual([]);
    l.tick();
    const r = drain(l);
    expect(ofType(r.messages, 'catchup'))
      .toEqual([{ type: 'catchup', from: 'l1', fromSlot: 0, toSlot: 4 }]);
    expect(r.events).toEqual([{ kind: 'catchup-requested', fromSlot: 0, toSlot: 4 }]);
    // Backoff: 12, 24, then 48 ticks between requests while nothing is delivered.
    for (const wait of [12, 24, 48, 48]) {
      tickN(l, wait - 1);
      expect(ofType(drain(l).messages, 'catchup')).toEqual([]);
      l.tick();
      expect(ofType(drain(l).messages, 'catchup')).toHaveLength(1);
    }
    // Progress resets it: the next gap is asked about after catchupTicks again.
    l.step({ type: 'chosen', from: 'p1', ballot: bal(1, 'p1'), slot: 0, value: val('x') });
    drain(l);
    tickN(l, 5);
    expect(ofType(drain(l).messages, 'catchup')).toEqual([]);
    l.tick();
    expect(ofType(drain(l).messages, 'catchup')).toHaveLength(1);
  });

  test('the catch-up starts at the first undelivered slot and is capped by maxCatchupSlots',
    () => {
      const l = learner(undefined, { catchupTicks: 3, maxCatchupSlots: 10 });
      for (const slot of [0, 1, 2]) l.step(chosenMsg('p1', bal(1, 'p1'), slot, val(`v${slot}`)));
      l.step(acceptedMsg('a2', bal(1, 'p1'), 100, val('far'))); // one vote: not decided
      drain(l);
      tickN(l, 3);
      expect(drain(l).messages).toEqual([{ type: 'catchup', from: 'l1', fromSlot: 3, toSlot: 12 }]);
    });

  test('progress resets the catch-up timer; catching up stops the requests', () => {
    const l = learner(undefined, { catchupTicks: 4 });
    l.step(heartbeat('p1', bal(1, 'p1'), 2));
    tickN(l, 3);
    l.step(chosenMsg('p1', bal(1, 'p1'), 0, val('v0'))); // progress
    tickN(l, 3);
    expect(ofType(drain(l).messages, 'catchup')).toEqual([]);
    l.tick();
    expect(drain(l).messages).toEqual([{ type: 'catchup', from: 'l1', fromSlot: 1, toSlot: 1 }]);
    l.step(chosenMsg('p1', bal(1, 'p1'), 1, val('v1')));
    tickN(l, 40);
    expect(ofType(drain(l).messages, 'catchup')).toEqual([]);
    expect(l.nextSlot).toBe(2);
  });

  test('catch-up answers (addressed accepted votes from a majority) complete the log', () => {
    const l = learner(undefined, { catchupTicks: 1 });
    l.step(heartbeat('p1', bal(1, 'p1'), 1));
    l.tick();
    expect(ofType(drain(l).messages, 'catchup')).toHaveLength(1);
    for (const a of ['a1', 'a2']) {
      l.step({ ...acceptedMsg(a, bal(1, 'p1'), 0, val('v0')), to: 'l1' });
    }
    expect(drain(l).committed).toEqual([{ slot: 0, value: val('v0') }]);
  });
});

describe('LearnerCore: restart from durable state', () => {
  test('slots below nextSlot are not learned again; durable decisions are not re-persisted',
    () => {
      const l = learner({ nextSlot: 3, decisions: [{ slot: 4, value: val('v4') }] });
      expect(l.nextSlot).toBe(3);
      expect(l.highestSlotKnown).toBe(4);
      expect(drain(l)).toEqual({ persist: null, messages: [], committed: [], events: [] });
      votes(l, ACCEPTORS3, bal(1, 'p1'), 1, val('v1'));
      l.step(chosenMsg('p1', bal(1, 'p1'), 2, val('v2')));
      l.step(chosenMsg('p1', bal(1, 'p1'), 4, val('v4')));
      expect(drain(l)).toEqual({ persist: null, messages: [], committed: [], events: [] });
      l.step(chosenMsg('p1', bal(1, 'p1'), 3, val('v3')));
      const r = drain(l);
      expect(r.persist).toEqual({ decisions: [{ slot: 3, value: val('v3') }], nextSlot: 5 });
      expect(r.committed).toEqual([{ slot: 3, value: val('v3') }, { slot: 4, value: val('v4') }]);
      expect(l.nextSlot).toBe(5);
    });

  test('a restarted learner with a gap asks for the missing slots', () => {
    const l = learner({ nextSlot: 3, decisions: [{ slot: 6, value: val('v6') }] },
      { catchupTicks: 2 });
    tickN(l, 2);
    expect(drain(l).messages).toEqual([{ type: 'catchup', from: 'l1', fromSlot: 3, toSlot: 6 }]);
  });

  test('durable decisions that follow nextSlot are handed to the application, not persisted',
    () => {
      const l = learner({
        nextSlot: 2,
        decisions: [{ slot: 1, value: val('v1') }, { slot: 2, value: val('v2') },
          { slot: 3, value: val('v3') }],
      });
      const r = drain(l);
      expect(r.persist).toBeNull();
      expect(r.committed).toEqual([{ slot: 2, value: val('v2') }, { slot: 3, value: val('v3') }]);
      expect(l.nextSlot).toBe(4);
    });
});
