import {
  electionSnapshotSubject,
  isValidToken,
  leaderProposeSubject,
  logPattern,
  logSubject,
  proposeSubject,
  publicationsFor,
  readSubject,
  ROUTES,
  SUBJECT_PREFIX,
  subscriptionsFor,
} from '@synod/codec';
import type { Role } from '@synod/protocol';
import { statusSubject } from '@synod/runtime';

/**
 * NATS users and permissions, generated from the one subject table (`ROUTES` in
 * `@synod/codec`, with the client API and status subjects beside it). Nothing here is written by
 * hand per role: a route added to the table changes every permission that follows from it, and
 * `npm run gen-auth -- --check` (and the deploy tests) fail until the files are regenerated.
 */

/**
 * Who connects to NATS. Every service is a principal of its own (`id` set): acceptor `a1` may
 * speak only as `a1`, proposer `p1` only as `p1`, learner `l1` only as `l1`. Proposers and
 * learners therefore come from a bounded pool of ids known beforehand (a deployment's
 * `SYNOD_PROPOSER_POOL` and `SYNOD_LEARNER_POOL`; on Kubernetes the StatefulSet ordinals up to
 * the autoscaler's maximum). Clients are many and unnamed: one principal for the role (`id`
 * null), kept away from every service's subjects.
 */
export interface NatsPrincipal {
  readonly role: Role;
  /** The node id this principal is bound to, or null for any id of its role (clients). */
  readonly id: string | null;
  /** The NATS user name: `<role>-<id>` ({@link natsUser}), or `client`. */
  readonly user: string;
}

/** The node ids that get a NATS user of their own, per service role. */
export interface NodePools {
  /** The acceptor set (`SYNOD_ACCEPTORS`). */
  readonly acceptors: readonly string[];
  /** Every id a proposer may run under (`SYNOD_PROPOSER_POOL`). */
  readonly proposers: readonly string[];
  /** Every id a learner may run under (`SYNOD_LEARNER_POOL`). */
  readonly learners: readonly string[];
}

/** Publish and subscribe permissions of one principal. */
export interface NatsPermissions {
  /** Subjects (with `*` wildcards) it may publish on. */
  readonly publish: readonly string[];
  /** Subjects (with wildcards) it may subscribe to. */
  readonly subscribe: readonly string[];
  /**
   * Subscribe denials that close a gap of NATS's wildcard check: the server accepts a
   * subscription whose tokens match an allowed pattern *as literals*, so `x.*` also admits a
   * subscription to `x.>`, which would receive `x.a.b`. Denying `x.*.>` makes the server filter
   * such deliveries out. Made for every allowed pattern ending in `*` that no longer allowed
   * pattern extends (see {@link longerDenials}).
   */
  readonly subscribeDeny: readonly string[];
  /**
   * It may answer requests it received (NATS `allow_responses`): one reply to each request's
   * reply subject, within {@link RESPONSE_EXPIRY}. Services answer client requests, reads and
   * status this way, so no service may publish on `_INBOX.>` at large.
   */
  readonly allowResponses: boolean;
}

/** How long a service may take to answer a request (NATS `allow_responses.expires`). */
export const RESPONSE_EXPIRY = '1m';

/** The reply subjects of the NATS client library's requests. */
export const INBOX_PATTERN = '_INBOX.>';

/** The NATS user of a node: `acceptor-a1`, `proposer-p1`, `learner-l1`; `client` for clients. */
export function natsUser(role: Role, id: string): string {
  if (role === 'client') return 'client';
  checkId(id);
  return `${role}-${id}`;
}

/**
 * The principals of a cluster: one per acceptor, proposer and learner id of `pools`, then the
 * clients. Throws when an id is invalid or appears twice (node ids are unique in a cluster), or
 * when two users would share a password variable (`p-1` and `p_1`, `P1` and `p1`).
 */
export function natsPrincipals(pools: NodePools): NatsPrincipal[] {
  const all = [...pools.acceptors, ...pools.proposers, ...pools.learners];
  for (const id of all) checkId(id);
  const twice = all.filter((id, i) => all.indexOf(id) !== i);
  if (twice.length > 0) throw new RangeError(`node id used twice: ${twice.join(', ')}`);
  const bound = (role: 'acceptor' | 'proposer' | 'learner', ids: readonly string[]) =>
    ids.map((id): NatsPrincipal => ({ role, id, user: natsUser(role, id) }));
  const out: NatsPrincipal[] = [
    ...bound('acceptor', pools.acceptors),
    ...bound('proposer', pools.proposers),
    ...bound('learner', pools.learners),
    { role: 'client', id: null, user: 'client' },
  ];
  const vars = out.map((p) => natsPasswordVar(p.user));
  const clash = vars.filter((v, i) => vars.indexOf(v) !== i);
  if (clash.length > 0) throw new RangeError(`password variable used twice: ${clash.join(', ')}`);
  return out;
}

/**
 * The permissions of a principal of `role` (bound to `id`, or to any id when null) in
 * `cluster`. The generated files bind every service to its id and only clients to their role
 * (see {@link natsPrincipals}); the role-wide form is what a client gets.
 *
 * - Protocol subjects, from `ROUTES`: with an id, exactly `publicationsFor` and
 *   `subscriptionsFor`; without, the same with `*` in the sender (publish) or target
 *   (subscribe) token.
 * - Client API: learners publish deliveries on `synod.<c>.log.<learner>` and answer reads on
 *   `synod.<c>.read` and election snapshot requests on `synod.<c>.snapshot.election`; clients
 *   publish reads and snapshot requests and may watch every learner's log; clients publish
 *   propose batches on `synod.<c>.propose` (queue group) and, when retrying after a
 *   timeout, on `synod.<c>.propose.leader` (only the leader answers); proposers answer.
 * - Status: every service answers on `synod.<c>.status`; clients ask there.
 * - Replies: services answer through `allow_responses`; clients, who make requests, subscribe
 *   to their reply inboxes (`_INBOX.>`).
 */
export function natsPermissions(cluster: string, role: Role, id: string | null): NatsPermissions {
  checkId(cluster);
  if (id !== null) checkId(id);
  const publish = id === null
    ? rolePublications(cluster, role) : publicationsFor(cluster, role, id);
  const subscribe = id === null
    ? roleSubscriptions(cluster, role) : subscriptionsFor(cluster, role, id);
  const status = statusSubject(cluster);
  const make = (pub: string[], sub: string[], allowResponses: boolean): NatsPermissions =>
    ({ publish: pub, subscribe: sub, subscribeDeny: longerDenials(sub), allowResponses });
  switch (role) {
    case 'acceptor':
      return make(publish, [...subscribe, status], true);
    case 'proposer':
      return make(publish,
        [...subscribe, proposeSubject(cluster), leaderProposeSubject(cluster), status], true);
    case 'learner':
      return make([...publish, id === null ? logPattern(cluster) : logSubject(cluster, id)],
        [...subscribe, readSubject(cluster), electionSnapshotSubject(cluster), status], true);
    case 'client':
      return make([...publish, proposeSubject(cluster), leaderProposeSubject(cluster),
        readSubject(cluster), electionSnapshotSubject(cluster), status],
        [...subscribe, logPattern(cluster), INBOX_PATTERN], false);
  }
}

/**
 * `p.>` for every allowed pattern `p` that ends in `*`, unless another allowed pattern has more
 * tokens under it (denying those would refuse a subscription the role needs): e.g. `x.*`
 * gives `x.*.>` when `x.*.*` is not allowed too.
 */
export function longerDenials(allowed: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of allowed) {
    if (!p.endsWith('.*')) continue;
    const deny = `${p}.>`;
    const n = p.split('.').length;
    const extended = allowed.some((q) => q.split('.').length > n && covers(deny, q));
    if (!extended) out.push(deny);
  }
  return out;
}

/** Whether pattern `a` matches every subject pattern `b` matches (token by token). */
function covers(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < x.length; i++) {
    if (x[i] === '>') return y.length > i;
    if (i >= y.length) return false;
    if (x[i] !== '*' && x[i] !== y[i]) return false;
  }
  return x.length === y.length;
}

/** `publicationsFor` with `*` for the sender: any node of the role. */
function rolePublications(cluster: string, role: Role): string[] {
  return ROUTES.filter((r) => r.senders.includes(role)).map((r) => {
    const base = `${SUBJECT_PREFIX}.${cluster}.${r.type}.*`;
    return r.addressed ? `${base}.*` : base;
  });
}

/** `subscriptionsFor` with `*` for the target: what is addressed to any node of the role. */
function roleSubscriptions(cluster: string, role: Role): string[] {
  return ROUTES.filter((r) => r.audience.includes(role)).map((r) => {
    const base = `${SUBJECT_PREFIX}.${cluster}.${r.type}.*`;
    return r.addressed ? `${base}.*` : base;
  });
}

/** The environment variable that holds a NATS user's password: `SYNOD_NATS_PASSWORD_<USER>`. */
export function natsPasswordVar(user: string): string {
  return `SYNOD_NATS_PASSWORD_${user.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** Options of {@link renderNatsAuth}. */
export interface NatsAuthOptions extends NodePools {
  readonly cluster: string;
  /**
   * The password of each user as NATS config text. Default: the environment variable
   * {@link natsPasswordVar} (`$SYNOD_NATS_PASSWORD_PROPOSER_P1`), which nats-server reads at
   * start, so the file holds no secret.
   */
  readonly password?: (user: string) => string;
  /** More user entries, as NATS config text (tests add an observer). */
  readonly extraUsers?: readonly string[];
}

/**
 * The `authorization { users = [...] }` block of nats-server's configuration for a cluster:
 * every principal of {@link natsPrincipals} with its {@link natsPermissions}. There is no
 * default user and no `no_auth_user`: a connection without valid credentials is refused.
 */
export function renderNatsAuth(o: NatsAuthOptions): string {
  const pw = o.password ?? ((user: string) => `$${natsPasswordVar(user)}`);
  const users = natsPrincipals(o).map((p) => {
    const perms = natsPermissions(o.cluster, p.role, p.id);
    const lines = [
      `    # ${p.role} ${p.id ?? '(any id)'}`,
      '    {',
      `      user: ${JSON.stringify(p.user)}`,
      `      password: ${pw(p.user)}`,
      '      permissions: {',
      `        publish: { allow: ${list(perms.publish)} }`,
      perms.subscribeDeny.length === 0
        ? `        subscribe: { allow: ${list(perms.subscribe)} }`
        : `        subscribe: {\n          allow: ${list(perms.subscribe, 12)}\n` +
          `          deny: ${list(perms.subscribeDeny, 12)}\n        }`,
    ];
    if (perms.allowResponses) {
      lines.push(`        allow_responses: { max: 1, expires: "${RESPONSE_EXPIRY}" }`);
    }
    lines.push('      }', '    }');
    return lines.join('\n');
  });
  return [
    '# Generated by `npm run gen-auth` from the subject table (libs/codec ROUTES, client API and',
    '# status subjects) through libs/deploy. Do not edit: change the table and regenerate.',
    `# cluster: ${o.cluster}; acceptors: ${o.acceptors.join(', ')}`,
    `# proposers: ${o.proposers.join(', ')}; learners: ${o.learners.join(', ')}`,
    '# Passwords come from the environment of nats-server (SYNOD_NATS_PASSWORD_<USER>).',
    'authorization {',
    '  users = [',
    [...users, ...(o.extraUsers ?? [])].join('\n'),
    '  ]',
    '}',
    '',
  ].join('\n');
}

/** One subject per line, indented under the permission. */
function list(subjects: readonly string[], indent = 10): string {
  const items = subjects.map((s) => `${' '.repeat(indent)}${JSON.stringify(s)}`);
  return `[\n${items.join('\n')}\n${' '.repeat(indent - 2)}]`;
}

function checkId(s: string): void {
  if (!isValidToken(s)) throw new RangeError(`not a valid cluster name or node id: ${s}`);
}
