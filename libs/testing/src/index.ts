/**
 * @synod/testing: the deterministic simulator, its swarm of faults and its checkers.
 */
export { type Timed, TimedHeap } from './heap.js';
export { describeSwarm, type SwarmOptions, swarmFor } from './swarm.js';
export { SafetyChecker, type Violation, type ViolationKind } from './checker.js';
export { TraceHash, type TraceEvent, type TraceSink } from './trace.js';
export {
  ElectionChecker,
  type ElectionTally,
  type ElectionViolationKind,
  isElectionPayload,
} from './election-checker.js';
export {
  CALM,
  MS_PER_TICK,
  type RunOptions,
  runSeed,
  type SeedResult,
  Simulation,
} from './simulator.js';
// Test infrastructure: real nats-server / redis-server / service processes on loopback ports.
export { freePort, probeTcp } from './infra/net.js';
export { type OutputLine } from './infra/lines.js';
export {
  type ExitInfo,
  MissingBinaryError,
  parentDeathSignalSupported,
  ServerStartError,
} from './infra/process.js';
export {
  natsAnswers,
  natsForTest,
  type NatsServer,
  startNats,
  type StartNatsOptions,
  type TestNats,
} from './infra/nats.js';
export {
  redisAnswers,
  redisForTest,
  type RedisServer,
  startRedis,
  type StartRedisOptions,
  type TestRedis,
} from './infra/redis.js';
export { type ServiceProcess, spawnService, type SpawnServiceOptions } from './infra/service.js';
export { runningLocalCluster, type RunningLocalCluster } from './cluster-file.js';
export {
  type Credentials,
  type LocalClusterOptions,
  LocalCluster,
  type LocalNode,
  type RedisAclSetup,
  type ServiceRole,
} from './local-cluster.js';
