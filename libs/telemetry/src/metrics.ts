import type {
  Attributes,
  Counter,
  Histogram,
  Meter,
  ObservableResult,
} from '@opentelemetry/api';

/** Bucket bounds of latency histograms, in seconds: 100 µs to 5 s. */
export const LATENCY_BUCKETS_S: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** Metric names as instruments are created (Prometheus replaces dots with underscores). */
export const MetricName = {
  RoundsStarted: 'synod.rounds.started',
  RoundsWon: 'synod.rounds.won',
  RoundsPreempted: 'synod.rounds.preempted',
  LeaderChanges: 'synod.leader.changes',
  NacksSent: 'synod.nacks.sent',
  NacksReceived: 'synod.nacks.received',
  Votes: 'synod.votes',
  Decisions: 'synod.decisions',
  PhaseSeconds: 'synod.phase.seconds',
  PersistSeconds: 'synod.persist.seconds',
  Rejected: 'synod.messages.rejected',
  Received: 'synod.messages.received',
  Sent: 'synod.messages.sent',
  Leader: 'synod.proposer.leader',
  BallotRound: 'synod.ballot.round',
  QueueDepth: 'synod.queue.depth',
  FirstUnknownSlot: 'synod.slot.first_unknown',
  NextSlot: 'synod.learner.next_slot',
  StoreUsedBytes: 'synod.learner.store.used_bytes',
  StoreMaxBytes: 'synod.learner.store.max_bytes',
  LogSlots: 'synod.learner.log.slots',
} as const;

/** What the observable gauges read from a running service; every field optional. */
export interface GaugeSource {
  /** Proposer: 1 while this proposer leads, else 0. */
  readonly isLeader?: () => boolean;
  /** Proposer: its ballot's round; acceptor: its promise's round (0 when none). */
  readonly ballotRound?: () => number;
  /** Proposer: client commands waiting for a slot. */
  readonly pending?: () => number;
  /** Proposer: slots in phase 2. */
  readonly inflight?: () => number;
  /** Proposer: every slot below it is known decided. */
  readonly firstUnknown?: () => number;
  /** Learner: every slot below it is delivered. */
  readonly nextSlot?: () => number;
  /** Learner: the last reading of its Redis (`maxBytes` 0: no maxmemory), null before one. */
  readonly storage?: () => { usedBytes: number; maxBytes: number; slots: number } | null;
}

/**
 * The instruments of one Synod service. Counting is a few hash lookups per call; with
 * `OTEL_SDK_DISABLED=true` the meter is a no-op and so is every call here.
 */
export class SynodMetrics {
  readonly roundsStarted: Counter;
  readonly roundsWon: Counter;
  readonly roundsPreempted: Counter;
  readonly leaderChanges: Counter;
  readonly nacksSent: Counter;
  readonly nacksReceived: Counter;
  readonly votes: Counter;
  readonly decisions: Counter;
  readonly phaseSeconds: Histogram;
  readonly persistSeconds: Histogram;
  readonly rejected: Counter;
  readonly received: Counter;
  readonly sent: Counter;

  constructor(meter: Meter) {
    const counter = (name: string, description: string): Counter =>
      meter.createCounter(name, { description });
    const histogram = (name: string, description: string): Histogram =>
      meter.createHistogram(name, {
        description, unit: 's', advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS_S] },
      });
    this.roundsStarted = counter(MetricName.RoundsStarted,
      'Ballots this proposer started phase 1 with (elections it ran)');
    this.roundsWon = counter(MetricName.RoundsWon,
      'Ballots for which a quorum promised: this proposer became leader');
    this.roundsPreempted = counter(MetricName.RoundsPreempted,
      'Ballots this proposer gave up because it saw a higher one');
    this.leaderChanges = counter(MetricName.LeaderChanges,
      'Times the leader this service believes in changed');
    this.nacksSent = counter(MetricName.NacksSent, 'Nacks sent by an acceptor, by reason');
    this.nacksReceived = counter(MetricName.NacksReceived,
      'Nacks received by a proposer, by reason');
    this.votes = counter(MetricName.Votes, 'Promises and accepts an acceptor made, by kind');
    this.decisions = counter(MetricName.Decisions,
      'Slots decided (proposer: chosen; learner: delivered in order)');
    this.phaseSeconds = histogram(MetricName.PhaseSeconds,
      'Phase latency: phase 1 from prepare to a quorum of promises, phase 2 from accept to ' +
      'chosen');
    this.persistSeconds = histogram(MetricName.PersistSeconds,
      'Redis write latency of a Ready (acceptor votes, learner decisions)');
    this.rejected = counter(MetricName.Rejected,
      'Deliveries refused before the core, and messages the core refused, by reason');
    this.received = counter(MetricName.Received, 'Protocol messages stepped into the core');
    this.sent = counter(MetricName.Sent, 'Protocol messages sent');
  }

  /** Registers the observable gauges whose readers `src` provides. */
  observe(meter: Meter, src: GaugeSource): void {
    const gauge = (name: string, description: string,
      read: (r: ObservableResult<Attributes>) => void): void => {
      meter.createObservableGauge(name, { description }).addCallback(read);
    };
    const { isLeader, ballotRound, pending, inflight, firstUnknown, nextSlot, storage } = src;
    if (isLeader !== undefined) {
      gauge(MetricName.Leader, '1 while this proposer is the leader, else 0',
        (r) => r.observe(isLeader() ? 1 : 0));
    }
    if (ballotRound !== undefined) {
      gauge(MetricName.BallotRound, 'Round of the current ballot (proposer) or promise (acceptor)',
        (r) => r.observe(ballotRound()));
    }
    if (pending !== undefined || inflight !== undefined) {
      gauge(MetricName.QueueDepth, 'Queue depths: pending commands, slots in flight', (r) => {
        if (pending !== undefined) r.observe(pending(), { queue: 'pending' });
        if (inflight !== undefined) r.observe(inflight(), { queue: 'inflight' });
      });
    }
    if (firstUnknown !== undefined) {
      gauge(MetricName.FirstUnknownSlot, 'Every slot below this one is known to be decided',
        (r) => r.observe(firstUnknown()));
    }
    if (nextSlot !== undefined) {
      gauge(MetricName.NextSlot, 'Every slot below this one is delivered by this learner',
        (r) => r.observe(nextSlot()));
    }
    if (storage !== undefined) {
      const each = (name: string, description: string,
        pick: (u: { usedBytes: number; maxBytes: number; slots: number }) => number): void => {
        gauge(name, description, (r) => {
          const u = storage();
          if (u !== null) r.observe(pick(u));
        });
      };
      each(MetricName.StoreUsedBytes, "Memory the learner's Redis uses (INFO used_memory)",
        (u) => u.usedBytes);
      each(MetricName.StoreMaxBytes, "The learner's Redis maxmemory; 0 when unbounded",
        (u) => u.maxBytes);
      each(MetricName.LogSlots, "Slots in the learner's stored log (it is never trimmed)",
        (u) => u.slots);
    }
  }
}
