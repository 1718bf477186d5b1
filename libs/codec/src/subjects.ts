import {
  BROADCAST_AUDIENCE,
  type Message,
  messageTarget,
  MSG_TYPES,
  type MsgType,
  type Role,
  SENDER_ROLE,
} from '@synod/protocol';
import { decode } from './codec.js';
import { DecodeError, describeInput, SubjectError, SubjectErrorCode } from './errors.js';
import { type Limits, resolveLimits, TOKEN_PATTERN } from './limits.js';

/**
 * NATS subjects. Every message travels on
 *
 *   `synod.<cluster>.<type>.<sender>`            when it is a broadcast (no `to`), or
 *   `synod.<cluster>.<type>.<sender>.<target>`   when it is addressed to one node (`to`),
 *
 * so a node subscribes to broadcasts with `synod.<c>.<type>.*` and to what is addressed to it
 * with `synod.<c>.<type>.*.<id>`, and NATS permissions can pin each principal to its own sender
 * token. The receiver checks that the payload agrees with the subject ({@link checkSubject}).
 */

/** First token of every Synod subject. */
export const SUBJECT_PREFIX = 'synod';

/** Whether messages of a type carry `to`: never (broadcast), always (addressed), or either. */
export const TargetRule = {
  Never: 'never',
  Always: 'always',
  Optional: 'optional',
} as const;
/** One of {@link TargetRule}'s values. */
export type TargetRule = (typeof TargetRule)[keyof typeof TargetRule];

/** The target rule of each message type, as `@synod/protocol` declares the `to` field. */
export const TARGET_RULE: Readonly<Record<MsgType, TargetRule>> = {
  prepare: TargetRule.Never,
  promise: TargetRule.Always,
  nack: TargetRule.Always,
  accept: TargetRule.Optional,
  accepted: TargetRule.Optional,
  chosen: TargetRule.Optional,
  heartbeat: TargetRule.Never,
  catchup: TargetRule.Never,
  request: TargetRule.Optional,
  response: TargetRule.Always,
  progress: TargetRule.Never,
};

/**
 * Who receives addressed messages of each type. An addressed message answers another one, so
 * its audience is the sender role of what it answers: a promise answers a prepare, a nack a
 * prepare or an accept, an addressed accepted or chosen a catch-up, a response a request. An
 * addressed request is a follower forwarding a client's command to the leader (a proposer).
 */
export const ADDRESSED_AUDIENCE: Readonly<Record<MsgType, readonly Role[]>> = {
  prepare: [],
  promise: SENDER_ROLE.prepare,
  nack: unique([...SENDER_ROLE.prepare, ...SENDER_ROLE.accept]),
  accept: ['acceptor'],
  accepted: SENDER_ROLE.catchup,
  chosen: SENDER_ROLE.catchup,
  heartbeat: [],
  catchup: [],
  request: ['proposer'],
  response: SENDER_ROLE.request,
  progress: [],
};

/** One way a message type travels: who may publish it and who subscribes to it. */
export interface Route {
  readonly type: MsgType;
  /** True for `synod.<c>.<type>.<sender>.<target>`, false for `synod.<c>.<type>.<sender>`. */
  readonly addressed: boolean;
  /** Roles that publish it (`SENDER_ROLE`). */
  readonly senders: readonly Role[];
  /** Roles that subscribe: `BROADCAST_AUDIENCE`, or {@link ADDRESSED_AUDIENCE} (the target). */
  readonly audience: readonly Role[];
}

/**
 * Roles that send a type only addressed, never broadcast: a learner sends `chosen` only in
 * answer to a catch-up (from its durable log), never as a decision of its own.
 */
export const ADDRESSED_ONLY_SENDERS: Readonly<Partial<Record<MsgType, readonly Role[]>>> = {
  chosen: ['learner'],
};

/** Every route: one per message type and form (broadcast, addressed) that its rule allows. */
export const ROUTES: readonly Route[] = MSG_TYPES.flatMap((type): Route[] => {
  const rule = TARGET_RULE[type];
  const senders = SENDER_ROLE[type];
  const addressedOnly = ADDRESSED_ONLY_SENDERS[type] ?? [];
  const out: Route[] = [];
  if (rule !== TargetRule.Always) {
    out.push({
      type, addressed: false, senders: senders.filter((r) => !addressedOnly.includes(r)),
      audience: BROADCAST_AUDIENCE[type],
    });
  }
  if (rule !== TargetRule.Never) {
    out.push({ type, addressed: true, senders, audience: ADDRESSED_AUDIENCE[type] });
  }
  return out;
});

/** A subject taken apart by {@link parseSubject}. */
export interface ParsedSubject {
  readonly cluster: string;
  readonly type: MsgType;
  readonly sender: string;
  /** The addressee, or null for a broadcast. */
  readonly target: string | null;
}

const MSG_TYPE_SET: ReadonlySet<string> = new Set(MSG_TYPES);

/**
 * The subject `msg` is published on in `cluster`. Throws {@link SubjectError} when the cluster
 * or an id is not a valid token, or when the presence of `to` breaks the type's target rule.
 */
export function subjectFor(cluster: string, msg: Message, limits?: Partial<Limits>): string {
  const max = resolveLimits(limits).maxNodeIdLength;
  checkToken(cluster, 'cluster', max);
  checkToken(msg.from, 'sender', max);
  const target = messageTarget(msg);
  checkTargetRule(msg.type, target !== null);
  const base = `${SUBJECT_PREFIX}.${cluster}.${msg.type}.${msg.from}`;
  if (target === null) return base;
  checkToken(target, 'target', max);
  return `${base}.${target}`;
}

/**
 * Takes a subject apart, or throws {@link SubjectError}. It does not look at any payload;
 * tokens are limited to `maxNodeIdLength` of `limits`.
 */
export function parseSubject(subject: string, limits?: Partial<Limits>): ParsedSubject {
  const max = resolveLimits(limits).maxNodeIdLength;
  // Bound the work before splitting: prefix, type and three tokens of at most `max` each.
  if (typeof subject !== 'string' || subject.length > 3 * (max + 1) + 32) {
    throw new SubjectError(SubjectErrorCode.BadSubject, `not a subject: ${describeInput(subject)}`);
  }
  const tokens = subject.split('.');
  if (tokens.length < 4 || tokens.length > 5 || tokens[0] !== SUBJECT_PREFIX) {
    throw new SubjectError(SubjectErrorCode.BadSubject,
      `expected ${SUBJECT_PREFIX}.<cluster>.<type>.<sender>[.<target>]: ${describeInput(subject)}`);
  }
  const [, cluster = '', type = '', sender = '', target] = tokens;
  checkToken(cluster, 'cluster', max);
  if (!MSG_TYPE_SET.has(type)) {
    throw new SubjectError(SubjectErrorCode.UnknownType, `type ${describeInput(type)}`);
  }
  checkToken(sender, 'sender', max);
  if (target !== undefined) checkToken(target, 'target', max);
  const t = type as MsgType;
  checkTargetRule(t, target !== undefined);
  return { cluster, type: t, sender, target: target ?? null };
}

/**
 * Checks that a decoded message is the one its subject announces: same type, `from` equal to
 * the sender token, `to` equal to the target token (both absent for a broadcast), and, when
 * `cluster` is given, the receiver's cluster. Throws {@link SubjectError} otherwise. This is
 * what makes NATS publish permissions on the sender token mean something.
 */
export function checkSubject(subject: ParsedSubject, msg: Message, cluster?: string): void {
  if (cluster !== undefined && subject.cluster !== cluster) {
    throw new SubjectError(SubjectErrorCode.ClusterMismatch,
      `subject cluster ${subject.cluster}, receiver cluster ${cluster}`);
  }
  if (msg.type !== subject.type) {
    throw new SubjectError(SubjectErrorCode.TypeMismatch,
      `subject type ${subject.type}, payload type ${msg.type}`);
  }
  if (msg.from !== subject.sender) {
    throw new SubjectError(SubjectErrorCode.SenderMismatch,
      `subject sender ${subject.sender}, payload from ${msg.from}`);
  }
  const target = messageTarget(msg);
  if (target !== subject.target) {
    throw new SubjectError(SubjectErrorCode.TargetMismatch,
      `subject target ${subject.target ?? '(none)'}, payload to ${target ?? '(none)'}`);
  }
}

/** Options of {@link decodeDelivery}. */
export interface DeliveryOptions {
  /** The receiver's cluster: a subject of another cluster is refused (`CLUSTER_MISMATCH`). */
  readonly cluster?: string;
  /** Limit overrides for the subject and the payload (see `resolveLimits`). */
  readonly limits?: Partial<Limits>;
}

/**
 * What a transport does with each NATS delivery: parse the subject (refusing a bad one before
 * touching the payload), decode the payload, and check that the two agree. Throws
 * {@link SubjectError} or {@link DecodeError}, and nothing else.
 */
export function decodeDelivery(
  subject: string,
  bytes: Uint8Array,
  opts?: DeliveryOptions,
): Message {
  const parsed = parseSubject(subject, opts?.limits);
  const msg = decode(bytes, opts?.limits);
  checkSubject(parsed, msg, opts?.cluster);
  return msg;
}

/** The result of {@link tryDecodeDelivery}. */
export type DeliveryResult =
  | { readonly ok: true; readonly msg: Message }
  | { readonly ok: false; readonly error: DecodeError | SubjectError };

/** Like {@link decodeDelivery}, but returns the refusal instead of throwing it. */
export function tryDecodeDelivery(
  subject: string,
  bytes: Uint8Array,
  opts?: DeliveryOptions,
): DeliveryResult {
  try {
    return { ok: true, msg: decodeDelivery(subject, bytes, opts) };
  } catch (e) {
    if (e instanceof DecodeError || e instanceof SubjectError) return { ok: false, error: e };
    throw e;
  }
}

/**
 * The subjects a node of `role` with id `id` subscribes to in `cluster`: `synod.<c>.<type>.*`
 * for each broadcast whose audience includes the role, and `synod.<c>.<type>.*.<id>` for each
 * addressed type whose audience includes it. Ordered by message type, broadcast first.
 */
export function subscriptionsFor(cluster: string, role: Role, id: string): string[] {
  checkToken(cluster, 'cluster', resolveLimits().maxNodeIdLength);
  checkToken(id, 'id', resolveLimits().maxNodeIdLength);
  const out: string[] = [];
  for (const r of ROUTES) {
    if (!r.audience.includes(role)) continue;
    const base = `${SUBJECT_PREFIX}.${cluster}.${r.type}.*`;
    out.push(r.addressed ? `${base}.${id}` : base);
  }
  return out;
}

/**
 * The subjects a node of `role` with id `id` may publish on in `cluster` (for NATS publish
 * permissions): `synod.<c>.<type>.<id>` and `synod.<c>.<type>.<id>.*` for each route whose
 * senders include the role.
 */
export function publicationsFor(cluster: string, role: Role, id: string): string[] {
  checkToken(cluster, 'cluster', resolveLimits().maxNodeIdLength);
  checkToken(id, 'id', resolveLimits().maxNodeIdLength);
  const out: string[] = [];
  for (const r of ROUTES) {
    if (!r.senders.includes(role)) continue;
    const base = `${SUBJECT_PREFIX}.${cluster}.${r.type}.${id}`;
    out.push(r.addressed ? `${base}.*` : base);
  }
  return out;
}

/** True when `s` can be a cluster name or node id: 1 to `max` of `[A-Za-z0-9_-]`. */
export function isValidToken(s: string, max = resolveLimits().maxNodeIdLength): boolean {
  return typeof s === 'string' && s.length <= max && TOKEN_PATTERN.test(s);
}

function checkToken(s: string, what: string, max: number): void {
  if (!isValidToken(s, max)) {
    throw new SubjectError(SubjectErrorCode.BadToken,
      `${what} must be 1 to ${max} of [A-Za-z0-9_-]: ${describeInput(s)}`);
  }
}

function checkTargetRule(type: MsgType, hasTarget: boolean): void {
  const rule = TARGET_RULE[type];
  if (rule === TargetRule.Never && hasTarget) {
    throw new SubjectError(SubjectErrorCode.BadTarget, `${type} is never addressed`);
  }
  if (rule === TargetRule.Always && !hasTarget) {
    throw new SubjectError(SubjectErrorCode.BadTarget, `${type} is always addressed`);
  }
}

function unique<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}
