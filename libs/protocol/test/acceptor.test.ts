/**
 * AcceptorCore: the Ready contract (persist before send), idempotence, restart from durable
 * state, catch-up service and invariants.
 */
import {
  AcceptorCore,
  type AcceptorDurableState,
  InvariantError,
  isEmptyReady,
  type Message,
  PlantedBug,
} from '../src/index.js';
import {
  accept,
  acceptedMsg,
  bal,
  drain,
  entry,
  FakeStore,
  heartbeat,
  nack,
  ofType,
  only,
  prepare,
  promise,
  val,
} from './helpers.js';

describe('AcceptorCore: Ready contract', () => {
  test('a promise is in ready().persist in the same Ready as the promise message', () => {
    const a = new AcceptorCore({ id: 'a1' });
    a.step(prepare('p1', bal(3, 'p1')));
    const r = a.ready();
    expect(r.persist).toEqual({ promised: bal(3, 'p1'), accepted: [] });
    expect(r.messages).toEqual([promise('a1', 'p1', bal(3, 'p1'), [])]);
    expect(r.events).toEqual([{ kind: 'promised', ballot: bal(3, 'p1'), to: 'p1' }]);
    expect(r.committed).toEqual([]);
    a.advance();
    expect(a.hasReady()).toBe(false);
    expect(isEmptyReady(a.ready())).toBe(true);
  });

  test('an accept is in ready().persist (entry and raised promise) in the same Ready as the ' +
    'accepted message', () => {
    const a = new AcceptorCore({ id: 'a1' });
    a.step(prepare('p1', bal(1, 'p1')));
    drain(a);
    a.step(accept('p2', bal(2, 'p2'), 4, val('v')));
    const r = drain(a);
    expect(r.persist).toEqual({
      promised: bal(2, 'p2'), accepted: [entry(4, bal(2, 'p2'), val('v'))],
    });
    expect(r.messages).toEqual([acceptedMsg('a1', bal(2, 'p2'), 4, val('v'))]);
  });

  test('an accept at the promised ballot persists the entry but not the promise again', () => {
    const a = new AcceptorCore({ id: 'a1' });
    a.step(prepare('p1', bal(1, 'p1')));
    drain(a);
    a.step(accept('p1', bal(1, 'p1'), 0, val('v')));
    expect(drain(a).persist)
      .toEqual({ promised: null, accepted: [entry(0, bal(1, 'p1'), val('v'))] });
  });

  test('a duplicate accept at the same ballot is idempotent: the vote is sent again, nothing is ' +
    're-persisted', () => {
    const a = new AcceptorCore({ id: 'a1' });
    a.step(accept('p1', bal(1, 'p1'), 0, val('v')));
    const first = drain(a);
    expect(first.persist).not.toBeNull();
    for (let i = 0; i < 3; i++) {
      a.step(accept('p1', bal(1, 'p1'), 0, val('v')));
      const again = drain(a);
      expect(again.persist).toBeNull();
      expect(again.messages).toEqual(first.messages);
    }
    expect(a.acceptedEntries()).toEqual([entry(0, bal(1, 'p1'), val('v'))]);
  });

  test('a duplicate prepare at the promised ballot is answered again without a persist', () => {
    const a = new AcceptorCore({ id: 'a1' });
    a.step(accept('p0', bal(0, 'p0'), 2, val('v')));
    a.step(prepare('p1', bal(1, 'p1')));
    const first = drain(a);
    a.step(prepare('p1', bal(1, 'p1')));
    const again = drain(a);
    expect(again.persist).toBeNull();
    expect(again.messages).toEqual(ofType(first.messages, 'promise'));
  });

  test('nacks persist nothing', () => {
    const a = new AcceptorCore({ id: 'a1' });
    a.step(prepare('p2', bal(5, 'p2')));
    drain(a);
    a.step(prepare('p1', bal(1, 'p1')));
    a.step(accept('p1', bal(1, 'p1'), 0, val('v')));
    const r = drain(a);
    expect(r.persist).toBeNull();
    expect(ofType(r.messages, 'nack')).toHaveLength(2);
  });

  test('several steps before ready() give one persist covering every reply in it', () => {
    const a = new AcceptorCore({ id: 'a1' });
    a.step(prepare('p1', bal(1, 'p1')));
    a.step(accept('p1', bal(1, 'p1'), 0, val('x')));
    a.step(accept('p2', bal(2, 'p2'), 0, val('y')));
    a.step(accept('p2', bal(2, 'p2'), 1, val('z')));
    const r = drain(a);
    expect(r.persist).toEqual({
      promised: bal(2, 'p2'),
      accepted: [entry(0, bal(2, 'p2'), val('y')), entry(1, bal(2, 'p2'), val('z'))],
    });
    expect(r.messages).toHaveLength(4);
  });

  test('persisting every Ready is enough to rebuild the acceptor exactly', () => {
    const a = new AcceptorCore({ id: 'a1' });
    const store = new FakeStore();
    const script: Message[] = [
      prepare('p1', bal(1, 'p1')),
      accept('p1', bal(1, 'p1'), 0, val('a')),
      accept('p1', bal(1, 'p1'), 1, val('b')),
      prepare('p2', bal(2, 'p2'), 1),
      accept('p1', bal(1, 'p1'), 2, val('late')),
      accept('p2', bal(2, 'p2'), 1, val('b')),
      accept('p3', bal(3, 'p3'), 7, val('c')),
    ];
    for (const m of script) {
      a.step(m);
      store.apply(drain(a).persist);
      const b = new AcceptorCore({ id: 'a1' }, store.state());
      expect(b.promised).toEqual(a.promised);
      expect(b.acceptedEntries()).toEqual(a.acceptedEntries());
    }
  });

  // Drivers (libs/testing's simulator, libs/runtime's driver) call advance() right after
  // ready() and only then await the store while new messages are stepped. This pins that
  // pattern. NOTE: ready() returns the live message and event buffers, so stepping BETWEEN
  // ready() and advance() would add replies to a Ready whose persist is already a snapshot,
  // and advance() would then drop their state unpersisted; see the report.
  test('a Ready taken and advanced is unaffected by later steps, whose state and replies ' +
    'come together in the next Ready', () => {
    const a = new AcceptorCore({ id: 'a1' });
    a.step(accept('p1', bal(1, 'p1'), 0, val('x')));
    const r = a.ready();
    a.advance();
    a.step(accept('p2', bal(2, 'p2'), 1, val('y')));
    expect(r.persist?.accepted.map((e) => e.slot)).toEqual([0]);
    expect(r.messages.map((m) => (m.type === 'accepted' ? m.slot : -1))).toEqual([0]);
    const next = drain(a);
    expect(next.persist).toEqual({
      promised: bal(2, 'p2'), accepted: [entry(1, bal(2, 'p2'), val('y'))],
    });
    expect(next.messages).toEqual([acceptedMsg('a1', bal(2, 'p2'), 1, val('y'))]);
  });
});

describe('AcceptorCore: restart from durable state', () => {
  const durable: AcceptorDurableState = {
    promised: bal(5, 'p2'),
    accepted: [entry(3, bal(4, 'p1'), val('v3')), entry(1, bal(2, 'p1'), val('v1'))],
  };

  test('a restarted acceptor keeps its promise: a lower prepare is nacked', () => {
    const a = new AcceptorCore({ id: 'a1' }, durable);
    expect(a.promised).toEqual(bal(5, 'p2'));
    a.step(prepare('p1', bal(4, 'p1')));
    const r = drain(a);
    expect(r.messages).toEqual([nack('a1', 'p1', bal(4, 'p1'), bal(5, 'p2'), null)]);
    expect(r.persist).toBeNull();
  });

  test('a restarted acceptor keeps its promise: a lower accept is nacked', () => {
    const a = new AcceptorCore({ id: 'a1' }, durable);
    a.step(accept('p1', bal(4, 'p1'), 9, val('late')));
    expect(drain(a).messages).toEqual([nack('a1', 'p1', bal(4, 'p1'), bal(5, 'p2'), 9)]);
    expect(a.acceptedAt(9)).toBeUndefined();
  });

  test('a restarted acceptor reports what it accepted before the crash', () => {
    const a = new AcceptorCore({ id: 'a1' }, durable);
    expect(a.acceptedEntries().map((e) => e.slot)).toEqual([1, 3]);
    a.step(prepare('p3', bal(6, 'p3'), 2));
    expect(only(drain(a).messages, 'promise').accepted)
      .toEqual([entry(3, bal(4, 'p1'), val('v3'))]);
  });

  test('a durable state with an entry above its promise is refused (InvariantError)', () => {
    const bad = { promised: bal(1, 'p1'), accepted: [entry(0, bal(2, 'p2'), val('v'))] };
    expect(() => new AcceptorCore({ id: 'a1' }, bad)).toThrow(InvariantError);
  });
});

describe('AcceptorCore: other messages', () => {
  test('two values at one slot and one ballot is a programmer error (InvariantError)', () => {
    const a = new AcceptorCore({ id: 'a1' });
    a.step(accept('p1', bal(1, 'p1'), 0, val('x')));
    expect(() => a.step(accept('p1', bal(1, 'p1'), 0, val('y')))).toThrow(InvariantError);
  });

  test('a higher ballot replaces the accepted entry of a slot', () => {
    const a = new AcceptorCore({ id: 'a1' });
    a.step(accept('p1', bal(1, 'p1'), 0, val('x')));
    a.step(accept('p2', bal(2, 'p2'), 0, val('y')));
    expect(a.acceptedAt(0)).toEqual(entry(0, bal(2, 'p2'), val('y')));
  });

  test('catch-up is answered with the accepted entries in range, addressed to the asker', () => {
    const a = new AcceptorCore({ id: 'a1', maxCatchupEntries: 2 });
    for (const slot of [0, 2, 3, 5]) a.step(accept('p1', bal(1, 'p1'), slot, val(`v${slot}`)));
    drain(a);
    a.step({ type: 'catchup', from: 'l1', fromSlot: 1, toSlot: 10 });
    const r = drain(a);
    expect(r.persist).toBeNull();
    expect(r.messages).toEqual([
      { ...acceptedMsg('a1', bal(1, 'p1'), 2, val('v2')), to: 'l1' },
    ]);
    a.step({ type: 'catchup', from: 'l1', fromSlot: 2, toSlot: 10 });
    expect(drain(a).messages.map((m) => (m.type === 'accepted' ? m.slot : -1))).toEqual([2, 3]);
  });

  test('an accept addressed to it (thrifty phase 2) is taken like a broadcast one; one ' +
    'addressed to another acceptor is rejected as an event and changes nothing', () => {
    const a = new AcceptorCore({ id: 'a1' });
    a.step({ ...accept('p1', bal(2, 'p1'), 0, val('x')), to: 'a1' });
    const r = drain(a);
    expect(r.persist?.accepted).toEqual([entry(0, bal(2, 'p1'), val('x'))]);
    expect(r.messages).toEqual([acceptedMsg('a1', bal(2, 'p1'), 0, val('x'))]);
    a.step({ ...accept('p1', bal(3, 'p1'), 1, val('y')), to: 'a2' });
    const other = drain(a);
    expect(other.persist).toBeNull();
    expect(other.messages).toEqual([]);
    expect(other.events).toEqual([{ kind: 'rejected', reason: 'misaddressed', detail: 'a2' }]);
    expect(a.promised).toEqual(bal(2, 'p1'));
    expect(a.acceptedEntries()).toEqual([entry(0, bal(2, 'p1'), val('x'))]);
  });

  test('messages for other roles are rejected as events and change nothing', () => {
    const a = new AcceptorCore({ id: 'a1' });
    a.step(heartbeat('p1', bal(9, 'p1')));
    const r = drain(a);
    expect(r.messages).toEqual([]);
    expect(r.persist).toBeNull();
    expect(r.events).toEqual([{ kind: 'rejected', reason: 'wrong-role', detail: 'heartbeat' }]);
    expect(a.promised).toBeNull();
  });

  test('planted accept-below-promise: the mutant accepts below its promise', () => {
    const a = new AcceptorCore({ id: 'a1', plantedBug: PlantedBug.AcceptBelowPromise });
    a.step(prepare('p2', bal(5, 'p2')));
    a.step(accept('p1', bal(1, 'p1'), 0, val('x')));
    expect(ofType(drain(a).messages, 'accepted')).toHaveLength(1);
    expect(a.acceptedAt(0)?.ballot).toEqual(bal(1, 'p1'));
  });
});
