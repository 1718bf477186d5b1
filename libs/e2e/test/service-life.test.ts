import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, type NatsServer, spawnService, startNats, startRedis } from '@synod/testing';
import { buildServices } from './harness.js';

/**
 * The life of one service process: configuration checks that span variables (exit 78, the
 * variables named), and the stop signals a terminal and a supervisor send.
 */
const dist = join(resolve(__dirname, '../../..'), 'dist/apps');
const proposerMain = join(dist, 'proposer/main.js');
const acceptorMain = join(dist, 'acceptor/main.js');

let nats: NatsServer;

beforeAll(async () => {
  buildServices();
  nats = await startNats();
}, 30_000);

afterAll(async () => {
  await nats?.stop();
});

function proposer(env: Record<string, string>) {
  return spawnService(process.execPath, [proposerMain], {
    SYNOD_NODE_ID: 'p1', SYNOD_ACCEPTORS: 'a1,a2,a3', NATS_URL: nats.url,
    SYNOD_HEALTH_PORT: '0', SYNOD_CLUSTER: `life${process.pid}`, OTEL_SDK_DISABLED: 'true',
    ...env,
  });
}

describe('configuration checked across variables', () => {
  test('a heartbeat not below the election timeout is refused, naming both (exit 78)', async () => {
    const p = await proposer({ SYNOD_HEARTBEAT_TICKS: '100', SYNOD_ELECTION_TICKS: '10' });
    const exit = await p.exited;
    expect(exit.code).toBe(78);
    expect(p.output()).toMatch(/SYNOD_HEARTBEAT_TICKS=100 is not below SYNOD_ELECTION_TICKS=10/);
    expect(p.output()).toMatch(/e\.g\. SYNOD_HEARTBEAT_TICKS=5 SYNOD_ELECTION_TICKS=25/);
  });

  test('a batch larger than a value may carry on the wire is refused (exit 78)', async () => {
    const p = await proposer({ SYNOD_MAX_BATCH: '5000' });
    expect((await p.exited).code).toBe(78);
    expect(p.output()).toMatch(/SYNOD_MAX_BATCH="5000" is invalid: must be an integer in 1\.\.1024/);
  });
});

describe('OpenTelemetry endpoint', () => {
  test('an OTLP endpoint without its http:// scheme is refused, naming the variable and the ' +
    'fix (exit 78), instead of a start-up failure that names neither', async () => {
    const p = await proposer({
      OTEL_SDK_DISABLED: '', OTEL_EXPORTER_OTLP_ENDPOINT: '127.0.0.1:4318',
    });
    expect((await p.exited).code).toBe(78);
    expect(p.output())
      .toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT="127\.0\.0\.1:4318" is not an http\(s\) URL/);
    expect(p.output()).toContain('e.g. http://otel-collector:4318');
  });
});

describe('stop signals', () => {
  test('a stop asked for while the service is still starting ends it at once (exit 0)',
    async () => {
      // A Redis that accepts connections and never answers: the acceptor's start waits on it.
      const silent = createServer(() => undefined);
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
      const port = (silent.address() as AddressInfo).port;
      try {
        const a = await spawnService(process.execPath, [acceptorMain], {
          SYNOD_NODE_ID: 'a1', NATS_URL: nats.url, SYNOD_HEALTH_PORT: '0',
          REDIS_URL: `redis://127.0.0.1:${port}`, OTEL_SDK_DISABLED: 'true',
        });
        await new Promise((r) => setTimeout(r, 700));
        expect(a.output()).not.toMatch(/synod-acceptor started/);
        // Handled (exit 0), not the default action (killed by the signal; and as PID 1 in a
        // container, ignored until the grace period ends).
        process.kill(a.pid, 'SIGTERM');
        expect((await a.exited).code).toBe(0);
        expect(a.output()).toMatch(/stop requested while starting: exiting/);
      } finally {
        silent.close();
      }
    }, 20_000);

  test('Ctrl-C then the supervisor\'s SIGTERM is one graceful stop (exit 0)', async () => {
    const p = await proposer({});
    await p.waitForLine(/synod-proposer started/);
    process.kill(p.pid, 'SIGINT');
    process.kill(p.pid, 'SIGTERM');
    const exit = await p.exited;
    // Exit 0 and no "second signal": the SIGTERM that lands during the stop is the same
    // request (logged "already shutting down"). A stop can also finish in the few
    // milliseconds before the SIGTERM is delivered; then there is nothing more to log.
    expect(exit.code).toBe(0);
    expect(p.output()).not.toMatch(/second signal/);
  }, 20_000);
});

/** Polls `url` until its status is `status` (and its body matches `body`); the last body. */
async function until(url: string, status: number, body: RegExp = /./): Promise<string> {
  const deadline = Date.now() + 20_000;
  let last = '';
  while (Date.now() < deadline) {
    const r = await fetch(url).catch(() => null);
    if (r !== null) {
      last = `${r.status} ${await r.text()}`;
      if (r.status === status && body.test(last)) return last;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`${url} never answered ${status} ${body}; last: ${last}`);
}

describe('an acceptor whose Redis is not there', () => {
  test('at start: it waits, not ready, and votes once Redis answers (no restart)', async () => {
    const port = await freePort();
    const redisDir = mkdtempSync(join(tmpdir(), 'synod-life-redis-'));
    const a = await spawnService(process.execPath, [acceptorMain], {
      SYNOD_NODE_ID: 'a1', NATS_URL: nats.url, SYNOD_HEALTH_PORT: '0',
      SYNOD_CLUSTER: `life${process.pid}`, OTEL_SDK_DISABLED: 'true',
      REDIS_URL: `redis://127.0.0.1:${port}`, SYNOD_ACCEPTOR_INIT: 'true',
      SYNOD_MARKER_CHECK_MS: '200',
    });
    let redis: Awaited<ReturnType<typeof startRedis>> | null = null;
    try {
      await a.waitForLine(/NOT VOTING: UNAVAILABLE/);
      const started = await a.waitForLine(/synod-acceptor started/);
      const ready = `http://127.0.0.1:${(JSON.parse(started) as { healthPort: number }).healthPort}/readyz`;
      await until(ready, 503, /UNAVAILABLE/);
      redis = await startRedis({ port, dir: redisDir });
      await a.waitForLine(/durable state loaded on a later attempt/, 40_000);
      await until(ready, 200);
      // Redis gone while voting: not ready (a write would fail and restart it), and ready again
      // when it answers.
      await redis.stop();
      await until(ready, 503, /Redis unreachable/);
      redis = await startRedis({ port, dir: redisDir });
      await until(ready, 200);
      expect(a.running()).toBe(true);
    } finally {
      await a.stop();
      await redis?.stop();
      rmSync(redisDir, { recursive: true, force: true });
    }
  }, 90_000);
});

describe('SYNOD_ACCEPTOR_INIT_RECORD', () => {
  test('the first start initialises an empty Redis and records it; after a wipe the restarted ' +
    'acceptor refuses (AMNESIA) instead of starting over', async () => {
    const state = mkdtempSync(join(tmpdir(), 'synod-life-state-'));
    const initFile = join(state, 'sub', 'initialised');
    const redis = await startRedis();
    const env = {
      SYNOD_NODE_ID: 'a1', NATS_URL: nats.url, SYNOD_HEALTH_PORT: '0',
      SYNOD_CLUSTER: `init${process.pid}`, OTEL_SDK_DISABLED: 'true', REDIS_URL: redis.url,
      SYNOD_ACCEPTOR_INIT_RECORD: initFile, SYNOD_MARKER_CHECK_MS: '200',
    };
    try {
      const first = await spawnService(process.execPath, [acceptorMain], env);
      await first.waitForLine(/acceptor voting/);
      expect(readFileSync(initFile, 'utf8')).toMatch(/^a1 initialised /);
      const port = new URL(redis.url).port;
      execFileSync('redis-cli', ['-p', port, 'FLUSHALL']);
      const exit = await first.exited;
      expect(exit.code).toBe(1);
      expect(first.output()).toMatch(/Redis lost this acceptor's state/);
      const again = await spawnService(process.execPath, [acceptorMain], env);
      try {
        await again.waitForLine(/"code":"AMNESIA".*NOT VOTING/);
        expect(again.output()).not.toMatch(/acceptor voting/);
      } finally {
        await again.stop();
      }
    } finally {
      await redis.stop();
      rmSync(state, { recursive: true, force: true });
    }
  }, 60_000);

  test('a record that cannot be written: the acceptor does not vote, and says why', async () => {
    const state = mkdtempSync(join(tmpdir(), 'synod-life-state-'));
    const blocker = join(state, 'a-file');
    writeFileSync(blocker, 'not a directory');
    const redis = await startRedis();
    try {
      const a = await spawnService(process.execPath, [acceptorMain], {
        SYNOD_NODE_ID: 'a1', NATS_URL: nats.url, SYNOD_HEALTH_PORT: '0',
        SYNOD_CLUSTER: `rec${process.pid}`, OTEL_SDK_DISABLED: 'true', REDIS_URL: redis.url,
        SYNOD_ACCEPTOR_INIT_RECORD: join(blocker, 'initialised'),
      });
      try {
        await a.waitForLine(/cannot write SYNOD_ACCEPTOR_INIT_RECORD/);
        const started = await a.waitForLine(/synod-acceptor started/);
        const port = (JSON.parse(started) as { healthPort: number }).healthPort;
        const r = await fetch(`http://127.0.0.1:${port}/readyz`);
        expect(r.status).toBe(503);
        expect(await r.text()).toMatch(/INIT_RECORD/);
        expect(a.output()).not.toMatch(/acceptor voting/);
      } finally {
        await a.stop();
      }
    } finally {
      await redis.stop();
      rmSync(state, { recursive: true, force: true });
    }
  }, 30_000);

  test('with SYNOD_ACCEPTOR_INIT=true as well it refuses to start, naming both (exit 78)',
    async () => {
      const p = await spawnService(process.execPath, [acceptorMain], {
        SYNOD_NODE_ID: 'a1', NATS_URL: nats.url, SYNOD_ACCEPTOR_INIT: 'true',
        SYNOD_ACCEPTOR_INIT_RECORD: '/tmp/x', OTEL_SDK_DISABLED: 'true',
      });
      expect((await p.exited).code).toBe(78);
      expect(p.output()).toMatch(/SYNOD_ACCEPTOR_INIT=true and SYNOD_ACCEPTOR_INIT_RECORD are both/);
    });
});
