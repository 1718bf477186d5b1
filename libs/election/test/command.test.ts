/** The election payload schema: canonical encoding, and a validator that refuses by reason. */
import fc from 'fast-check';
import {
  ELECTION_PREFIX,
  type ElectionCommand,
  encodeElectionCommand,
  MAX_TTL_MS,
  MIN_TTL_MS,
  parseElectionPayload,
} from '../src/index.js';

const nameArb = fc.string({
  unit: fc.constantFrom(...'abcXYZ019._:/-'), minLength: 1, maxLength: 128,
});
const commandArb: fc.Arbitrary<ElectionCommand> = fc.oneof(
  fc.record({ op: fc.constant('campaign' as const), group: nameArb, candidate: nameArb,
    ttlMs: fc.integer({ min: MIN_TTL_MS, max: MAX_TTL_MS }) }),
  fc.record({ op: fc.constant('renew' as const), group: nameArb, candidate: nameArb,
    token: fc.maxSafeNat(), ttlMs: fc.integer({ min: MIN_TTL_MS, max: MAX_TTL_MS }) }),
  fc.record({ op: fc.constant('resign' as const), group: nameArb, candidate: nameArb,
    token: fc.maxSafeNat() }),
);

/** The reason a payload is refused, 'foreign', or 'ok'. */
function verdict(payload: string): string {
  const p = parseElectionPayload(payload);
  return p.kind === 'malformed' ? p.reason : p.kind === 'foreign' ? 'foreign' : 'ok';
}

const campaign = (patch: Record<string, unknown> = {}): string => JSON.stringify({
  synod: 'election', v: 1, op: 'campaign', group: 'orders', candidate: 'app-1', ttlMs: 5000,
  ...patch,
});

describe('election payloads', () => {
  test('encode then parse gives the command back, and the encoding starts with the prefix',
    () => {
      fc.assert(fc.property(commandArb, (c) => {
        const text = encodeElectionCommand(c);
        expect(text.startsWith(ELECTION_PREFIX)).toBe(true);
        expect(parseElectionPayload(text)).toEqual({ kind: 'command', cmd: c });
      }), { numRuns: 2000 });
    });

  test('the canonical form of each op', () => {
    expect(encodeElectionCommand({ op: 'renew', group: 'g', candidate: 'a', token: 7,
      ttlMs: 100 })).toBe(
      '{"synod":"election","v":1,"op":"renew","group":"g","candidate":"a","token":7,"ttlMs":100}');
    expect(encodeElectionCommand({ op: 'resign', group: 'g', candidate: 'a', token: 7 })).toBe(
      '{"synod":"election","v":1,"op":"resign","group":"g","candidate":"a","token":7}');
  });

  test('payloads that do not start with the prefix belong to other applications', () => {
    for (const p of ['SET x 1', '', ` ${campaign()}`, '{"v":1,"synod":"election"}', '{}']) {
      expect(verdict(p)).toBe('foreign');
    }
  });

  test('a payload with the prefix that breaks the schema is malformed, with a reason', () => {
    expect(verdict(`${ELECTION_PREFIX},`)).toBe('json');
    expect(verdict(campaign())).toBe('ok');
    expect(verdict(campaign({ v: 2 }))).toBe('version');
    expect(verdict(campaign({ op: 'abdicate' }))).toBe('op');
    expect(verdict(campaign({ extra: 1 }))).toBe('shape');
    expect(verdict(campaign({ token: 3 }))).toBe('shape');
    expect(verdict(campaign({ group: '' }))).toBe('group');
    expect(verdict(campaign({ group: 'a b' }))).toBe('group');
    expect(verdict(campaign({ group: 'x'.repeat(129) }))).toBe('group');
    expect(verdict(campaign({ candidate: 7 }))).toBe('candidate');
    expect(verdict(campaign({ ttlMs: MIN_TTL_MS - 1 }))).toBe('ttl');
    expect(verdict(campaign({ ttlMs: 1.5 }))).toBe('ttl');
    expect(verdict(campaign({ ttlMs: MAX_TTL_MS + 1 }))).toBe('ttl');
    const renew = { op: 'renew', ttlMs: 100 };
    expect(verdict(campaign({ ...renew, token: -1 }))).toBe('token');
    expect(verdict(campaign({ ...renew, token: 2 ** 53 }))).toBe('token');
    expect(verdict(campaign({ ...renew, token: '4' }))).toBe('token');
    // A later duplicate key overrides the prefix's value (JSON.parse keeps the last one).
    expect(verdict(`${ELECTION_PREFIX},"synod":"other"}`)).toBe('shape');
  });

  test('__proto__ and constructor keys are unknown keys, never reach the machine', () => {
    const text = `${campaign().slice(0, -1)},"__proto__":{"ttlMs":1}}`;
    expect(verdict(text)).toBe('shape');
    expect(verdict(`${campaign().slice(0, -1)},"constructor":1}`)).toBe('shape');
  });

  test('arbitrary text after the prefix never throws: it parses or is malformed', () => {
    fc.assert(fc.property(fc.string({ maxLength: 60 }), (tail) => {
      const p = parseElectionPayload(ELECTION_PREFIX + tail);
      expect(['malformed', 'command']).toContain(p.kind);
    }), { numRuns: 5000 });
  });

  test('encoding an invalid command is a programmer error', () => {
    expect(() => encodeElectionCommand({ op: 'campaign', group: 'g', candidate: 'a',
      ttlMs: 0 })).toThrow(RangeError);
    expect(() => encodeElectionCommand({ op: 'resign', group: 'g g', candidate: 'a',
      token: 1 })).toThrow(RangeError);
  });
});
