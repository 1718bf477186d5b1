import { randomBytes } from 'node:crypto';
import { ProposerCore, Sfc32 } from '@synod/protocol';
import {
  acceptorsConfig,
  commonConfig,
  CoreDriver,
  parsers,
  runService,
  serveStatus,
} from '@synod/runtime';
import { connectNats } from '@synod/transport-nats';

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
    name: 'SYNOD_MAX_BATCH', help: 'most client commands in one slot', default: 256,
    parse: parsers.int(1, 10_000), example: '256',
  },
  maxInflight: {
    name: 'SYNOD_MAX_INFLIGHT', help: 'most slots in phase 2 at once', default: 32,
    parse: parsers.int(1, 10_000), example: '32',
  },
  maxPending: {
    name: 'SYNOD_MAX_PENDING', help: 'most queued client commands before answering overloaded',
    default: 10_000, parse: parsers.int(1, 10_000_000), example: '10000',
  },
};

void runService({
  name: 'synod-proposer',
  summary: 'takes client commands (NATS queue group) and drives Paxos rounds as leader',
  config,
  nodeId: (c) => c.nodeId,
  healthPort: (c) => c.healthPort,
  logLevel: (c) => c.logLevel,
  async start(c, log) {
    const transport = await connectNats({
      servers: c.natsUrl.split(','),
      name: `synod-proposer-${c.nodeId}`,
      ...(c.natsUser === '' ? {} : { user: c.natsUser, pass: c.natsPassword }),
      onStatus: (s) => log.info({ nats: s }, 'nats status'),
    });
    const core = new ProposerCore({
      id: c.nodeId,
      acceptors: c.acceptors,
      rng: new Sfc32(randomBytes(4).readUInt32LE(0)),
      // 48 random bits: a restarted proposer never reuses a ballot of an earlier run.
      incarnation: randomBytes(6).readUIntLE(0, 6),
      electionTicks: c.electionTicks,
      heartbeatTicks: c.heartbeatTicks,
      retryTicks: c.retryTicks,
      maxBatch: c.maxBatch,
      maxInflight: c.maxInflight,
      maxPending: c.maxPending,
    });
    const driver = new CoreDriver({
      cluster: c.cluster, role: 'proposer', id: c.nodeId, core, transport, tickMs: c.tickMs,
      logger: log, requestQueue: `synod-${c.cluster}-proposers`,
      hooks: {
        onEvents: (events) => {
          for (const e of events) {
            if (e.kind === 'leader-elected' || e.kind === 'preempted') log.info({ event: e }, e.kind);
          }
        },
      },
      onFatal: () => process.exit(1),
    });
    const status = (): { role: 'proposer'; id: string; [k: string]: unknown } => ({
      role: 'proposer', id: c.nodeId, acceptors: c.acceptors, state: core.role, leader: core.leader, ballot: core.ballot,
      firstUnknown: core.firstUnknown, pending: core.pendingCount, inflight: core.inflightCount,
      nats: transport.status(), ...driver.stats, rejectedBy: Object.fromEntries(driver.rejected),
    });
    const statusSub = serveStatus(transport, c.cluster, status);
    driver.start();
    log.info({ acceptors: c.acceptors, cluster: c.cluster }, 'proposer running');
    return {
      health: {
        live: () => true,
        ready: () => transport.status().connected
          ? { ok: true } : { ok: false, reason: 'not connected to NATS' },
        status,
      },
      async stop() {
        statusSub.unsubscribe();
        await driver.stop();
        await transport.close();
      },
    };
  },
});
