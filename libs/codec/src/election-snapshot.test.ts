import {
  DecodeError,
  decodeElectionSnapshotReply,
  decodeElectionSnapshotRequest,
  electionSnapshotSubject,
  encodeApi,
} from './index.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The reason a decode fails with (or 'ok'). */
function reason(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof DecodeError) return e.reason;
    throw e;
  }
}

describe('election snapshots in the client API', () => {
  test('the subject, and a request is exactly {"v":1}', () => {
    expect(electionSnapshotSubject('prod')).toBe('synod.prod.snapshot.election');
    expect(decodeElectionSnapshotRequest(encodeApi({}))).toEqual({});
    const req = (s: string): string => reason(() => decodeElectionSnapshotRequest(utf8(s)));
    expect(req('{"v":1,"fromSlot":0}')).toBe('UNKNOWN_FIELD');
    expect(req('{"v":1,"__proto__":{}}')).toBe('UNKNOWN_FIELD');
    expect(req('{}')).toBe('BAD_VERSION');
    expect(req('{"v":2}')).toBe('BAD_VERSION');
    expect(req('[1]')).toBe('BAD_FIELD');
    expect(req('{"v":1')).toBe('BAD_JSON');
  });

  test('a reply: the learner and the snapshot object; everything else refused with a reason',
    () => {
      const snapshot = { v: 1, nextSlot: 3, leases: [] };
      expect(decodeElectionSnapshotReply(encodeApi({ learner: 'l1', snapshot })))
        .toEqual({ learner: 'l1', snapshot });
      const rep = (s: string): string => reason(() => decodeElectionSnapshotReply(utf8(s)));
      expect(rep('{"v":1,"learner":"l1"}')).toBe('MISSING_FIELD');
      expect(rep('{"v":1,"learner":"l1","snapshot":[]}')).toBe('BAD_FIELD');
      expect(rep('{"v":1,"learner":"l1","snapshot":null}')).toBe('BAD_FIELD');
      expect(rep('{"v":1,"learner":"bad id!","snapshot":{}}')).toBe('BAD_FIELD');
      expect(rep('{"v":1,"learner":"l1","snapshot":{},"x":0}')).toBe('UNKNOWN_FIELD');
      expect(rep('{"v":2,"learner":"l1","snapshot":{}}')).toBe('BAD_VERSION');
      expect(reason(() => decodeElectionSnapshotReply(
        utf8(`{"v":1,"learner":"l1","snapshot":{"pad":"${'x'.repeat(1 << 20)}"}}`))))
        .toBe('TOO_LARGE');
    });
});
