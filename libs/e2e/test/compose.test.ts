import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SynodClient, SynodConnectError } from '@synod/client';
import { clusterShape, natsPasswordVar, natsPasswordVars, randomPassword } from '@synod/deploy';
import { freePort } from '@synod/testing';
import { eventually } from './harness.js';

/**
 * docker-compose.yml run for real: images built from infra/docker/Dockerfile, the stack up
 * with fresh passwords, a value proposed through the published NATS port and read back, an
 * acceptor container killed while the stack keeps deciding, then `down -v`. It needs a
 * Docker-compatible engine and docker-compose v1; CI sets one up with
 * ../shared/containers/engine.sh (.ci/run). Without one the stack tests are skipped, and say
 * why, except in CI, where a missing engine is a failure.
 */

const root = resolve(__dirname, '../../..');
const CI = process.env['CI'] === 'true' || process.env['CI'] === '1';
const PODMAN_SOCKET = '/run/podman/podman.sock';
const BASE_IMAGES = ['node:20-bookworm-slim', 'nats:2.10-alpine', 'redis:7-alpine'];

/** The environment for docker and docker-compose: DOCKER_HOST found when not given. */
function engineEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if ((env['DOCKER_HOST'] ?? '') === '' && existsSync(PODMAN_SOCKET)) {
    env['DOCKER_HOST'] = `unix://${PODMAN_SOCKET}`;
  }
  return env;
}

function has(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).status === 0;
}

/** Why the stack cannot run here, or null when an engine answers and has the base images. */
function engineProblem(): string | null {
  const setup = process.env['SYNOD_ENGINE_PROBLEM'];
  const hint = 'set one up with ../shared/containers/engine.sh setup and images (.ci/run does)';
  if (!has('docker-compose')) return `docker-compose (v1) is not installed; ${hint}`;
  if (!has('docker')) return `the docker client is not installed; ${hint}`;
  const v = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'],
    { env: engineEnv(), encoding: 'utf8', timeout: 15_000 });
  if (v.status !== 0) {
    const why = `${v.stderr ?? ''}`.split('\n').find((l) => l.trim() !== '') ?? 'no answer';
    return `no container engine answers (${why.trim()})${setup ? `; ${setup}` : ''}; ${hint}`;
  }
  const missing = BASE_IMAGES.filter((image) => spawnSync('docker', ['image', 'inspect', image],
    { env: engineEnv(), stdio: 'ignore', timeout: 15_000 }).status !== 0);
  if (missing.length > 0) return `base images missing: ${missing.join(', ')}; ${hint}`;
  return null;
}

interface Run {
  readonly code: number;
  readonly out: string;
  readonly ms: number;
}

/** Runs a command from the repository root; never rejects. */
function run(argv: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Run> {
  const t0 = Date.now();
  return new Promise((done) => {
    execFile(argv[0] as string, argv.slice(1), {
      cwd: root, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024,
    }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      done({ code, out: `${stdout}${stderr}`, ms: Date.now() - t0 });
    });
  });
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

describe('docker-compose.yml validates offline', () => {
  const composeMissing = !has('docker-compose');
  if (composeMissing && !CI) {
    test.skip('docker-compose (v1) is not installed: config checks skipped', () => undefined);
    return;
  }
  test.each([[[]], [['--profile', 'observability']]])('config -q %j', async (extra) => {
    const r = await run(['docker-compose', '-f', 'docker-compose.yml', ...extra, 'config', '-q'],
      process.env, 60_000);
    expect(r).toMatchObject({ code: 0, out: '' });
  });

  test('the observability profile mounts files that exist', async () => {
    const r = await run(['docker-compose', '-f', 'docker-compose.yml', '--profile',
      'observability', 'config'], process.env, 60_000);
    expect(r.code).toBe(0);
    for (const p of ['infra/otel/collector.yaml', 'infra/prometheus/prometheus.yml',
      'infra/prometheus/alerts.yml',
      'infra/grafana/provisioning', 'infra/grafana/dashboards']) {
      expect(r.out).toContain(join(root, p));
      expect(existsSync(join(root, p))).toBe(true);
    }
  });
});

const problem = engineProblem();
if (problem !== null) {
  process.stdout.write(`compose stack test ${CI ? 'FAILS (CI must run it)' : 'SKIPPED'}: ` +
    `${problem}\n`);
}

describe('the compose stack, run for real', () => {
  if (problem !== null && !CI) {
    test.skip(`skipped: ${problem}`, () => undefined);
    return;
  }
  if (problem !== null) {
    test('a container engine answers (CI sets it up)', () => {
      throw new Error(`no container engine in CI: ${problem}`);
    });
    return;
  }

  const project = `synod-e2e-${process.pid}`;
  const passwords: Record<string, string> = {};
  let env: NodeJS.ProcessEnv;
  let natsUrl: string;
  const times: string[] = [];
  const compose = (args: readonly string[], timeoutMs = 300_000): Promise<Run> =>
    run(['docker-compose', '-p', project, '-f', 'docker-compose.yml', ...args], env, timeoutMs);

  beforeAll(async () => {
    const port = await freePort();
    natsUrl = `nats://127.0.0.1:${port}`;
    // One for every NATS user of the stack: acceptors, the proposer and learner pools, clients.
    const shape = clusterShape(readFileSync(join(root, 'infra/compose/synod.env'), 'utf8'));
    for (const v of natsPasswordVars(shape)) passwords[v] = randomPassword();
    for (const id of ['A1', 'A2', 'A3', 'L1', 'L2']) passwords[`SYNOD_REDIS_PASSWORD_${id}`] =
      randomPassword();
    env = {
      ...engineEnv(), ...passwords, SYNOD_NATS_PORT: String(port), SYNOD_IMAGE_TAG: 'e2e',
      SYNOD_OTLP_ENDPOINT: '',
    };
    const build = await compose(['build'], 900_000);
    times.push(`build ${seconds(build.ms)}`);
    if (build.code !== 0) {
      throw new Error(`docker-compose build failed:\n${build.out.slice(-4000)}`);
    }
    const up = await compose(['up', '-d', '--no-build']);
    if (up.code !== 0) throw new Error(`docker-compose up failed:\n${up.out.slice(-4000)}`);
    const t0 = Date.now();
    await waitHealthy(compose, env);
    times.push(`up ${seconds(up.ms)} + healthy after ${seconds(Date.now() - t0)}`);
  }, 1_200_000);

  afterAll(async () => {
    const down = await compose(['down', '-v', '--remove-orphans', '--timeout', '5']);
    times.push(`down -v ${seconds(down.ms)}`);
    process.stdout.write(`compose stack: ${times.join(', ')}\n`);
    if (down.code !== 0) process.stdout.write(`docker-compose down failed:\n${down.out}\n`);
  }, 300_000);

  const connect = (): Promise<SynodClient> => SynodClient.connect({
    servers: natsUrl, user: 'client', pass: passwords[natsPasswordVar('client')] as string,
    timeoutMs: 15_000,
  });

  test('a value proposed through the stack is chosen and read back', async () => {
    const cl = await connect();
    try {
      const r = await cl.propose('hello from compose');
      await eventually(async () => (await cl.read(r.slot)) !== null, 20_000, 'the learner');
      const e = await cl.read(r.slot);
      expect(e?.value).toMatchObject({
        kind: 'cmds', cmds: [{ clientId: r.clientId, seq: r.seq, payload: 'hello from compose' }],
      });
      const st = await cl.status();
      expect(st.services.map((s) => s.id).sort())
        .toEqual(['a1', 'a2', 'a3', 'l1', 'l2', 'p1', 'p2']);
    } finally {
      await cl.close();
    }
  });

  test('each acceptor recorded on its state volume that it was initialised (so that a wiped ' +
    'Redis is refused later, not taken for a new member)', async () => {
    for (const id of ['a1', 'a2', 'a3']) {
      const r = await compose(
        ['exec', '-T', `acceptor-${id}`, 'cat', '/var/lib/synod/initialised']);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`^${id} initialised `, 'm'));
    }
  });

  test('NATS in the stack refuses a client without the password', async () => {
    await expect(SynodClient.connect({ servers: natsUrl, timeoutMs: 2000 }))
      .rejects.toBeInstanceOf(SynodConnectError);
    await expect(SynodClient.connect({ servers: natsUrl, user: 'client', pass: 'devClient',
      timeoutMs: 2000 })).rejects.toBeInstanceOf(SynodConnectError);
  });

  test('an acceptor container is killed: the stack keeps deciding', async () => {
    const kill = await compose(['kill', '-s', 'SIGKILL', 'acceptor-a2']);
    expect(kill.code).toBe(0);
    const cl = await connect();
    try {
      const slots: number[] = [];
      for (let i = 0; i < 20; i++) slots.push((await cl.propose(`after-kill-${i}`)).slot);
      const last = Math.max(...slots);
      await eventually(async () => (await cl.read(last)) !== null, 20_000, 'the learner');
      const st = await cl.status();
      expect(st.services.filter((s) => s.role === 'acceptor').length).toBeGreaterThanOrEqual(2);
    } finally {
      await cl.close();
    }
  });
});

/** Waits until every container of the project is running and healthy (all have checks). */
async function waitHealthy(compose: (a: readonly string[]) => Promise<Run>,
  env: NodeJS.ProcessEnv): Promise<void> {
  const deadline = Date.now() + 180_000;
  let last = '';
  for (;;) {
    const ids = (await compose(['ps', '-q'])).out.split('\n')
      .filter((l) => /^[0-9a-f]{12,}$/.test(l));
    const states = ids.length === 0 ? { code: 1, out: '', ms: 0 } : await run(['docker', 'inspect',
      '--format', '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}' +
      '{{else}}none{{end}}', ...ids], env, 60_000);
    last = states.out.trim();
    const lines = last.split('\n').filter((l) => l !== '');
    if (lines.length >= 13 && lines.every((l) => / running healthy$/.test(l))) return;
    if (Date.now() > deadline) {
      const logs = await compose(['logs', '--no-color', '--tail', '30']);
      throw new Error(`the stack is not healthy after 180 s:\n${last}\n${logs.out.slice(-6000)}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
