import {
  decodeElectionSnapshotRequest,
  decodeReadRequest,
  DecodeError,
  electionSnapshotSubject,
  ERROR_HEADER,
  logSubject,
  readSubject,
} from '@synod/codec';
import { type Decision, LearnerCore, type MsgCatchup } from '@synod/protocol';
import {
  acceptorsConfig,
  commonConfig,
  CoreDriver,
  LogLimiter,
  type Logger,
  parsers,
  runService,
  serveStatus,
  type Transport,
  type TransportMessage,
} from '@synod/runtime';
import { RedisLearnerStore } from '@synod/store-redis';
import { startTelemetry, traceLogFields } from '@synod/telemetry';
import { connectService } from '@synod/transport-nats';
import { LogIndex } from './log-index.js';
import { encodeLogEvents, encodeReadReply, MAX_ANSWER_BYTES } from './paging.js';
import { answerElectionSnapshot, type SnapshotAnswer } from './snapshot.js';
import { StorageWatch } from './storage-watch.js';

const config = {
  ...commonConfig,
  acceptors: acceptorsConfig,
  redisUrl: {
    name: 'REDIS_URL', help: "the learner's Redis, where it keeps the decided log",
    default: 'redis://127.0.0.1:6379', parse: parsers.url(['redis', 'rediss']),
    example: 'redis://redis-l1:6379',
  },
  catchupTicks: {
    name: 'SYNOD_CATCHUP_TICKS', help: 'ticks without progress, while behind, before catching up',
    default: 10, parse: parsers.int(1, 100_000), example: '10',
  },
  learnFromVotes: {
    name: 'SYNOD_LEARN_FROM_VOTES',
    help: 'true: also count every acceptor vote (learns a slot one hop sooner, wakes three ' +
      'times more per slot); false: learn from the leader\'s chosen and catch-ups',
    default: false, parse: parsers.bool, example: 'false',
  },
  storageCheckMs: {
    name: 'SYNOD_STORAGE_CHECK_MS',
    help: "how often the learner reads how full its Redis is (INFO memory against maxmemory)",
    default: 30_000, parse: parsers.int(100, 3_600_000), example: '30000',
  },
  storageWarnPercent: {
    name: 'SYNOD_STORAGE_WARN_PERCENT',
    help: "share of its Redis's maxmemory from which the learner warns that the log will " +
      'soon not fit (an error from 95%); docs/operations.md#learner-storage',
    default: 80, parse: parsers.int(1, 94), example: '80',
  },
  allowNonDurable: {
    name: 'SYNOD_DEV_ALLOW_NONDURABLE', help: 'development only: accept a Redis without AOF always',
    default: false, parse: parsers.bool, example: 'false',
  },
};

const enc = new TextEncoder();

/** Rebuilds the duplicate index from the stored, already delivered log. */
async function rebuildIndex(
  store: RedisLearnerStore,
  upTo: number,
  index: LogIndex,
): Promise<void> {
  for (let from = 0; from < upTo; from += 1000) {
    for (const d of await store.read(from, Math.min(upTo, from + 1000) - 1)) index.add(d);
  }
}

/** Most slots one catch-up answer carries (as acceptors and proposers answer). */
const MAX_CATCHUP_ANSWER = 256;

/**
 * Answers another learner's or a proposer's catch-up from the durable log: below the
 * acceptors' compaction floor the learners hold the only copy. Each slot goes back as an
 * addressed `chosen` at ballot round 0 (the log keeps no ballots; round 0 is below every real
 * ballot, so it moves nobody's view of the highest ballot). Reads run one at a time: a burst of
 * catch-ups queues instead of piling up reads. A request identical to one queued or being
 * answered is dropped (that answer covers it): a stuck learner repeats its request every few
 * ticks, and after a pause of this learner each repeat would otherwise be answered in full, the
 * queue growing with the pause.
 */
function catchupServer(o: {
  id: string; store: RedisLearnerStore; delivered: () => number;
  send: (m: Decision & { to: string }) => void; log: Logger;
}): (m: MsgCatchup) => void {
  let busy: Promise<void> = Promise.resolve();
  const queued = new Set<string>();
  return (m) => {
    if (m.from === o.id) return;
    const key = `${m.from} ${m.fromSlot} ${m.toSlot}`;
    if (queued.has(key)) return;
    queued.add(key);
    busy = busy.then(async () => {
      const to = Math.min(m.toSlot, m.fromSlot + MAX_CATCHUP_ANSWER - 1, o.delivered() - 1);
      if (to < m.fromSlot) return;
      for (const d of await o.store.read(m.fromSlot, to)) o.send({ ...d, to: m.from });
    }).catch((e: unknown) => {
      o.log.warn({ err: e, from: m.from }, 'catch-up answer failed');
    }).finally(() => queued.delete(key));
  };
}

/**
 * Answers `read` requests from the stored log; bad requests get a typed error header. An answer
 * holds at most `limit` entries and at most {@link MAX_ANSWER_BYTES} bytes: past that it holds
 * fewer entries (at least one) and the client reads on from the slot after its last one. A
 * request without a reply subject is refused before any read. Nothing that goes wrong while
 * answering stops the learner: it is counted (`rejectedBy`) and logged.
 */
function serveReads(o: {
  transport: Transport; cluster: string; id: string; store: RedisLearnerStore;
  index: LogIndex; delivered: () => number; log: Logger; rejected: Map<string, number>;
}): { stop(): void } {
  /** Counts a refusal as `read:<code>` (or `snapshot:<code>` for election snapshots). */
  const count = (code: string, kind = 'read'): void => {
    const key = `${kind}:${code}`;
    o.rejected.set(key, (o.rejected.get(key) ?? 0) + 1);
  };
  // A flood of bad reads is counted in full but logged 20 lines per code per 10 s, then summed.
  const logLimit = new LogLimiter({ burst: 20, windowMs: 10_000 });
  const unlogged = setInterval(() => {
    for (const s of logLimit.flush()) {
      o.log.warn({ code: s.key, notLogged: s.suppressed, windowMs: s.windowMs },
        `${s.suppressed} more rejected reads (${s.key}) in ${s.windowMs / 1000} s, not logged ` +
        'one by one; each is counted in /status rejectedBy');
    }
  }, 1000);
  unlogged.unref();
  /** Sends `data` to the asker; a failure (too large, connection closed) is counted, not thrown. */
  const respond = (m: TransportMessage, data: Uint8Array, headers?: Record<string, string>):
    boolean => {
    try {
      o.transport.respond(m, data, headers);
      return true;
    } catch (e) {
      count('RESPOND_FAILED');
      if (logLimit.admit('RESPOND_FAILED')) {
        o.log.warn({ err: e, bytes: data.byteLength }, 'could not answer a read');
      }
      return false;
    }
  };
  const fail = (m: TransportMessage, code: string, message: string, kind = 'read'): void => {
    count(code, kind);
    if (logLimit.admit(`${kind}:${code}`)) {
      o.log.warn({ code, detail: message.slice(0, 200) }, `rejected ${kind}`);
    }
    respond(m, enc.encode(JSON.stringify({ v: 1, error: { code, message } })),
      { [ERROR_HEADER]: code });
  };
  o.transport.subscribe(readSubject(o.cluster), (m) => {
    if (m.reply === undefined) {
      // Nobody to answer: not worth a read of the store.
      count('NO_REPLY');
      if (logLimit.admit('NO_REPLY')) {
        o.log.warn({ subject: m.subject }, 'rejected read: no reply subject');
      }
      return;
    }
    let req;
    try {
      req = decodeReadRequest(m.data);
    } catch (e) {
      if (e instanceof DecodeError) return fail(m, 'BAD_REQUEST', e.message);
      throw e;
    }
    const next = o.delivered();
    const to = Math.min(next - 1, req.fromSlot + req.limit - 1);
    const read = to < req.fromSlot ? Promise.resolve([]) : o.store.read(req.fromSlot, to);
    read.then(
      (ds) => {
        const reply = encodeReadReply(o.id, next, ds.map((d) => o.index.entry(d)));
        if (!respond(m, reply.data)) {
          fail(m, 'TOO_LARGE', `the answer (${reply.data.byteLength} bytes, ` +
            `${reply.entries} entries from slot ${req.fromSlot}) could not be sent`);
        }
      },
      (e: unknown) => fail(m, 'UNAVAILABLE', e instanceof Error ? e.message : String(e)),
    ).catch((e: unknown) => {
      count('FAILED');
      o.log.error({ err: e }, 'answering a read failed');
    });
  }, { queue: `synod-${o.cluster}-learners` });
  // Election snapshots: the state of the election machine after every delivered slot, so that
  // a new client's view need not replay the log from slot 0. One reply of at most
  // MAX_ANSWER_BYTES; past that (tens of thousands of clients in the deduplicator) the client
  // is told TOO_LARGE and replays.
  // The last answer, kept while nothing new is delivered: many clients starting at once (a
  // deployment rolling out) cost one snapshot, not one each.
  let lastAnswer: { at: number; answer: SnapshotAnswer } | null = null;
  o.transport.subscribe(electionSnapshotSubject(o.cluster), (m) => {
    if (m.reply === undefined) {
      count('NO_REPLY', 'snapshot');
      return;
    }
    try {
      decodeElectionSnapshotRequest(m.data);
    } catch (e) {
      if (e instanceof DecodeError) return fail(m, 'BAD_REQUEST', e.message, 'snapshot');
      throw e;
    }
    const at = o.delivered();
    if (lastAnswer?.at !== at) {
      lastAnswer = { at, answer: answerElectionSnapshot(o.id, o.index.electionSnapshot(),
        MAX_ANSWER_BYTES) };
    }
    const a = lastAnswer.answer;
    if ('code' in a) return fail(m, a.code, a.message, 'snapshot');
    if (!respond(m, a.data)) {
      // Over the server's max_payload, or the connection failed: say so rather than let the
      // client wait out its timeout.
      fail(m, 'TOO_LARGE', `the election snapshot (${a.data.byteLength} bytes) could not be ` +
        'sent', 'snapshot');
    }
  }, { queue: `synod-${o.cluster}-learners` });
  return { stop: () => clearInterval(unlogged) };
}

void runService({
  name: 'synod-learner',
  summary: 'learns chosen values, keeps the decided log in Redis, serves read and watch',
  config,
  nodeId: (c) => c.nodeId,
  healthPort: (c) => c.healthPort,
  logLevel: (c) => c.logLevel,
  logMixin: traceLogFields,
  async start(c, log) {
    const telemetry = await startTelemetry({
      serviceName: 'synod-learner', role: 'learner', nodeId: c.nodeId, cluster: c.cluster,
      logger: log,
    });
    const store = new RedisLearnerStore({
      url: c.redisUrl, cluster: c.cluster, learnerId: c.nodeId, allowNonDurable: c.allowNonDurable,
    });
    const durable = await store.load();
    const index = new LogIndex();
    await rebuildIndex(store, durable.nextSlot, index);
    const transport = await connectService('learner', c, log);
    const core = new LearnerCore({
      id: c.nodeId, acceptors: c.acceptors, catchupTicks: c.catchupTicks,
    }, durable);
    let delivered = durable.nextSlot;
    // Set once the driver exists; catch-ups arrive only after driver.start().
    let sendChosen: (d: Decision & { to: string }) => void = () => {};
    const serveCatchup = catchupServer({
      id: c.nodeId, store, delivered: () => delivered, log, send: (d) => sendChosen(d),
    });
    const rejected = new Map<string, number>();
    const storage = new StorageWatch({
      warnShare: c.storageWarnPercent / 100, repeatMs: 3_600_000, log,
    });
    const onCommitted = (ds: readonly Decision[]): void => {
      for (const d of ds) index.add(d);
      delivered = (ds[ds.length - 1]?.slot ?? delivered - 1) + 1;
      // A catching-up learner delivers many slots at once: one event each up to 1 MiB and
      // 1000 entries, in slot order. A failed publish is not a failed persist (the driver
      // would stop the learner): watchers read what they missed, so it is counted and logged.
      for (const data of encodeLogEvents(c.nodeId, ds.map((d) => index.entry(d)))) {
        try {
          transport.publish(logSubject(c.cluster, c.nodeId), data);
        } catch (e) {
          rejected.set('log:PUBLISH_FAILED', (rejected.get('log:PUBLISH_FAILED') ?? 0) + 1);
          log.warn({ err: e, bytes: data.byteLength, fromSlot: ds[0]?.slot },
            'could not publish a log event; watchers will read those entries');
        }
      }
    };
    // Decisions restored from Redis that the core delivers at once are published on start.
    const driver = new CoreDriver({
      cluster: c.cluster, role: 'learner', id: c.nodeId, core, transport, tickMs: c.tickMs,
      logger: log,
      hooks: telemetry.driverHooks({ role: 'learner', nodeId: c.nodeId, cluster: c.cluster }),
      persist: (p) => store.persist(p.decisions, p.nextSlot),
      onCommitted,
      onFatal: () => setTimeout(() => process.exit(1), 50),
      votes: c.learnFromVotes,
      onMessage: (m) => {
        if (m.type === 'catchup') serveCatchup(m);
      },
    });
    const ballot = { round: 0, proposer: c.nodeId, incarnation: 0 };
    sendChosen = (d) => driver.sendDirect({
      type: 'chosen', from: c.nodeId, to: d.to, ballot, slot: d.slot, value: d.value,
    });
    const reads = serveReads({
      transport, cluster: c.cluster, id: c.nodeId, store, index, delivered: () => delivered, log,
      rejected,
    });
    const status = (): { role: 'learner'; id: string; [k: string]: unknown } => ({
      role: 'learner', id: c.nodeId, acceptors: c.acceptors, nextSlot: delivered,
      highestKnown: core.highestSlotKnown,
      nats: transport.status(), ...driver.stats, election: index.electionStatus(),
      dedupe: index.dedupeStatus(), storage: storage.status(),
      rejectedBy: { ...Object.fromEntries(driver.rejected), ...Object.fromEntries(rejected) },
    });
    const statusSub = serveStatus(transport, c.cluster, status);
    telemetry.observe({ nextSlot: () => delivered, storage: () => storage.last });
    driver.start();
    const checkStorage = (): void => {
      storage.poll(() => store.usage());
    };
    checkStorage();
    const storageTimer = setInterval(checkStorage, c.storageCheckMs);
    storageTimer.unref();
    log.info({ nextSlot: delivered }, 'learner running');
    return {
      health: {
        extra: (path) => telemetry.route(path),
        live: () => true,
        ready: () => transport.status().connected
          ? { ok: true } : { ok: false, reason: 'not connected to NATS' },
        status,
      },
      async stop() {
        storage.stop();
        reads.stop();
        clearInterval(storageTimer);
        statusSub.unsubscribe();
        await driver.stop();
        await transport.close();
        await store.close();
        await telemetry.shutdown();
      },
    };
  },
});
