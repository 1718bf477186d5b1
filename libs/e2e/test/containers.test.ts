import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort, type LocalCluster } from '@synod/testing';
import { GenericContainer, type StartedTestContainer, Wait } from 'testcontainers';
import { client, eventually, startCluster } from './harness.js';

/**
 * The services against NATS and Redis run as containers by testcontainers, when a container
 * engine answers (CI sets one up with ../shared/containers/engine.sh; elsewhere the tests spawn
 * the servers as processes, see harness.ts). Without an engine this file says why and skips,
 * except in CI, where a missing engine is a failure. The containers use the host's network on
 * free loopback ports: the local NATS stand-in image never gets its port published by podman.
 */
const CI = process.env['CI'] === 'true' || process.env['CI'] === '1';
const SOCKET = '/run/podman/podman.sock';

function engineProblem(): string | null {
  if ((process.env['DOCKER_HOST'] ?? '') === '' && existsSync(SOCKET)) {
    process.env['DOCKER_HOST'] = `unix://${SOCKET}`;
  }
  // No registry is reachable: Ryuk cannot be pulled, so every test stops what it starts.
  process.env['TESTCONTAINERS_RYUK_DISABLED'] ??= 'true';
  if ((process.env['DOCKER_HOST'] ?? '') === '') return 'no DOCKER_HOST and no podman socket';
  const v = spawnSync('docker', ['image', 'inspect', 'nats:2.10-alpine', 'redis:7-alpine'],
    { stdio: 'ignore', timeout: 15_000, env: { ...process.env } });
  return v.status === 0 ? null : 'the engine does not answer, or lacks the nats/redis images';
}

const problem = engineProblem();
if (problem !== null && !CI) {
  process.stderr.write(`containers.test.ts skipped: ${problem}; set one up with ` +
    '../shared/containers/engine.sh setup and images (.ci/run does)\n');
}
const maybe = problem !== null && !CI ? describe.skip : describe;

maybe('services against NATS and Redis containers (testcontainers)', () => {
  const started: StartedTestContainer[] = [];
  let cluster: LocalCluster | undefined;

  afterAll(async () => {
    await cluster?.stop();
    await Promise.all(started.map((c) => c.stop()));
  });

  test('a value proposed through the SDK is chosen and read back', async () => {
    expect(problem).toBeNull();
    const natsPort = await freePort();
    started.push(await new GenericContainer('nats:2.10-alpine').withNetworkMode('host')
      .withCommand(['-a', '127.0.0.1', '-p', String(natsPort)])
      .withWaitStrategy(Wait.forLogMessage(/Server is ready/)).withStartupTimeout(30_000).start());
    const redisPort = await freePort();
    started.push(await new GenericContainer('redis:7-alpine').withNetworkMode('host')
      .withCommand(['redis-server', '--bind', '127.0.0.1', '--port', String(redisPort),
        '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''])
      .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
      .withStartupTimeout(30_000).start());
    // One Redis container for every node keeps the test light (keys are per node); production
    // gives each acceptor its own (docs/operations.md).
    cluster = await startCluster({
      natsUrl: `nats://127.0.0.1:${natsPort}`, redisUrl: `redis://127.0.0.1:${redisPort}`,
    });
    const cl = await client(cluster);
    try {
      const r = await cl.propose('in containers');
      await eventually(async () => (await cl.read(r.slot)) !== null, 10_000, 'the learner');
      const e = await cl.read(r.slot);
      expect(e?.value.kind === 'cmds' && e.value.cmds[0]?.payload).toBe('in containers');
    } finally {
      await cl.close();
    }
  });
});
