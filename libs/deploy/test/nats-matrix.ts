import { TARGET_RULE, TargetRule } from '@synod/codec';
import {
  BROADCAST_AUDIENCE,
  MSG_TYPES,
  type MsgType,
  type Role,
  SENDER_ROLE,
} from '@synod/protocol';
import { ADDRESSED_AUDIENCE } from '@synod/codec';

/**
 * The T5 matrix for NATS: every principal against every subject of a fixed universe, for
 * publish and for subscribe, with the expected answer stated independently of the generated
 * permissions: a per-subject reading of the protocol's table (who sends each message type, who
 * receives its broadcast and addressed forms) and of the client API.
 */

export const CLUSTER = 'synod';
export const ACCEPTORS = ['a1', 'a2', 'a3'] as const;
/** The pools of proposer and learner ids: each id is a principal of its own. */
export const PROPOSERS = ['p1', 'p2'] as const;
export const LEARNERS = ['l1', 'l2'] as const;

/** Ids that appear in subjects: every node, a client, and one nobody has. */
export const IDS = ['a1', 'a2', 'a3', 'p1', 'p2', 'l1', 'l2', 'c1', 'zz'] as const;

/** A principal as the test sees it. */
export interface TestPrincipal {
  readonly user: string;
  readonly role: Role;
  /** Bound to this node id, or null for any id of the role. */
  readonly id: string | null;
}

/** Every service bound to its id; clients, one principal for the role. */
export const PRINCIPALS: readonly TestPrincipal[] = [
  ...ACCEPTORS.map((id) => ({ user: `acceptor-${id}`, role: 'acceptor' as const, id })),
  ...PROPOSERS.map((id) => ({ user: `proposer-${id}`, role: 'proposer' as const, id })),
  ...LEARNERS.map((id) => ({ user: `learner-${id}`, role: 'learner' as const, id })),
  { user: 'client', role: 'client', id: null },
];

const SERVICES: readonly Role[] = ['acceptor', 'proposer', 'learner'];
const isType = (s: string | undefined): s is MsgType =>
  s !== undefined && (MSG_TYPES as readonly string[]).includes(s);

/** Concrete subjects: every type, sender and target, the client API, and strays. */
export function subjectUniverse(): string[] {
  const out: string[] = [];
  for (const type of MSG_TYPES) {
    for (const from of IDS) {
      out.push(`synod.${CLUSTER}.${type}.${from}`);
      for (const to of IDS) out.push(`synod.${CLUSTER}.${type}.${from}.${to}`);
    }
  }
  out.push(
    `synod.${CLUSTER}.read`, `synod.${CLUSTER}.status`, `synod.${CLUSTER}.propose`,
    `synod.${CLUSTER}.propose.c1`, 'synod.other.propose', `synod.${CLUSTER}.propose.leader`,
    `synod.${CLUSTER}.propose.leader.x`, 'synod.other.propose.leader',
    `synod.${CLUSTER}.log.l1`, `synod.${CLUSTER}.log.l2`, `synod.${CLUSTER}.log.zz`,
    `synod.${CLUSTER}.log.a1.x`, `synod.${CLUSTER}.snapshot.election`,
    `synod.${CLUSTER}.snapshot.other`, 'synod.other.snapshot.election',
    `synod.${CLUSTER}.prepare`, `synod.${CLUSTER}.prepare.p1.a1.x`, `synod.${CLUSTER}.bogus.p1`,
    'synod.other.prepare.p1', 'synod.other.promise.a1.p1', 'synod.other.request.c1',
    'synod.other.read', 'synod.other.status', 'synod.other.log.l1',
    '_INBOX.abc.def', '_INBOX.x', '$SYS.REQ.SERVER.PING', 'foo.bar', 'synod',
  );
  return out;
}

/** Wildcard subscriptions to try besides the concrete subjects. */
export const BROAD_PATTERNS = [
  '>', 'synod.>', `synod.${CLUSTER}.>`, `synod.${CLUSTER}.*`, `synod.${CLUSTER}.*.*`,
  `synod.${CLUSTER}.*.*.*`, `synod.${CLUSTER}.prepare.>`, `synod.${CLUSTER}.*.a1`,
  `synod.${CLUSTER}.*.*.a1`, `synod.${CLUSTER}.promise.a1.*`, `synod.${CLUSTER}.log.>`,
  '_INBOX.>', '_INBOX.*', '$SYS.>', 'synod.other.>', 'synod.*.status',
];

function formAllowed(type: MsgType, addressed: boolean): boolean {
  const rule = TARGET_RULE[type];
  return addressed ? rule !== TargetRule.Never : rule !== TargetRule.Always;
}

/** May `p` publish on the concrete subject `s`? */
export function mayPublish(p: TestPrincipal, s: string): boolean {
  const t = s.split('.');
  if (t[0] !== 'synod' || t[1] !== CLUSTER) return false;
  if (t.length === 3) {
    return p.role === 'client' && (t[2] === 'read' || t[2] === 'status' || t[2] === 'propose');
  }
  // Election snapshot requests: clients ask, learners answer (synod.<c>.snapshot.election).
  if (t[2] === 'snapshot') return t.length === 4 && t[3] === 'election' && p.role === 'client';
  // Retries after a timeout: clients send, only proposers hear (synod.<c>.propose.leader).
  if (t[2] === 'propose') return t.length === 4 && t[3] === 'leader' && p.role === 'client';
  // A learner publishes its deliveries on its own log subject only.
  if (t[2] === 'log') {
    return t.length === 4 && p.role === 'learner' && (p.id === null || t[3] === p.id);
  }
  const type = t[2];
  if (!isType(type) || (t.length !== 4 && t.length !== 5)) return false;
  if (!formAllowed(type, t.length === 5)) return false;
  // A learner sends `chosen` only in answer to a catch-up (addressed), never as a broadcast
  // decision of its own.
  if (type === 'chosen' && p.role === 'learner' && t.length === 4) return false;
  // Only a sender role of the type, and only as itself when bound to an id.
  return SENDER_ROLE[type].includes(p.role) && (p.id === null || t[3] === p.id);
}

/** May `p` subscribe to the concrete subject `s`? */
export function maySubscribeConcrete(p: TestPrincipal, s: string): boolean {
  const t = s.split('.');
  if (t[0] === '_INBOX') return p.role === 'client' && t.length >= 2;
  if (t[0] !== 'synod' || t[1] !== CLUSTER) return false;
  if (t.length === 3) {
    if (t[2] === 'status') return SERVICES.includes(p.role);
    if (t[2] === 'read') return p.role === 'learner';
    if (t[2] === 'propose') return p.role === 'proposer';
    return false;
  }
  if (t[2] === 'log') return t.length === 4 && p.role === 'client';
  if (t[2] === 'snapshot') return t.length === 4 && t[3] === 'election' && p.role === 'learner';
  if (t[2] === 'propose') return t.length === 4 && t[3] === 'leader' && p.role === 'proposer';
  const type = t[2];
  if (!isType(type) || (t.length !== 4 && t.length !== 5)) return false;
  const addressed = t.length === 5;
  if (!formAllowed(type, addressed)) return false;
  if (!addressed) return BROADCAST_AUDIENCE[type].includes(p.role);
  // Addressed messages only to itself when bound to an id.
  return ADDRESSED_AUDIENCE[type].includes(p.role) && (p.id === null || t[4] === p.id);
}

/** Values a `*` can stand for when a pattern is expanded. */
const TOKEN_POOL = [...IDS, ...MSG_TYPES, 'read', 'status', 'log', 'propose', 'leader',
  'snapshot', 'election', CLUSTER, 'other', 'x'];

/** Concrete subjects that a pattern matches, from {@link TOKEN_POOL} (`>` up to 3 tokens). */
export function expand(pattern: string): string[] {
  let acc: string[][] = [[]];
  for (const tok of pattern.split('.')) {
    if (tok === '*') {
      acc = acc.flatMap((a) => TOKEN_POOL.map((v) => [...a, v]));
    } else if (tok === '>') {
      const tails: string[][] = [];
      for (const v1 of TOKEN_POOL) {
        tails.push([v1]);
        for (const v2 of IDS) {
          tails.push([v1, v2]);
          tails.push([v1, v2, 'x']);
        }
      }
      acc = acc.flatMap((a) => tails.map((tail) => [...a, ...tail]));
    } else {
      acc = acc.map((a) => [...a, tok]);
    }
  }
  return acc.map((a) => a.join('.'));
}

/** A wildcard subscription is allowed when every subject it can match is. */
export function maySubscribe(p: TestPrincipal, pattern: string): boolean {
  if (!pattern.includes('*') && !pattern.includes('>')) return maySubscribeConcrete(p, pattern);
  return expand(pattern).every((s) => maySubscribeConcrete(p, s));
}

/** Services answer requests they received; clients answer nothing. */
export function mayRespond(p: TestPrincipal): boolean {
  return SERVICES.includes(p.role);
}

/** NATS subject matching: `*` one token, `>` one or more trailing tokens. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
