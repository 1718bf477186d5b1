import { deepStrictEqual } from 'node:assert/strict';
import fc from 'fast-check';
import { type Message, messageTarget, MSG_TYPES, type Role } from '@synod/protocol';
import {
  checkSubject,
  decodeDelivery,
  encode,
  parseSubject,
  publicationsFor,
  ROUTES,
  SubjectError,
  subjectFor,
  subscriptionsFor,
  tryDecodeDelivery,
} from './index.js';
import { assertSeeded, messageArb, nodeIdArb, runSeed } from './__tests__/arbitraries.js';

const SEED = runSeed();
const B = { round: 1, proposer: 'p1', incarnation: 0 };

/** NATS subject matching: `*` matches one token, `>` the rest (one or more tokens). */
function natsMatch(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

function code(f: () => unknown): string {
  try {
    f();
    return 'OK';
  } catch (e) {
    if (e instanceof SubjectError) return e.code;
    throw e;
  }
}

describe('subject round trip', () => {
  it('parseSubject(subjectFor(c, m)) gives back c, type, from, to (10,000 runs)', () => {
    assertSeeded(fc.property(nodeIdArb, messageArb, (cluster, m) => {
      const s = subjectFor(cluster, m);
      const p = parseSubject(s);
      deepStrictEqual(p, { cluster, type: m.type, sender: m.from, target: messageTarget(m) });
      checkSubject(p, m, cluster);
      deepStrictEqual(decodeDelivery(s, encode(m), { cluster }), m);
    }), SEED, 10_000, 'subject round trip');
  });

  it('every message reaches exactly its audience through the per-role subscriptions', () => {
    const roles: Role[] = ['proposer', 'acceptor', 'learner', 'client'];
    assertSeeded(fc.property(messageArb, (m) => {
      const s = subjectFor('c1', m);
      const target = messageTarget(m);
      const route = ROUTES.find((r) => r.type === m.type && r.addressed === (target !== null));
      expect(route).toBeDefined();
      for (const role of roles) {
        // A bystander with another id never receives an addressed message.
        const other = target === 'zz' ? 'yy' : 'zz';
        const hears = (id: string): boolean =>
          subscriptionsFor('c1', role, id).some((p) => natsMatch(p, s));
        expect(hears(other)).toBe(target === null && (route?.audience.includes(role) ?? false));
        if (target !== null) expect(hears(target)).toBe(route?.audience.includes(role) ?? false);
      }
      // And its sender may publish it, whatever role it has among the type's senders.
      for (const role of route?.senders ?? []) {
        expect(publicationsFor('c1', role, m.from).some((p) => natsMatch(p, s))).toBe(true);
      }
    }), SEED, 2_000, 'audience');
  });
});

describe('subscriptions per role', () => {
  it('an acceptor hears prepares, accepts (broadcast and addressed to it) and catch-ups', () => {
    expect(subscriptionsFor('c', 'acceptor', 'a1')).toEqual([
      'synod.c.prepare.*', 'synod.c.accept.*', 'synod.c.accept.*.a1', 'synod.c.catchup.*',
    ]);
  });

  it('a proposer hears its promises and nacks, votes, decisions, heartbeats and clients', () => {
    expect(subscriptionsFor('c', 'proposer', 'p1')).toEqual([
      'synod.c.promise.*.p1',
      'synod.c.nack.*.p1',
      'synod.c.accepted.*',
      'synod.c.accepted.*.p1',
      'synod.c.chosen.*',
      'synod.c.chosen.*.p1',
      'synod.c.heartbeat.*',
      'synod.c.catchup.*',
      'synod.c.request.*',
      'synod.c.request.*.p1',
      'synod.c.response.*.p1',
      'synod.c.progress.*',
    ]);
  });

  it('a learner hears votes, decisions, heartbeats and catch-ups (it answers from its log)', () => {
    expect(subscriptionsFor('c', 'learner', 'l1')).toEqual([
      'synod.c.accepted.*', 'synod.c.accepted.*.l1', 'synod.c.chosen.*', 'synod.c.chosen.*.l1',
      'synod.c.heartbeat.*', 'synod.c.catchup.*',
    ]);
  });

  it('a client hears only responses addressed to it', () => {
    expect(subscriptionsFor('c', 'client', 'c9')).toEqual(['synod.c.response.*.c9']);
  });

  it('publish permissions pin the sender token to the node id', () => {
    expect(publicationsFor('c', 'acceptor', 'a1')).toEqual([
      'synod.c.promise.a1.*', 'synod.c.nack.a1.*', 'synod.c.accepted.a1',
      'synod.c.accepted.a1.*',
    ]);
    // A learner sends `chosen` only addressed (catch-up answers), never broadcast.
    expect(publicationsFor('c', 'learner', 'l1')).toEqual([
      'synod.c.chosen.l1.*', 'synod.c.catchup.l1', 'synod.c.progress.l1',
    ]);
    expect(publicationsFor('c', 'client', 'c9')).toEqual([
      'synod.c.request.c9', 'synod.c.request.c9.*',
    ]);
  });

  it('refuses ids and cluster names that are not one subject token', () => {
    for (const bad of ['', 'a.b', '*', '>', 'a b', 'x'.repeat(65), 'é']) {
      expect(code(() => subscriptionsFor(bad, 'learner', 'l1'))).toBe('BAD_TOKEN');
      expect(code(() => subscriptionsFor('c', 'learner', bad))).toBe('BAD_TOKEN');
    }
  });
});

describe('parseSubject refuses malformed subjects', () => {
  it.each([
    ['', 'BAD_SUBJECT'],
    ['synod', 'BAD_SUBJECT'],
    ['synod.c.prepare', 'BAD_SUBJECT'],
    ['nats.c.prepare.p1', 'BAD_SUBJECT'],
    ['synod.c.prepare.p1.a1.x', 'BAD_SUBJECT'],
    ['synod..prepare.p1', 'BAD_TOKEN'],
    ['synod.c.prepare.', 'BAD_TOKEN'],
    ['synod.c.prepare.*', 'BAD_TOKEN'],
    ['synod.c.promise.a1.>', 'BAD_TOKEN'],
    ['synod.c.Prepare.p1', 'UNKNOWN_TYPE'],
    ['synod.c.__proto__.p1', 'UNKNOWN_TYPE'],
    ['synod.c.prepare.p1.a1', 'BAD_TARGET'],
    ['synod.c.promise.a1', 'BAD_TARGET'],
    ['synod.c.response.p1', 'BAD_TARGET'],
    [`synod.c.prepare.${'p'.repeat(65)}`, 'BAD_TOKEN'],
    [`synod.c.prepare.${'p'.repeat(10_000)}`, 'BAD_SUBJECT'],
    ['synod.c.accepted.a1', 'OK'],
    ['synod.c.accepted.a1.l1', 'OK'],
    ['synod.c.accept.p1', 'OK'],
    ['synod.c.accept.p1.a1', 'OK'],
  ])('%s -> %s', (subject, want) => {
    expect(code(() => parseSubject(subject))).toBe(want);
  });

  it('knows every message type', () => {
    for (const t of MSG_TYPES) expect(ROUTES.some((r) => r.type === t)).toBe(true);
  });
});

describe('checkSubject: the payload must agree with its subject', () => {
  const prepare: Message = { type: 'prepare', from: 'p1', ballot: B, fromSlot: 0 };
  const chosenTo: Message = {
    type: 'chosen', from: 'p1', to: 'l1', ballot: B, slot: 0, value: { kind: 'noop' },
  };

  it.each([
    ['synod.c.prepare.p1', prepare, 'OK'],
    ['synod.c.prepare.p2', prepare, 'SENDER_MISMATCH'],
    ['synod.c.accept.p1', prepare, 'TYPE_MISMATCH'],
    ['synod.other.prepare.p1', prepare, 'CLUSTER_MISMATCH'],
    ['synod.c.chosen.p1.l1', chosenTo, 'OK'],
    ['synod.c.chosen.p1.l2', chosenTo, 'TARGET_MISMATCH'],
    ['synod.c.chosen.p1', chosenTo, 'TARGET_MISMATCH'],
  ])('%s carrying %#', (subject, msg, want) => {
    expect(code(() => checkSubject(parseSubject(subject), msg, 'c'))).toBe(want);
  });

  it('a thrifty accept travels on its acceptor\'s subject and nowhere else', () => {
    const accept: Message = {
      type: 'accept', from: 'p1', to: 'a2', ballot: B, slot: 3, value: { kind: 'noop' },
    };
    expect(subjectFor('c', accept)).toBe('synod.c.accept.p1.a2');
    expect(code(() => checkSubject(parseSubject('synod.c.accept.p1.a2'), accept, 'c')))
      .toBe('OK');
    expect(code(() => checkSubject(parseSubject('synod.c.accept.p1.a1'), accept, 'c')))
      .toBe('TARGET_MISMATCH');
    expect(code(() => checkSubject(parseSubject('synod.c.accept.p1'), accept, 'c')))
      .toBe('TARGET_MISMATCH');
    expect(publicationsFor('c', 'proposer', 'p1')).toEqual(
      expect.arrayContaining(['synod.c.accept.p1', 'synod.c.accept.p1.*']));
  });

  it('a broadcast payload on an addressed subject is refused', () => {
    const chosen: Message = { ...chosenTo };
    delete (chosen as { to?: string }).to;
    expect(code(() => checkSubject(parseSubject('synod.c.chosen.p1.l1'), chosen))).toBe(
      'TARGET_MISMATCH');
  });

  it('decodeDelivery refuses a bad subject before decoding, and a forged sender after', () => {
    const bytes = encode(prepare);
    const bad = tryDecodeDelivery('synod.c.prepare', new Uint8Array([0xff]));
    expect(bad.ok ? null : bad.error.code).toBe('BAD_SUBJECT');
    const forged = tryDecodeDelivery('synod.c.prepare.p2', bytes);
    expect(forged.ok ? null : forged.error.code).toBe('SENDER_MISMATCH');
    const junk = tryDecodeDelivery('synod.c.prepare.p1', new Uint8Array([0xff]));
    expect(junk.ok ? null : junk.error.code).toBe('BAD_UTF8');
  });

  it('subjectFor refuses a message that breaks its target rule or has a bad id', () => {
    expect(code(() => subjectFor('c', { ...prepare, to: 'a1' } as Message))).toBe('BAD_TARGET');
    expect(code(() => subjectFor('c', { ...prepare, from: 'p.1' }))).toBe('BAD_TOKEN');
    expect(code(() => subjectFor('c.d', prepare))).toBe('BAD_TOKEN');
  });
});
