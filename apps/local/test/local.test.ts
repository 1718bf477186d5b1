import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  type NatsServer, probeTcp, spawnService, startNats, startRedis,
} from '@synod/testing';

/**
 * What `npm start` runs (apps/local), as a user meets it: one cluster per data directory, and
 * nothing left running when its terminal goes away.
 */
const root = resolve(__dirname, '../../..');
const main = join(root, 'dist/apps/local/main.js');

let nats: NatsServer;
let dir: string;

beforeAll(async () => {
  execFileSync(process.execPath,
    [join(root, 'tools/build-apps.mjs'), 'acceptor', 'proposer', 'learner', 'local'],
    { cwd: root, stdio: 'pipe' });
  // Its own NATS (a free port), so that the runner does not take 4222 on a shared machine.
  nats = await startNats();
  dir = mkdtempSync(join(tmpdir(), 'synod-local-'));
}, 60_000);

afterAll(async () => {
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function runner() {
  return spawnService(process.execPath, [main, '--data-dir', dir, '--no-traces', '--quiet'], {
    NATS_URL: nats.url, OTEL_SDK_DISABLED: 'true',
  });
}

test('a second npm start on one data directory is refused; SIGHUP stops all', async () => {
  const first = await runner();
  try {
    await first.waitForLine(/Synod is up/, 60_000);
    const info = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as {
      services: Array<{ pid: number | null; redis: string | null }>;
    };
    const redisPorts = [...new Set(info.services.flatMap((s) =>
      s.redis === null ? [] : [Number(new URL(s.redis).port)]))];
    expect(redisPorts.length).toBeGreaterThanOrEqual(4);

    const second = await runner();
    const exit = await second.exited;
    expect(exit.code).toBe(1);
    expect(second.output()).toContain(`another npm start (pid ${first.pid}) is running on ${dir}`);
    expect(second.output()).toContain('--data-dir');
    // The refused one touched nothing: the first cluster's description is still there.
    expect(readFileSync(join(dir, 'cluster.json'), 'utf8')).toContain(`"pid": ${first.pid}`);

    process.kill(first.pid, 'SIGHUP');
    expect((await first.exited).code).toBe(0);
    for (const port of redisPorts) expect(await probeTcp('127.0.0.1', port)).toBeUndefined();
    const pids = info.services.flatMap((s) => (s.pid === null ? [] : [s.pid]));
    expect(pids.length).toBe(info.services.length);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  } finally {
    if (first.running()) await first.stop();
  }
}, 120_000);

test('a REDIS_URL that does not fsync every write is refused at once, with the fix', async () => {
  const redis = await startRedis({ appendfsync: 'everysec' });
  const other = mkdtempSync(join(tmpdir(), 'synod-local-'));
  try {
    const r = await spawnService(process.execPath,
      [main, '--data-dir', other, '--no-traces', '--quiet'],
      { NATS_URL: nats.url, REDIS_URL: redis.url, OTEL_SDK_DISABLED: 'true' });
    expect((await r.exited).code).toBe(1);
    expect(r.output()).toContain('runs with appendonly yes, appendfsync everysec');
    expect(r.output()).toContain('CONFIG SET appendfsync always');
  } finally {
    await redis.stop();
    rmSync(other, { recursive: true, force: true });
  }
}, 60_000);
