import {
  closeSync, existsSync, fsyncSync, mkdirSync, openSync, writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { AcceptorCore, type AcceptorDurableState } from '@synod/protocol';
import {
  commonConfig,
  CoreDriver,
  type Logger,
  parsers,
  runService,
  serveStatus,
  wireBudget,
} from '@synod/runtime';
import { RedisAcceptorStore, StoreError, StoreErrorCode } from '@synod/store-redis';
import { startTelemetry, traceLogFields } from '@synod/telemetry';
import { connectService } from '@synod/transport-nats';

const config = {
  ...commonConfig,
  redisUrl: {
    name: 'REDIS_URL', help: "this acceptor's own Redis (appendonly yes, appendfsync always)",
    default: 'redis://127.0.0.1:6379', parse: parsers.url(['redis', 'rediss']),
    example: 'redis://redis-a1:6379',
  },
  init: {
    name: 'SYNOD_ACCEPTOR_INIT',
    help: 'true only on the very first start of a new acceptor: an empty Redis is then a new ' +
      'member, not a lost memory',
    default: false, parse: parsers.bool, example: 'true',
  },
  initFile: {
    name: 'SYNOD_ACCEPTOR_INIT_RECORD',
    help: 'a file on storage that outlives the acceptor\'s Redis data: while it does not exist ' +
      'the acceptor may initialise an empty Redis (as SYNOD_ACCEPTOR_INIT=true), and it ' +
      'creates it once its marker is written, so that a Redis wiped later is refused, not ' +
      'taken for a new member (for stacks that cannot unset SYNOD_ACCEPTOR_INIT after the ' +
      'first start); empty: not used',
    default: '', parse: parsers.text, example: '/var/lib/synod/initialised',
  },
  allowNonDurable: {
    name: 'SYNOD_DEV_ALLOW_NONDURABLE',
    help: 'development only: run on a Redis without appendfsync always (votes can be lost)',
    default: false, parse: parsers.bool, example: 'false',
  },
  markerCheckMs: {
    name: 'SYNOD_MARKER_CHECK_MS',
    help: 'how often a voting acceptor checks that its Redis still holds its incarnation ' +
      'marker (a wiped Redis is then noticed without waiting for a write); 0: only at writes',
    default: 5000, example: '5000',
    parse: (raw: string): number => {
      const ms = parsers.int(0, 3_600_000)(raw);
      if (ms > 0 && ms < 100) throw new Error('must be 0 (off) or at least 100');
      return ms;
    },
  },
};

interface Voting {
  readonly core: AcceptorCore;
  readonly driver: CoreDriver<unknown>;
}

/** Loads durable state; a typed store error leaves the acceptor up but not voting. */
async function loadState(store: RedisAcceptorStore, log: Logger):
  Promise<{ state: AcceptorDurableState } | { refused: StoreError }> {
  try {
    return { state: await store.load() };
  } catch (e) {
    if (e instanceof StoreError) {
      log.error({ code: e.code, err: e }, `NOT VOTING: ${e.message}`);
      return { refused: e };
    }
    throw e;
  }
}

void runService({
  name: 'synod-acceptor',
  summary: 'promises and accepts proposals; every vote is durable in Redis before its reply',
  config,
  nodeId: (c) => c.nodeId,
  healthPort: (c) => c.healthPort,
  logLevel: (c) => c.logLevel,
  logMixin: traceLogFields,
  check: (c) => (c.init && c.initFile !== '' ? [
    'SYNOD_ACCEPTOR_INIT=true and SYNOD_ACCEPTOR_INIT_RECORD are both set: SYNOD_ACCEPTOR_INIT ' +
    'initialises an empty Redis on every start, which defeats the file. Set only ' +
    'SYNOD_ACCEPTOR_INIT_RECORD=/var/lib/synod/initialised',
  ] : []),
  async start(c, log) {
    const telemetry = await startTelemetry({
      serviceName: 'synod-acceptor', role: 'acceptor', nodeId: c.nodeId, cluster: c.cluster,
      logger: log,
    });
    if (c.allowNonDurable) {
      log.warn({}, '!!! SYNOD_DEV_ALLOW_NONDURABLE is set: votes may be lost on a crash; ' +
        'never use this in production !!!');
    }
    const firstStart = c.initFile !== '' && !existsSync(c.initFile);
    if (firstStart) {
      log.info({ initFile: c.initFile }, 'no init file yet: an empty Redis is taken for a new ' +
        'member this time');
    }
    const store = new RedisAcceptorStore({
      url: c.redisUrl, cluster: c.cluster, acceptorId: c.nodeId, init: c.init || firstStart,
      allowNonDurable: c.allowNonDurable,
    });
    /**
     * Records (durably) that this acceptor's marker exists: from now on an empty Redis is
     * amnesia. Null when done, else why not: then the acceptor does not vote, since a Redis
     * wiped later would be taken for a new member on the next start.
     */
    const recordInit = (): string | null => {
      if (!firstStart || existsSync(c.initFile)) return null;
      try {
        mkdirSync(dirname(c.initFile), { recursive: true });
        const fd = openSync(c.initFile, 'w');
        try {
          writeSync(fd, `${c.nodeId} initialised ${new Date().toISOString()}\n`);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        return null;
      } catch (e) {
        const why = `cannot write SYNOD_ACCEPTOR_INIT_RECORD ${c.initFile} ` +
          `(${e instanceof Error ? e.message : String(e)}): make it writable; not voting meanwhile`;
        log.error({ err: e }, why);
        return `INIT_RECORD: ${why}`;
      }
    };
    const loaded = await loadState(store, log);
    const recordProblem = 'state' in loaded ? recordInit() : null;
    const transport = await connectService('acceptor', c, log);
    let voting: Voting | null = null;
    let markerCheck: NodeJS.Timeout | null = null;
    let retry: NodeJS.Timeout | null = null;
    let stopped = false;
    /** Why the last marker check could not reach Redis, while it cannot. */
    let redisDown: string | null = null;
    let refusal: string | null = 'refused' in loaded
      ? `${loaded.refused.code}: ${loaded.refused.message}` : recordProblem;
    const begin = (state: AcceptorDurableState): void => {
      // Promises are paged by votes and by bytes, so that each one can be encoded.
      const budget = wireBudget();
      const core = new AcceptorCore({
        id: c.nodeId, maxPromiseBytes: budget.maxPromiseBytes,
        maxPromiseEntries: Math.min(4096, budget.maxAcceptedEntries),
      }, state);
      const driver = new CoreDriver({
        cluster: c.cluster, role: 'acceptor', id: c.nodeId, core, transport, tickMs: 1000,
        // Its core has no timers (hence the 1 s tick); catch-ups are limited by the cluster's.
        catchupIntervalMs: 2 * c.tickMs,
        logger: log,
        hooks: telemetry.driverHooks({ role: 'acceptor', nodeId: c.nodeId, cluster: c.cluster }),
        persist: (p) => store.persist(p),
        onFatal: (e) => {
          // Memory is now ahead of Redis: stop voting at once.
          if (voting?.driver !== driver) return;
          if (e instanceof StoreError && e.code === StoreErrorCode.Amnesia) {
            // Redis itself shows the loss (no marker): a restart refuses as well.
            refusal = `${e.code}: ${e.message}`;
            log.error({ err: e }, 'persist failed: exiting; on restart the acceptor refuses to ' +
              'vote until re-admitted');
            setTimeout(() => process.exit(1), 50);
            return;
          }
          const why = e instanceof StoreError ? `${e.code}: ${e.message}`
            : `persist failed: ${e instanceof Error ? e.message : String(e)}`;
          log.error({ err: e }, `NOT VOTING: ${why}`);
          stopVoting(why);
        },
      });
      driver.start();
      voting = { core, driver: driver as CoreDriver<unknown> };
      if (c.markerCheckMs > 0) {
        let lastWarned = 0;
        markerCheck = setInterval(() => {
          store.verifyMarker().then(() => {
            if (redisDown !== null) log.info({}, 'marker check: Redis answers again');
            redisDown = null;
          }, (e: unknown) => {
            if (e instanceof StoreError && e.code === StoreErrorCode.LostWrites) {
              if (voting === null) return;
              log.error({ err: e }, `NOT VOTING: ${e.code}: ${e.message}`);
              stopVoting(`${e.code}: ${e.message}`);
              return;
            }
            if (!(e instanceof StoreError) || e.code !== StoreErrorCode.Amnesia) {
              // Redis unreachable (or refusing): not a verdict on its state. A write would
              // fail the same way and stop the acceptor; meanwhile it is not ready, and an
              // idle one says so once a minute.
              redisDown = e instanceof Error ? e.message : String(e);
              if (Date.now() - lastWarned >= 60_000) {
                lastWarned = Date.now();
                log.warn({ err: e }, 'marker check failed: Redis unreachable?');
              }
              return;
            }
            if (refusal !== null) return;
            refusal = `${e.code}: ${e.message}`;
            log.error({ err: e }, 'Redis lost this acceptor\'s state: exiting; on restart it ' +
              'refuses to vote until re-admitted');
            setTimeout(() => process.exit(1), 50);
          });
        }, c.markerCheckMs);
        markerCheck.unref();
      }
      log.info({ promised: core.promised, accepted: core.acceptedEntries().length },
        'acceptor voting');
    };
    /**
     * Stops voting without exiting, then loads the state again (with every check) until that
     * works. The process stays up because its store holds the write count of its last
     * acknowledged write, the only evidence that Redis lost acknowledged writes (a truncated
     * AOF): a restarted acceptor could not tell (docs/decisions/012-write-counter.md). Reloaded,
     * the store refuses LOST_WRITES until the acceptor is re-admitted.
     */
    const stopVoting = (why: string): void => {
      const v = voting;
      if (v === null) return;
      voting = null;
      refusal = why;
      if (markerCheck !== null) clearInterval(markerCheck);
      markerCheck = null;
      void v.driver.stop().then(() => {
        if (!stopped && retry === null) retryLoad(0);
      });
    };
    // Not voting at start or after a failed write (Redis unreachable, not durable yet, or a
    // lost state awaiting re-admission): load again with a growing pause (1 s up to 30 s)
    // until it works, so that a Redis that comes up later, is reconfigured, or an acceptor
    // re-admitted by the operator starts voting without a restart. Each attempt is the full
    // load with all its checks.
    const retryLoad = (attempt: number): void => {
      retry = setTimeout(() => {
        retry = null;
        void store.load().then((state) => {
          if (stopped) return;
          const problem = recordInit();
          if (problem !== null) {
            refusal = problem;
            retryLoad(attempt + 1);
            return;
          }
          refusal = null;
          log.info({}, 'durable state loaded on a later attempt');
          begin(state);
        }, (e: unknown) => {
          if (stopped) return;
          const now = e instanceof StoreError ? `${e.code}: ${e.message}`
            : `UNAVAILABLE: ${e instanceof Error ? e.message : String(e)}`;
          if (now !== refusal) log.error({ err: e }, `NOT VOTING: ${now}`);
          refusal = now;
          retryLoad(attempt + 1);
        });
      }, Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5)));
    };
    if ('state' in loaded && recordProblem === null) begin(loaded.state);
    else retryLoad(0);
    const status = (): { role: 'acceptor'; id: string; [k: string]: unknown } => ({
      role: 'acceptor', id: c.nodeId,
      voting: voting !== null && refusal === null && redisDown === null,
      refusal, redisUnreachable: redisDown, promised: voting?.core.promised ?? null,
      acceptedSlots: voting?.core.acceptedEntries().length ?? 0,
      floor: voting?.core.floor ?? 0,
      nats: transport.status(),
      ...(voting === null ? {} : {
        ...voting.driver.stats, rejectedBy: Object.fromEntries(voting.driver.rejected),
      }),
    });
    const statusSub = serveStatus(transport, c.cluster, status);
    telemetry.observe({ ballotRound: () => voting?.core.promised?.round ?? 0 });
    return {
      health: {
        extra: (path) => telemetry.route(path),
        live: () => true,
        ready: () => {
          if (refusal !== null) return { ok: false, reason: refusal };
          if (redisDown !== null) return { ok: false, reason: `Redis unreachable: ${redisDown}` };
          if (!transport.status().connected) return { ok: false, reason: 'not connected to NATS' };
          return { ok: true };
        },
        status,
      },
      async stop() {
        stopped = true;
        if (retry !== null) clearTimeout(retry);
        if (markerCheck !== null) clearInterval(markerCheck);
        statusSub.unsubscribe();
        await voting?.driver.stop();
        await transport.close();
        await store.close();
        await telemetry.shutdown();
      },
    };
  },
});
