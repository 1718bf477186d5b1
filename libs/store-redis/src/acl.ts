import { acceptorKeys, learnerKeys } from './keys.js';

/**
 * What a store needs from Redis, for a Redis ACL user of its own (`docs/security.md`). Each list
 * is every command the store or ioredis sends, written as ACL rule tokens; a command that a
 * store starts to use must be added here, or the store fails with NOPERM where the ACL is on
 * (the T5 tests in libs/deploy run the real stores under these rules).
 */

/** Commands ioredis sends on every connection: ready check, client name, health, close. */
export const CONNECTION_REDIS_COMMANDS = ['info', 'client|setname', 'ping', 'quit', 'select'];

/**
 * An acceptor's commands: load (`MGET`, `SET ... NX` of the marker, `SCAN` for stray keys,
 * `HSCAN`), persist (`EVALSHA`, `EVAL` on `NOSCRIPT`, and the script's own `GET`, `SET`,
 * `HSET`, and `HDEL` for log compaction; the write counter is read with `GET` and written with
 * `SET`, not `INCR`), the marker check (`MGET`) and the durability check (`CONFIG GET`).
 * Readmission (`npm run admin -- readmit`,
 * docs/operations.md) writes through the same user, in one `MULTI`/`EXEC`.
 */
export const ACCEPTOR_REDIS_COMMANDS: readonly string[] = [
  'get', 'set', 'mget', 'hset', 'hdel', 'scan', 'hscan', 'eval', 'evalsha', 'config|get',
  'multi', 'exec', 'discard', ...CONNECTION_REDIS_COMMANDS,
];

/**
 * A learner's commands: load (`GET`, `HSCAN`), read (`HLEN`, `HMGET`), persist (`EVALSHA`,
 * `EVAL`, and the script's `GET`, `HGET`, `HSET`, `SET`) and the durability check.
 */
export const LEARNER_REDIS_COMMANDS: readonly string[] = [
  'get', 'set', 'hget', 'hset', 'hlen', 'hmget', 'hscan', 'eval', 'evalsha', 'config|get',
  ...CONNECTION_REDIS_COMMANDS,
];

/** Which store a Redis ACL user is for. */
export type StoreRole = 'acceptor' | 'learner';

/** Options of {@link redisAclUser}. */
export interface RedisAclUserOptions {
  readonly role: StoreRole;
  readonly cluster: string;
  /** The node id; part of the key pattern. */
  readonly id: string;
  /** The ACL user name; default `<role>-<id>`. */
  readonly user?: string;
  /**
   * The password as written after `>` (plain text), or a template placeholder such as
   * `__PASSWORD__`. Letters and digits only, so that it survives a Redis URL and a `sed`
   * substitution unquoted.
   */
  readonly password: string;
}

/** The ACL user name of a store's node: `acceptor-a1`, `learner-l1`. */
export function redisUserName(role: StoreRole, id: string): string {
  return `${role}-${id}`;
}

/**
 * One `user ...` line for an ACL file: on, one password, its own keys only
 * (`synod:{<cluster>}:<role>:<id>:*`), no Pub/Sub channels, and only the store's commands.
 * `id` and `cluster` are checked as tokens by the key layout; template placeholders such as
 * `__ID__` are tokens too.
 */
export function redisAclUser(o: RedisAclUserOptions): string {
  if (!/^[A-Za-z0-9_]+$/.test(o.password)) {
    throw new RangeError('a Redis ACL password must be letters and digits (or a placeholder)');
  }
  const pattern = o.role === 'acceptor'
    ? acceptorKeys(o.cluster, o.id).prefix
    : learnerKeys(o.cluster, o.id).prefix;
  const commands = o.role === 'acceptor' ? ACCEPTOR_REDIS_COMMANDS : LEARNER_REDIS_COMMANDS;
  const user = o.user ?? redisUserName(o.role, o.id);
  return [
    'user', user, 'reset', 'on', `>${o.password}`, `~${pattern}*`, 'resetchannels', '-@all',
    ...commands.map((c) => `+${c}`),
  ].join(' ');
}

/**
 * The `default` user: `off`, so that no client can use it: every unauthenticated command, PING
 * included, is refused with NOAUTH, and `AUTH default ...` fails. Its permissions are all
 * commands and all keys anyway, because Redis itself still runs as `default` when it replays
 * the AOF: a script whose effects are more than one command is propagated wrapped in
 * MULTI/EXEC, and on reload EXEC re-checks each queued command against `default`
 * (redis/redis#14541, fixed by redis/redis#14545 only in newer Redis; valkey#3983). With a
 * `default` user that may not write, Redis 7.0 silently dropped every such block on restart:
 * acknowledged votes and decisions were lost. (Narrower rules, e.g. `~synod:* +set +hset +hdel`,
 * also survive a reload on 7.0.15, but a command the scripts start to write would again be
 * dropped in silence; an `off` user's permissions are unreachable by clients.) Health checks
 * treat NOAUTH as "Redis answers" (docs/security.md).
 */
export const REDIS_DEFAULT_USER = 'user default reset off nopass ~* &* +@all';
