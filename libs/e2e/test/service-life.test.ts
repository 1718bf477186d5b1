import { join, resolve } from 'node:path';
import { type NatsServer, spawnService, startNats } from '@synod/testing';
import { buildServices } from './harness.js';

/**
 * The life of one service process: configuration checks that span variables (exit 78, the
 * variables named), and the stop signals a terminal and a supervisor send.
 */
const proposerMain = join(resolve(__dirname, '../../..'), 'dist/apps/proposer/main.js');

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

describe('stop signals', () => {
  test('Ctrl-C then the supervisor\'s SIGTERM is one graceful stop (exit 0)', async () => {
    const p = await proposer({});
    await p.waitForLine(/synod-proposer started/);
    process.kill(p.pid, 'SIGINT');
    process.kill(p.pid, 'SIGTERM');
    const exit = await p.exited;
    expect(exit.code).toBe(0);
    expect(p.output()).toMatch(/already shutting down/);
    expect(p.output()).not.toMatch(/second signal/);
  }, 20_000);
});
