import { decodeElectionSnapshotReply } from '@synod/codec';
import { ElectionMachine, type ElectionSnapshot, encodeElectionCommand } from '@synod/election';
import type { Decision } from '@synod/protocol';
import { LogIndex } from '../src/log-index.js';
import { MAX_ANSWER_BYTES } from '../src/paging.js';
import { answerElectionSnapshot } from '../src/snapshot.js';

const slot = (s: number, cmds: { clientId: string; seq: number; payload?: string }[]):
  Decision => ({ slot: s, value: { kind: 'cmds', stamp: 1000 + s,
  cmds: cmds.map((c) => ({ payload: 'p', ...c })) } });

describe('election snapshots served by a learner', () => {
  test('the answer decodes and restores to the state of the learner\'s index', () => {
    const index = new LogIndex();
    index.add(slot(0, [{ clientId: 'app', seq: 1, payload: encodeElectionCommand({
      op: 'campaign', group: 'orders', candidate: 'i1', ttlMs: 60_000 }) }]));
    for (let s = 1; s < 50; s++) index.add(slot(s, [{ clientId: `c-${s % 5}`, seq: s }]));
    const a = answerElectionSnapshot('l1', index.electionSnapshot(), MAX_ANSWER_BYTES);
    if (!('data' in a)) throw new Error(a.message);
    expect(a.slot).toBe(50);
    const r = decodeElectionSnapshotReply(a.data);
    expect(r.learner).toBe('l1');
    const m = ElectionMachine.restore(r.snapshot as unknown as ElectionSnapshot);
    expect(m.nextSlot).toBe(50);
    expect(m.lease('orders')).toMatchObject({ holder: 'i1', token: 0 });
    expect(m.snapshot().dedupe.clients).toHaveLength(6);
  });

  test('a learner whose election state stopped at a gap refuses NOT_AVAILABLE, saying why', () => {
    const index = new LogIndex();
    index.add(slot(0, [{ clientId: 'a', seq: 1 }]));
    index.add(slot(2, [{ clientId: 'a', seq: 2 }]));
    expect(answerElectionSnapshot('l1', index.electionSnapshot(), MAX_ANSWER_BYTES)).toEqual({
      code: 'NOT_AVAILABLE', message: 'no election state: slot 1 missing from the stored log ' +
        '(next was 2)' });
  });

  test('a snapshot over one reply (100,000 clients in the deduplicator) is refused TOO_LARGE',
    () => {
      const index = new LogIndex();
      let s = 0;
      for (let c = 0; c < 100_000; c += 250) {
        index.add(slot(s++, Array.from({ length: 250 }, (_, i) => ({ clientId: `c-${c + i}`,
          seq: 1 }))));
      }
      const a = answerElectionSnapshot('l1', index.electionSnapshot(), MAX_ANSWER_BYTES);
      expect(a).toMatchObject({ code: 'TOO_LARGE',
        message: expect.stringMatching(/^the election snapshot at slot 400 is \d+ bytes, over 1048576/) });
    });
});
