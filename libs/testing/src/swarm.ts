import { ENVELOPE_RESERVE_BYTES, type PlantedBug, Sfc32 } from '@synod/protocol';

/**
 * What the envelope takes of a simulated wire beside a value or a report: the cores' reserve
 * for node ids of up to 64 characters (`wireBudgetBytes`).
 */
const WIRE_RESERVE_BYTES = ENVELOPE_RESERVE_BYTES + 4 * 64;

/**
 * The fault and shape options of one simulated run. Swarm testing: each seed draws its own
 * mix (some seeds drop a lot and never crash, others crash often on a clean network), which
 * finds more bugs than one fixed mix of everything.
 */
export interface SwarmOptions {
  readonly acceptors: number;
  readonly proposers: number;
  readonly learners: number;
  readonly clients: number;
  /** Probability that a message is lost. */
  readonly dropRate: number;
  /** Probability that a message is delivered twice. */
  readonly dupRate: number;
  /** Delivery delay bounds in ticks; differing delays reorder messages. */
  readonly delayMin: number;
  readonly delayMax: number;
  /** Per-tick probability of a new partition (symmetric or asymmetric). */
  readonly partitionRate: number;
  /** Per-tick probability that partitions heal. */
  readonly healRate: number;
  /** Per-tick, per-node crash probabilities. */
  readonly acceptorCrashRate: number;
  readonly proposerCrashRate: number;
  readonly learnerCrashRate: number;
  /** Probability that an acceptor crashes between persisting and sending a Ready. */
  readonly crashMidReadyRate: number;
  /** Per-tick, per-node probability of a pause (a SIGSTOP). */
  readonly pauseRate: number;
  /** Largest tick period of a node's timer (1 = no skew; 3 = some nodes tick 3x slower). */
  readonly maxTickPeriod: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly retryTicks: number;
  readonly maxBatch: number;
  readonly maxInflight: number;
  /** Most votes an acceptor reports in one promise (small values exercise paged reports). */
  readonly maxPromiseEntries: number;
  /**
   * Votes kept below the learners' delivery point when the leader compacts acceptors' logs
   * (small values compact nearly everything decided; a huge one never compacts).
   */
  readonly retainVotes: number;
  /** Ticks of a learner's silence after which it no longer holds compaction back. */
  readonly learnerTimeoutTicks: number;
  /** Learners hear acceptors' broadcast votes (else they learn from `chosen` and catch-ups). */
  readonly learnersHearVotes: boolean;
  /** Followers that know a leader hear broadcast votes (else, as the service does, they don't). */
  readonly followersHearVotes: boolean;
  /**
   * Requests that reach a proposer at the same instant, one after another, are stepped as one
   * arrival (`stepMany`), as a proposer's driver steps the commands of a client's propose batch.
   */
  readonly requestBursts: boolean;
  /**
   * Most commands a proposer keeps in its retained decided slots (tiny values drop decided
   * values and dedupe entries right below `firstUnknown`, also while it campaigns).
   */
  readonly retainDecidedCommands: number;
  /**
   * Thrifty phase 2: leaders send accepts to the quorum of their latest decision only, and to
   * the other acceptors after `thriftyTimeoutTicks` (as `SYNOD_THRIFTY` does).
   */
  readonly thrifty: boolean;
  readonly thriftyTimeoutTicks: number;
  /**
   * Acceptors (a minority) that crash for good when the faults end and stay down through the
   * liveness phase: the cluster must still decide with the rest (a leader whose thrifty quorum
   * held one of them must turn to the others).
   */
  readonly deadAcceptorsAfterHeal: number;
  /**
   * While faults are on, each message may also be delivered once more much later (20 to 600
   * ticks: a stale duplicate, like a retransmission stuck behind a partition). Catches code that
   * trusts a message's ballot and slot to date it.
   */
  readonly staleDupRate: number;
  /**
   * Share of partitions that cut the leader off with a minority of the acceptors (and some
   * learners): it goes on proposing to them alone while the majority elects another leader and
   * decides other values in the same slots. The minority then holds, in slots decided without
   * it, votes that were never chosen, which phase 1 and the leader's recoveries of decided slots
   * must see past, and its learners lag behind the decided prefix.
   */
  readonly leaderMinorityPartitionShare: number;
  /**
   * A simulated wire limit (`maxMessageBytes`), 0 for none: a message whose JSON is larger is
   * dropped as a driver drops what it cannot encode (counted as `unsendable`), and the cores
   * get the byte budgets of this limit. Small values, with {@link payloadBytes}, make slots
   * and promise pages bounded by bytes rather than by count.
   */
  readonly wireBytes: number;
  /** Characters of padding added to each client command's payload; 0 for none. */
  readonly payloadPad: number;
  /**
   * The bytes in JSON of each padding character: 1 (`x`), 2 (`é`) or 6 (U+0001, written
   * `\u0001`).
   */
  readonly payloadPadBytes: number;
  /** Commands each client issues during the safety phase. */
  readonly commandsPerClient: number;
  /** Ticks with faults on. */
  readonly safetyTicks: number;
  /** Ticks allowed, after healing, for a new decision to reach every learner. */
  readonly livenessTicks: number;
  /** Probability that a client's next command is an election command (campaign/renew/resign). */
  readonly electionRate: number;
  /** Groups that election commands are about. */
  readonly electionGroups: number;
  /** Lease of every campaign and renewal, in milliseconds of log time (a tick is 10 ms). */
  readonly leaseTtlMs: number;
  /** Bound on each proposer's wall-clock offset from simulated time, in milliseconds. */
  readonly clockSkewMs: number;
  /** A planted bug, or none. */
  readonly plantedBug: PlantedBug | null;
}

function pick<T>(rng: Sfc32, xs: readonly T[]): T {
  return xs[rng.nextInt(xs.length)] as T;
}

/** Draws a seed's swarm. The same seed always gives the same options. */
export function swarmFor(seed: number, plantedBug: PlantedBug | null = null): SwarmOptions {
  const rng = new Sfc32(seed ^ 0x5eed5eed);
  const delayMax = 1 + rng.nextInt(6);
  const rtt = 2 * delayMax;
  const o: SwarmOptions = {
    acceptors: pick(rng, [3, 3, 5]),
    proposers: 2 + rng.nextInt(2),
    learners: 1 + rng.nextInt(3),
    clients: 2 + rng.nextInt(3),
    dropRate: rng.chance(0.25) ? 0 : rng.nextFloat() * 0.3,
    dupRate: rng.chance(0.3) ? 0 : rng.nextFloat() * 0.5,
    delayMin: 1,
    delayMax,
    partitionRate: pick(rng, [0, 0.002, 0.005, 0.01]),
    healRate: pick(rng, [0.01, 0.03, 0.1]),
    acceptorCrashRate: pick(rng, [0, 0.0005, 0.002, 0.005]),
    proposerCrashRate: pick(rng, [0, 0.0005, 0.002, 0.005]),
    learnerCrashRate: pick(rng, [0, 0.0005, 0.002]),
    crashMidReadyRate: pick(rng, [0, 0.002, 0.01, 0.03]),
    pauseRate: pick(rng, [0, 0.001, 0.003]),
    maxTickPeriod: pick(rng, [1, 1, 2, 3]),
    electionTicks: Math.max(8, 3 * rtt) + rng.nextInt(6),
    heartbeatTicks: 2,
    retryTicks: rtt + 2 + rng.nextInt(3),
    maxBatch: 1 + rng.nextInt(4),
    maxInflight: 1 + rng.nextInt(8),
    commandsPerClient: 20 + rng.nextInt(30),
    safetyTicks: 700 + rng.nextInt(500),
    livenessTicks: 1500,
    maxPromiseEntries: pick(rng, [2, 7, 4096]),
    electionRate: pick(rng, [0.2, 0.4, 0.7]),
    electionGroups: 1 + rng.nextInt(2),
    leaseTtlMs: pick(rng, [30, 100, 300, 1000]),
    clockSkewMs: pick(rng, [0, 0, 30, 300, 3000]),
    retainVotes: pick(rng, [0, 2, 8, 1_000_000]),
    learnerTimeoutTicks: pick(rng, [15, 40, 100]),
    learnersHearVotes: rng.chance(0.5),
    followersHearVotes: rng.chance(0.5),
    requestBursts: rng.chance(0.5),
    retainDecidedCommands: pick(rng, [8, 32, 1_000_000]),
    thrifty: rng.chance(0.5),
    thriftyTimeoutTicks: pick(rng, [1, 2, 5]),
    deadAcceptorsAfterHeal: 0,
    staleDupRate: 0,
    leaderMinorityPartitionShare: 0,
    wireBytes: 0,
    payloadPad: 0,
    payloadPadBytes: 1,
    plantedBug,
  };
  // Drawn last, so that every option above is what it was before this one existed.
  const dead = Math.min(pick(rng, [0, 0, 1, 2]), Math.floor((o.acceptors - 1) / 2));
  const staleDupRate = pick(rng, [0, 0, 0.002, 0.01]);
  const large = largePayloads(rng);
  const leaderMinorityPartitionShare = pick(rng, [0, 0, 0.5, 1]);
  return {
    ...o, deadAcceptorsAfterHeal: dead, staleDupRate, ...large, leaderMinorityPartitionShare,
  };
}

/**
 * One seed in ten: a small simulated wire and payloads that fill a third to all of a slot's
 * budget, so that batches and promise pages are cut by bytes (and a wrong bound shows as a
 * message that cannot be sent, then as a log or an election that never moves).
 */
function largePayloads(rng: Sfc32): Pick<SwarmOptions, 'wireBytes' | 'payloadPad' |
  'payloadPadBytes'> {
  if (!rng.chance(0.1)) return { wireBytes: 0, payloadPad: 0, payloadPadBytes: 1 };
  const budget = pick(rng, [600, 1500, 4000]);
  const payloadPadBytes = pick(rng, [1, 2, 6]);
  const perSlot = 1 + rng.nextInt(3);
  // What a command takes beside its padding: keys, client id, seq, the op name (< 100 bytes).
  const payloadPad = Math.floor((budget - 100) / perSlot / payloadPadBytes);
  return { wireBytes: budget + WIRE_RESERVE_BYTES, payloadPad, payloadPadBytes };
}

/** `key=value` pairs of the options, printed beside `seed=` so a failure explains itself. */
export function describeSwarm(o: SwarmOptions): string {
  const f = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(4));
  return Object.entries(o)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? f(v) : String(v)}`)
    .join(' ');
}
