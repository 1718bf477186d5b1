import { AcceptorCore, type Message, type MsgPromise, ProposerCore, Sfc32 } from '../src/index.js';

const A = ['a1', 'a2', 'a3'];
const b0 = { round: 1, proposer: 'p0', incarnation: 0 };
const v = (p: string) => ({ kind: 'cmds' as const, cmds: [{ clientId: 'c', seq: 1, payload: p }] });
const votes = () => [0, 1, 2, 3, 4].map((slot) => ({ slot, ballot: b0, value: v(`x${slot}`) }));

function take(core: { ready(): { messages: readonly Message[] }; advance(): void }): Message[] {
  const m = [...core.ready().messages];
  core.advance();
  return m;
}

describe('paged promises', () => {
  test('an acceptor with more votes than maxPromiseEntries answers a prepare with a page', () => {
    const a = new AcceptorCore({ id: 'a1', maxPromiseEntries: 2 }, {
      promised: b0, accepted: votes(),
    });
    const b1 = { round: 2, proposer: 'p1', incarnation: 1 };
    a.step({ type: 'prepare', from: 'p1', ballot: b1, fromSlot: 1 });
    const [p] = take(a) as MsgPromise[];
    expect(p?.accepted.map((e) => e.slot)).toEqual([1, 2]);
    expect(p?.upTo).toBe(3);
    a.step({ type: 'prepare', from: 'p1', ballot: b1, fromSlot: 3 });
    const [q] = take(a) as MsgPromise[];
    expect(q?.accepted.map((e) => e.slot)).toEqual([3, 4]);
    expect(q?.upTo).toBeUndefined();
  });

  test('a candidate leads only with complete reports from a quorum, asking page after page, ' +
    'and re-proposes what the later pages reported', () => {
    const p = new ProposerCore({ id: 'p1', acceptors: A, rng: new Sfc32(1), incarnation: 1 });
    const acceptors = A.map((id) => new AcceptorCore({ id, maxPromiseEntries: 2 }, {
      promised: b0, accepted: votes(),
    }));
    p.campaign();
    let out = take(p);
    let rounds = 0;
    while (p.role !== 'leader' && rounds++ < 20) {
      const next: Message[] = [];
      for (const m of out) {
        if (m.type !== 'prepare') continue;
        // Only a1 and a2 answer: the quorum must be made of complete reports.
        for (const a of acceptors.slice(0, 2)) {
          a.step(m);
          for (const r of take(a)) {
            p.step(r);
            next.push(...take(p));
          }
        }
      }
      out = next;
    }
    expect(p.role).toBe('leader');
    expect(rounds).toBeGreaterThanOrEqual(3);
    const accepts = out.filter((m) => m.type === 'accept');
    const proposed = new Map(accepts.map((m) => [m.type === 'accept' ? m.slot : -1,
      m.type === 'accept' ? m.value : null]));
    for (const slot of [0, 1, 2, 3, 4]) expect(proposed.get(slot)).toEqual(v(`x${slot}`));
  });

  test('a page that does not start where the last ended is ignored', () => {
    const p = new ProposerCore({ id: 'p1', acceptors: A, rng: new Sfc32(1), incarnation: 1 });
    p.campaign();
    take(p);
    const ballot = p.ballot;
    const page = (from: string, fromSlot: number, upTo?: number): void => p.step({
      type: 'promise', from, to: 'p1', ballot, fromSlot, accepted: [],
      ...(upTo === undefined ? {} : { upTo }),
    });
    page('a1', 5);            // out of order: a1's report starts at 0
    page('a2', 0, 0);         // a page that makes no progress
    expect(p.role).toBe('candidate');
    page('a1', 0);
    page('a2', 0);
    expect(p.role).toBe('leader');
  });
});
