/**
 * @synod/store-redis: the Redis adapters of the runtime's `AcceptorStore` and `LearnerStore`
 * ports, and the only place in Synod that imports `ioredis`.
 *
 * An acceptor's votes are written by one atomic Lua script per Ready and are on disk when the
 * reply comes back (Redis must run with `appendonly yes` and `appendfsync always`; `load()`
 * checks). An incarnation marker guards against amnesia: an acceptor whose Redis was wiped or
 * replaced refuses to vote instead of forgetting its promises.
 */
export { StoreError, StoreErrorCode } from './errors.js';
export { DEFAULT_COMMAND_TIMEOUT_MS, type RedisStoreOptions } from './connection.js';
export { type AcceptorKeys, acceptorKeys, type LearnerKeys, learnerKeys } from './keys.js';
export { type AcceptorMarker, MARKER_VERSION } from './records.js';
export { RedisAcceptorStore, type RedisAcceptorStoreOptions } from './acceptor-store.js';
export {
  type LearnerStoreUsage, RedisLearnerStore, type RedisLearnerStoreOptions,
} from './learner-store.js';
export {
  type AcceptorRedis,
  checkReadmitSet,
  mergeStates,
  readmitAcceptor,
  type ReadmitOptions,
  type ReadmitResult,
} from './readmit.js';
export {
  ACCEPTOR_REDIS_COMMANDS,
  CONNECTION_REDIS_COMMANDS,
  LEARNER_REDIS_COMMANDS,
  REDIS_DEFAULT_USER,
  redisAclUser,
  type RedisAclUserOptions,
  redisUserName,
  type StoreRole,
} from './acl.js';
