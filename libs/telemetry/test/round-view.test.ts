import { Attr, findRound, renderRound, SpanName, type StoredSpan } from '@synod/telemetry';

/** A proposer's round span for `slot`, started at `startNs`. */
function round(id: string, slot: number, ballot: string, startNs: number, outcome: string,
  kind: 'cmds' | 'noop'): StoredSpan {
  return {
    traceId: `t${id}`.padEnd(32, '0'), spanId: id.padEnd(16, '0'), parentSpanId: null,
    name: SpanName.Round, kind: 'internal', start: String(startNs), end: String(startNs + 1e6),
    service: 'synod-proposer', node: 'p1',
    attributes: { [Attr.Slot]: slot, [Attr.Ballot]: ballot, [Attr.Outcome]: outcome,
      [Attr.ValueKind]: kind, [Attr.BallotRound]: Number(ballot.split('.')[0]) },
    events: [], links: [], status: { code: 'unset' },
  };
}

test('a slot chosen, then re-proposed by a new leader: the round that chose it first is shown',
  () => {
    const spans = [
      round('b', 3, '5.p2.1', 9e9, 'chosen', 'cmds'),
      round('a', 3, '2.p1.0', 1e9, 'chosen', 'cmds'),
      round('c', 3, '1.p1.0', 5e8, 'preempted', 'cmds'),
    ];
    expect(findRound(spans, { slot: 3 })?.ballot).toBe('2.p1.0');
    // Ballots order the rounds even when the later leader's clock runs behind.
    expect(findRound([round('e', 3, '7.p2.1', 1e8, 'chosen', 'cmds'), spans[1] as StoredSpan],
      { slot: 3 })?.ballot).toBe('2.p1.0');
    // With no chosen round, the latest attempt.
    expect(findRound([spans[2] as StoredSpan, round('d', 3, '3.p1.0', 7e8, 'preempted', 'cmds')],
      { slot: 3 })?.ballot).toBe('3.p1.0');
  });

test('a round without a client request says what it carried: a recovered value, or a no-op',
  () => {
    const head = (kind: 'cmds' | 'noop'): string =>
      renderRound(findRound([round('a', 3, '5.p2.1', 1e9, 'chosen', kind)], { slot: 3 })!)[0] ?? '';
    expect(head('cmds')).toBe('round of slot 3 at ballot 5.p2.1: chosen · no client request in ' +
      'this round (a value recovered from an earlier ballot, proposed again)');
    expect(head('noop')).toBe('round of slot 3 at ballot 5.p2.1: chosen · no client request ' +
      '(no-op)');
  });
