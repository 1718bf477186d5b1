import { randomBytes } from 'node:crypto';
import { ProposerCore, Sfc32 } from '@synod/protocol';
import {
  acceptorsConfig,
  commonConfig,
  CoreDriver,
  parsers,
  runService,
  serveStatus,
  wireBudget,
} from '@synod/runtime';
import { startTelemetry, traceLogFields } from '@synod/telemetry';
import { connectService } from '@synod/transport-nats';

/** What the default wire limits allow in one message (the driver encodes with them). */
const BUDGET = wireBudget();

const config = {
  ...commonConfig,
  acceptors: acceptorsConfig,
  electionTicks: {
    name: 'SYNOD_ELECTION_TICKS', help: 'base election timeout in ticks (randomized up to 2x)',
    default: 25, parse: parsers.int(2, 100_000), example: '25',
  },
  heartbeatTicks: {
    name: 'SYNOD_HEARTBEAT_TICKS', help: 'leader heartbeat period in ticks', default: 5,
    parse: parsers.int(1, 100_000), example: '5',
  },
  retryTicks: {
    name: 'SYNOD_RETRY_TICKS', help: 'ticks before an unanswered prepare/accept is resent',
    default: 10, parse: parsers.int(1, 100_000), example: '10',
  },
  maxBatch: {
    // A slot also holds at most a message's worth of bytes (the wire budget), however many
    // commands that is; and never more commands than a value may carry on the wire.
    name: 'SYNOD_MAX_BATCH', help: 'most client commands in one slot', default: 256,
    parse: parsers.int(1, BUDGET.maxCommandsPerValue), example: '256',
  },
  maxInflight: {
    // 8, measured (docs/performance.md): with more slots in flight each carries fewer
    // commands and the CPU goes to per-slot work; with fewer, rounds queue behind each other.
    name: 'SYNOD_MAX_INFLIGHT', help: 'most slots in phase 2 at once', default: 8,
    parse: parsers.int(1, 10_000), example: '8',
  },
  retainDecided: {
    name: 'SYNOD_RETAIN_DECIDED',
    help: 'decided slots kept in memory to answer catch-ups and recognise late retries ' +
      '(learners mark older duplicates); bounds the proposer\'s memory',
    default: 20_000, parse: parsers.int(100, 10_000_000), example: '20000',
  },
  retainDecidedCommands: {
    // About 330 bytes of heap per retained 128-byte command (measured: 20,000 slots of 16
    // commands filled the 128 MiB heap); 100,000 keeps the leader well inside it.
    name: 'SYNOD_RETAIN_DECIDED_COMMANDS',
    help: 'most client commands held in the retained decided slots (with large batches the ' +
      'slot count alone does not bound memory); older slots are dropped first',
    default: 100_000, parse: parsers.int(1000, 100_000_000), example: '100000',
  },
  retainDecidedChars: {
    name: 'SYNOD_RETAIN_DECIDED_CHARS',
    help: 'most payload characters held in the retained decided slots (large commands)',
    default: 16 * 1024 * 1024, parse: parsers.int(65_536, 1_000_000_000), example: '16777216',
  },
  retainVotes: {
    name: 'SYNOD_RETAIN_VOTES',
    help: 'log compaction: acceptors keep this many slots of votes below what every live ' +
      'learner has durably delivered (and the leader knows decided), and drop the rest; ' +
      'bounds the acceptors\' memory and Redis',
    default: 10_000, parse: parsers.int(0, 1_000_000_000), example: '10000',
  },
  learnerTimeoutTicks: {
    name: 'SYNOD_LEARNER_TIMEOUT_TICKS',
    help: 'a learner silent for this many ticks no longer holds log compaction back (it ' +
      'catches up from the other learners when it returns)',
    default: 100, parse: parsers.int(1, 10_000_000), example: '100',
  },
  followerIntake: {
    name: 'SYNOD_FOLLOWER_INTAKE',
    help: 'true: a follower keeps taking client requests from the queue group and forwards ' +
      'them to the leader; false: it leaves the group while it knows a live leader',
    default: false, parse: parsers.bool, example: 'false',
  },
  followerVotes: {
    name: 'SYNOD_FOLLOWER_VOTES',
    help: 'true: a follower hears every acceptor vote; false: while it knows a live leader it ' +
      'learns decisions from the leader\'s chosen alone (fewer wake-ups per slot)',
    default: false, parse: parsers.bool, example: 'false',
  },
  thrifty: {
    name: 'SYNOD_THRIFTY',
    help: 'true: the leader sends each accept only to the quorum of acceptors that completed ' +
      'its latest decision (with 3 acceptors one durable write and one vote fewer per slot, ' +
      'with 5 two); false: to every acceptor',
    default: true, parse: parsers.bool, example: 'true',
  },
  thriftyTimeoutTicks: {
    name: 'SYNOD_THRIFTY_TIMEOUT_TICKS',
    help: 'ticks a thrifty accept waits for its quorum before the other acceptors are asked ' +
      'too (the cost of a slow or lost acceptor in that quorum)',
    default: 2, parse: parsers.int(1, 100_000), example: '2',
  },
  maxPending: {
    name: 'SYNOD_MAX_PENDING', help: 'most queued client commands before answering overloaded',
    default: 10_000, parse: parsers.int(1, 10_000_000), example: '10000',
  },
  maxPendingChars: {
    name: 'SYNOD_MAX_PENDING_CHARS',
    help: 'most payload characters queued in total before answering overloaded (bounds the ' +
      'queue\'s memory when commands are large)',
    default: 16 * 1024 * 1024, parse: parsers.int(1024, 1_000_000_000), example: '16777216',
  },
};

void runService({
  name: 'synod-proposer',
  summary: 'takes client commands (NATS queue group) and drives Paxos rounds as leader',
  config,
  nodeId: (c) => c.nodeId,
  healthPort: (c) => c.healthPort,
  logLevel: (c) => c.logLevel,
  logMixin: traceLogFields,
  check: (c) => {
    const problems: string[] = [];
    if (c.heartbeatTicks >= c.electionTicks) {
      problems.push(`SYNOD_HEARTBEAT_TICKS=${c.heartbeatTicks} is not below ` +
        `SYNOD_ELECTION_TICKS=${c.electionTicks}: followers would time out between two ` +
        'heartbeats of a live leader and proposers would keep deposing each other. Make the ' +
        'heartbeat a fraction of the election timeout, e.g. SYNOD_HEARTBEAT_TICKS=5 ' +
        'SYNOD_ELECTION_TICKS=25');
    }
    if (c.thriftyTimeoutTicks >= c.electionTicks) {
      problems.push(`SYNOD_THRIFTY_TIMEOUT_TICKS=${c.thriftyTimeoutTicks} is not below ` +
        `SYNOD_ELECTION_TICKS=${c.electionTicks}: a slow acceptor would hold decisions up ` +
        'longer than an election takes. E.g. SYNOD_THRIFTY_TIMEOUT_TICKS=2');
    }
    return problems;
  },
  async start(c, log) {
    const telemetry = await startTelemetry({
      serviceName: 'synod-proposer', role: 'proposer', nodeId: c.nodeId, cluster: c.cluster,
      logger: log,
    });
    const transport = await connectService('proposer', c, log);
    const core = new ProposerCore({
      id: c.nodeId,
      acceptors: c.acceptors,
      rng: new Sfc32(randomBytes(4).readUInt32LE(0)),
      // 48 random bits: a restarted proposer never reuses a ballot of an earlier run.
      incarnation: randomBytes(6).readUIntLE(0, 6),
      electionTicks: c.electionTicks,
      heartbeatTicks: c.heartbeatTicks,
      retryTicks: c.retryTicks,
      maxBatch: Math.min(c.maxBatch, BUDGET.maxCommandsPerValue),
      maxValueBytes: BUDGET.maxValueBytes,
      maxInflight: c.maxInflight,
      thrifty: c.thrifty,
      thriftyTimeoutTicks: c.thriftyTimeoutTicks,
      maxPending: c.maxPending,
      maxPendingChars: c.maxPendingChars,
      retainDecided: c.retainDecided,
      retainDecidedCommands: c.retainDecidedCommands, retainDecidedChars: c.retainDecidedChars,
      retainVotes: c.retainVotes,
      learnerTimeoutTicks: c.learnerTimeoutTicks,
    });
    const driver = new CoreDriver({
      cluster: c.cluster, role: 'proposer', id: c.nodeId, core, transport, tickMs: c.tickMs,
      logger: log, requestQueue: `synod-${c.cluster}-proposers`,
      isLeader: () => core.role === 'leader',
      hooks: telemetry.driverHooks({
        role: 'proposer', nodeId: c.nodeId, cluster: c.cluster, leader: () => core.leader,
        app: {
          onEvents: (events) => {
            for (const e of events) {
              if (e.kind === 'leader-elected' || e.kind === 'preempted') {
                log.info({ event: e }, e.kind);
              }
            }
          },
        },
      }),
      onFatal: () => process.exit(1),
    });
    const status = (): { role: 'proposer'; id: string; [k: string]: unknown } => ({
      role: 'proposer', id: c.nodeId, acceptors: c.acceptors, state: core.role,
      leader: core.leader, ballot: core.ballot,
      firstUnknown: core.firstUnknown, pending: core.pendingCount, inflight: core.inflightCount,
      compactBelow: core.compactBelow, learners: core.learnerProgress(),
      thriftyQuorum: core.thriftyQuorum, thriftyFallbacks: core.thriftyFallbacks,
      recoveredSlots: core.recoveredSlots,
      nats: transport.status(), ...driver.stats, rejectedBy: Object.fromEntries(driver.rejected),
    });
    const statusSub = serveStatus(transport, c.cluster, status);
    telemetry.observe({
      isLeader: () => core.role === 'leader', ballotRound: () => core.ballot.round,
      pending: () => core.pendingCount, inflight: () => core.inflightCount,
      firstUnknown: () => core.firstUnknown,
    });
    driver.start();
    // A follower that knows a live leader leaves the client queue group, so that requests go
    // straight to the leader instead of half of them taking two extra hops through it.
    // It also stops hearing the acceptors' broadcast votes then: it learns decisions from the
    // leader's `chosen`, and would otherwise wake for three votes per slot (SYNOD_FOLLOWER_VOTES).
    const intake = setInterval(() => {
      const following = core.role === 'follower' && core.leader !== null;
      if (!c.followerIntake) driver.setClientIntake(!following);
      if (!c.followerVotes) driver.setVoteIntake(!following);
    }, c.tickMs);
    intake.unref();
    log.info({ acceptors: c.acceptors, cluster: c.cluster }, 'proposer running');
    return {
      health: {
        extra: (path) => telemetry.route(path),
        live: () => true,
        ready: () => transport.status().connected
          ? { ok: true } : { ok: false, reason: 'not connected to NATS' },
        status,
      },
      async stop() {
        statusSub.unsubscribe();
        if (intake !== null) clearInterval(intake);
        await driver.stop();
        await transport.close();
        await telemetry.shutdown();
      },
    };
  },
});
