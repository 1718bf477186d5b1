/**
 * @synod/deploy: the security of a deployment, generated from one source. NATS users and their
 * publish/subscribe permissions come from the subject table of `@synod/codec`; Redis ACL users
 * come from the commands and key prefixes of `@synod/store-redis`. `npm run gen-auth` writes the
 * files that compose and Kubernetes mount; docs/security.md says what they enforce.
 */
export {
  INBOX_PATTERN,
  longerDenials,
  type NatsAuthOptions,
  natsPasswordVar,
  type NatsPermissions,
  natsPermissions,
  type NatsPrincipal,
  natsPrincipals,
  natsUser,
  type NodePools,
  renderNatsAuth,
  RESPONSE_EXPIRY,
} from './nats-auth.js';
export {
  ACL_PLACEHOLDERS,
  fillRedisAcl,
  redisUrlWithUser,
  renderRedisAclTemplate,
} from './redis-acl.js';
export {
  AUTH_TARGETS,
  type AuthTarget,
  type ClusterShape,
  clusterShape,
  type GeneratedFile,
  generatedFiles,
  natsPasswordVars,
  parseEnvFile,
  REDIS_DIRS,
  START_REDIS_SCRIPT,
} from './files.js';
export {
  type LocalSecurity,
  localSecurity,
  type LocalSecurityOptions,
  type Login,
  randomPassword,
} from './local.js';
