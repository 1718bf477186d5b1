/**
 * chosenFromReports: which slots a quorum's recovery reports vouch for, and with which vote
 * (docs/decisions/010-leader-recovers-decided-slots.md). The proposer's use of it, with real
 * acceptors, is in proposer.test.ts.
 */
import { chosenFromReports, type RecoveryReport } from '../src/index.js';
import { bal, entry, val } from './helpers.js';

const report = (entries: ReturnType<typeof entry>[], upTo = Infinity, floor = 0):
  RecoveryReport => ({ entries, upTo, floor });

describe('chosenFromReports', () => {
  test('the highest-ballot vote of each slot, in slot order; slots nobody voted in are left out',
    () => {
      const got = chosenFromReports([
        report([entry(4, bal(1, 'p1'), val('a')), entry(2, bal(3, 'p2'), val('b'))]),
        report([entry(2, bal(2, 'p1'), val('x')), entry(4, bal(5, 'p3'), val('a'))]),
      ], 2, 10, 256);
      expect(got).toEqual([entry(2, bal(3, 'p2'), val('b')), entry(4, bal(5, 'p3'), val('a'))]);
    });

  test('bounded by fromSlot, decidedBelow, every page end, every floor and maxSlots', () => {
    const votes = Array.from({ length: 20 }, (_, s) => entry(s, bal(1, 'p1'), val(`v${s}`)));
    const slots = (rs: RecoveryReport[], from: number, below: number, max: number): number[] =>
      chosenFromReports(rs, from, below, max).map((e) => e.slot);
    expect(slots([report(votes), report(votes)], 3, 8, 256)).toEqual([3, 4, 5, 6, 7]);
    expect(slots([report(votes, 6), report(votes)], 3, 8, 256)).toEqual([3, 4, 5]);
    expect(slots([report(votes), report(votes, Infinity, 5)], 3, 8, 256)).toEqual([5, 6, 7]);
    expect(slots([report(votes), report(votes)], 3, 20, 4)).toEqual([3, 4, 5, 6]);
    expect(slots([report(votes), report(votes)], 8, 8, 256)).toEqual([]);
    expect(slots([report([]), report([])], 0, 8, 256)).toEqual([]);
  });
});
