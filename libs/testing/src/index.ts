/**
 * @synod/testing: the deterministic simulator, its swarm of faults and its checkers.
 */
export { type Timed, TimedHeap } from './heap.js';
export { describeSwarm, type SwarmOptions, swarmFor } from './swarm.js';
export { SafetyChecker, type Violation, type ViolationKind } from './checker.js';
export { TraceHash, type TraceEvent, type TraceSink } from './trace.js';
export { CALM, type RunOptions, runSeed, type SeedResult, Simulation } from './simulator.js';
