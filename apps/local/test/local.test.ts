import { execFileSync, spawn } from 'node:child_process';
import {
  copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync,
  symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  type NatsServer, probeTcp, redisAnswers, spawnService, startNats, startRedis,
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
    [join(root, 'tools/build-apps.mjs'), 'acceptor', 'proposer', 'learner', 'local', 'cli'],
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

    // Another data dir on the same NATS and cluster name: refused, naming who answered.
    const other = mkdtempSync(join(tmpdir(), 'synod-local-'));
    try {
      const merged = await spawnService(process.execPath,
        [main, '--data-dir', other, '--no-traces', '--quiet'],
        { NATS_URL: nats.url, OTEL_SDK_DISABLED: 'true' });
      expect((await merged.exited).code).toBe(1);
      expect(merged.output()).toContain(`cluster 'synod' already runs on NATS_URL=${nats.url}`);
      expect(merged.output()).toMatch(/acceptor a1.* answered on synod\.synod\.status/);
      expect(merged.output()).toContain('--cluster <other name>');
      expect(merged.output()).not.toMatch(/starting Synod/);
      expect(existsSync(join(other, 'data', 'synod-data.json'))).toBe(false);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }

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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Info {
  pid: number;
  services: Array<{ id: string; pid: number | null; health: string; redis: string | null }>;
}

const readInfo = (d: string): Info =>
  JSON.parse(readFileSync(join(d, 'cluster.json'), 'utf8')) as Info;

/** The pid of the redis-server listening on `port` (there is one per port). */
function redisPid(port: number): number {
  const ps = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  const line = ps.split('\n').find((l) => /redis-server/.test(l) &&
    (new RegExp(`--port ${port}( |$)`).test(l) || l.includes(`:${port}`)));
  if (line === undefined) throw new Error(`no redis-server on port ${port}:\n${ps}`);
  return Number(line.trim().split(/\s+/)[0]);
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(what: string, ok: () => Promise<boolean> | boolean, ms: number):
  Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(100);
  }
}

async function status(health: string, path: string): Promise<{ code: number; body: string }> {
  try {
    const r = await fetch(`${health}${path}`);
    return { code: r.status, body: await r.text() };
  } catch {
    return { code: 0, body: '' };
  }
}

test('a redis-server killed with -9 is restarted on its port; its acceptor votes again',
  async () => {
  const first = await runner();
  try {
    await first.waitForLine(/Synod is up/, 60_000);
    const a1 = readInfo(dir).services.find((s) => s.id === 'a1');
    const port = Number(new URL(a1?.redis ?? '').port);
    const health = a1?.health ?? '';
    const before = redisPid(port);
    process.kill(before, 'SIGKILL');
    await first.waitForLine(new RegExp(`a1 +redis of a1: redis-server on port ${port} ` +
      `\\(pid ${before}\\) exited unexpectedly \\(code null, signal SIGKILL\\); restart #1`),
    10_000);
    await first.waitForLine(new RegExp(`redis-server on port ${port} restarted .*restart #1`),
      15_000);
    expect(await redisAnswers('127.0.0.1', port)).toBe(true);
    expect(redisPid(port)).not.toBe(before);
    await until('a1 ready and voting again', async () =>
      (await status(health, '/readyz')).code === 200 &&
      /"voting": *true/.test((await status(health, '/status')).body), 45_000).catch(async (e) => {
      throw new Error(`${String(e)}\n${(await status(health, '/status')).body}\n` +
        readFileSync(join(dir, 'logs', 'a1.log'), 'utf8').split('\n').slice(-15).join('\n'));
    });
    const cli = await spawnService(process.execPath, [join(root, 'dist/apps/cli/main.js'),
      '--nats', nats.url, '--cluster', 'synod', 'propose', 'after-redis-restart'], {});
    expect((await cli.exited).code).toBe(0);
    expect(cli.output()).toMatch(/slot/);
  } finally {
    if (first.running()) await first.stop();
  }
  // A deliberate stop restarted nothing.
  expect(first.output()).not.toMatch(/restart #2/);
}, 120_000);

/** The parent pid of `pid`, from /proc. */
const ppidOf = (pid: number): number =>
  Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);

test.each([
  ['the runner (dist/apps/local/main.js) under a node parent', 'node'],
  ['npm start\'s tools/start.mjs under a shell, as npm runs it', 'sh'],
  ['npm start\'s tools/start.mjs under a shell that outlives its parent (npm killed)', 'npm'],
])('%s: its parent killed with -9, the cluster stops and the lock is released',
  async (_what, how) => {
  // An intermediate parent, as npm or a script's shell is: it runs the runner, then is killed.
  // 'npm': a node parent (as npm) runs a shell that runs tools/start.mjs; the node parent is
  // killed and the shell lives on, as npm's `sh -c` does.
  const startCmd =
    `"${process.execPath}" tools/start.mjs --data-dir "${dir}" --no-traces --quiet; :`;
  const args = how === 'node'
    ? ['-e', `require('node:child_process').spawn(process.execPath, ${JSON.stringify(
      [main, '--data-dir', dir, '--no-traces', '--quiet'])}, { stdio: 'inherit' });
      setInterval(() => {}, 1e6);`]
    : how === 'npm'
      ? ['-e', `require('node:child_process').spawn('sh', ['-c', ${JSON.stringify(startCmd)}],
        { stdio: 'inherit' }); setInterval(() => {}, 1e6);`]
      : ['-c', startCmd];
  const parent = spawn(how === 'sh' ? 'sh' : process.execPath, args, {
    cwd: root, env: { ...process.env, NATS_URL: nats.url, OTEL_SDK_DISABLED: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  parent.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  parent.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  let pids: number[] = [];
  try {
    await until('the cluster is up', () => /Synod is up/.test(out), 60_000);
    const info = readInfo(dir);
    const ports = info.services.flatMap((s) => (s.redis === null ? []
      : [Number(new URL(s.redis).port)]));
    pids = [info.pid, ...info.services.flatMap((s) => (s.pid === null ? [] : [s.pid])),
      ...ports.map(redisPid)];
    expect(pids.length).toBeGreaterThanOrEqual(1 + 6 + 4);
    if (how === 'sh') {
      // sh -> tools/start.mjs -> the runner
      const start = ppidOf(info.pid);
      expect(ppidOf(start)).toBe(parent.pid);
      pids.push(start);
    } else if (how === 'npm') {
      // node (as npm) -> sh -> tools/start.mjs -> the runner; the shell outlives the node.
      const start = ppidOf(info.pid);
      const shell = ppidOf(start);
      expect(ppidOf(shell)).toBe(parent.pid);
      pids.push(start);
    } else expect(ppidOf(info.pid)).toBe(parent.pid);
    expect(existsSync(join(dir, 'npm-start.lock'))).toBe(true);
    process.kill(parent.pid as number, 'SIGKILL');
    await until('every process of the cluster gone', () => pids.every((p) => !alive(p)), 15_000);
    expect(existsSync(join(dir, 'npm-start.lock'))).toBe(false);
    expect(out).toMatch(/parent process \d+ exited: stopping/);
    if (how !== 'node') expect(out).toMatch(/SIGTERM: stopping services/);
  } finally {
    if (parent.exitCode === null && parent.signalCode === null) parent.kill('SIGKILL');
    for (const p of pids) if (alive(p)) process.kill(p, 'SIGKILL');
  }
}, 120_000);

test('the runner killed with -9: every process it started exits; a new start then runs',
  async () => {
  const first = await runner();
  let pids: number[] = [];
  try {
    await first.waitForLine(/Synod is up/, 60_000);
    const info = readInfo(dir);
    pids = [...info.services.flatMap((s) => (s.pid === null ? [] : [s.pid])),
      ...info.services.flatMap((s) => (s.redis === null ? []
        : [redisPid(Number(new URL(s.redis).port))]))];
    expect(pids.length).toBeGreaterThanOrEqual(6 + 4);
    await first.kill('SIGKILL');
    await until('every child of the killed runner gone', () => pids.every((p) => !alive(p)),
      10_000);
  } finally {
    if (first.running()) await first.kill('SIGKILL');
    for (const p of pids) if (alive(p)) process.kill(p, 'SIGKILL');
  }
  // Its lock and cluster.json name a dead runner: taken over, as nothing of it runs.
  expect(existsSync(join(dir, 'npm-start.lock'))).toBe(true);
  const again = await runner();
  try {
    await again.waitForLine(/Synod is up/, 60_000);
    process.kill(again.pid, 'SIGINT');
    expect((await again.exited).code).toBe(0);
  } finally {
    if (again.running()) await again.stop();
  }
}, 120_000);

test('processes of an earlier start still running on the data dir: refused, with their pids',
  async () => {
  const own = mkdtempSync(join(tmpdir(), 'synod-leftover-'));
  // As a child of a runner killed where no parent-death signal could be set.
  const stray = await spawnService(process.execPath, ['-e', 'setInterval(() => {}, 1e6)'],
    { SYNOD_LOCAL_RUNNER_DIR: own });
  try {
    const dead = await spawnService(process.execPath, ['-e', ''], {});
    await dead.exited;
    writeFileSync(join(own, 'npm-start.lock'), `${dead.pid}\n`);
    const r = await spawnService(process.execPath,
      [main, '--data-dir', own, '--no-traces', '--quiet'],
      { NATS_URL: nats.url, OTEL_SDK_DISABLED: 'true' });
    expect((await r.exited).code).toBe(1);
    expect(r.output()).toContain(`processes of an earlier npm start on ${own} still run`);
    expect(r.output()).toContain(`pid ${stray.pid}: `);
    expect(r.output()).toContain(`Stop them first: kill ${stray.pid}`);
    expect(existsSync(join(own, 'data'))).toBe(false);
    // The same data dir through a symlink: the same processes, found by the real path.
    symlinkSync(own, `${own}-link`);
    const viaLink = await spawnService(process.execPath,
      [main, '--data-dir', `${own}-link`, '--no-traces', '--quiet'],
      { NATS_URL: nats.url, OTEL_SDK_DISABLED: 'true' });
    expect((await viaLink.exited).code).toBe(1);
    expect(viaLink.output()).toContain(`pid ${stray.pid}: `);
  } finally {
    await stray.stop();
    rmSync(`${own}-link`, { force: true });
    rmSync(own, { recursive: true, force: true });
  }
}, 90_000);

test('a bad flag or variable is refused before anything is written; --help at once', async () => {
  const own = join(mkdtempSync(join(tmpdir(), 'synod-flags-')), 'dd');
  try {
    for (const [flags, env, says] of [
      [['--proposers', '10'], {}, /--proposers 10: must be a whole number from 1 to 9/],
      [['--acceptors', 'x'], {}, /--acceptors x: must be a whole number from 1 to 9/],
      [[], { REDIS_URL: 'notaurl' },
        /REDIS_URL=notaurl is not a Redis URL: expected redis:\/\/\[user:password@\]host:port/],
      [[], { NATS_URL: 'http://x:1' }, /NATS_URL=http:\/\/x:1 is not a NATS URL: expected nats/],
    ] as const) {
      const r = await spawnService(process.execPath,
        [main, '--data-dir', own, '--no-traces', '--quiet', ...flags],
        { NATS_URL: nats.url, OTEL_SDK_DISABLED: 'true', ...env });
      expect((await r.exited).code).toBe(1);
      expect(r.output()).toMatch(says);
      expect(existsSync(own)).toBe(false);
    }
  } finally {
    rmSync(resolve(own, '..'), { recursive: true, force: true });
  }
  // tools/start.mjs in a checkout with nothing installed: the help, not npm ci.
  const bare = mkdtempSync(join(tmpdir(), 'synod-bare-'));
  try {
    for (const f of ['tools/start.mjs', 'apps/local/help.txt']) {
      mkdirSync(join(bare, f, '..'), { recursive: true });
      copyFileSync(join(root, f), join(bare, f));
    }
    const r = await spawnService(process.execPath, [join(bare, 'tools/start.mjs'), '--help'], {});
    expect((await r.exited).code).toBe(0);
    expect(r.output()).toContain('Usage: npm start -- [options]');
    expect(r.output()).not.toMatch(/installing|^start: /m);
  } finally {
    rmSync(bare, { recursive: true, force: true });
  }
}, 60_000);

describe('the data directory remembers what it was made for', () => {
  let own: string;
  beforeEach(() => {
    own = mkdtempSync(join(tmpdir(), 'synod-shape-'));
  });
  afterEach(() => rmSync(own, { recursive: true, force: true }));

  const start = (extra: string[], env: Record<string, string> = {}) =>
    spawnService(process.execPath, [main, '--data-dir', own, '--no-traces', '--quiet', ...extra],
      { NATS_URL: nats.url, OTEL_SDK_DISABLED: 'true', ...env });

  test('a first start that failed leaves a directory that starts; another acceptor count or ' +
    'cluster name is refused before anything runs', async () => {
    // The acceptors exit at once (a bad variable): nothing was initialised.
    const failed = await start([], { SYNOD_MARKER_CHECK_MS: 'abc' });
    expect((await failed.exited).code).not.toBe(0);
    expect(existsSync(join(own, 'data', 'redis-a1'))).toBe(true);
    expect(existsSync(join(own, 'data', 'acceptor-a1.initialised'))).toBe(false);

    const ok = await start([]);
    await ok.waitForLine(/Synod is up/, 60_000);
    for (const id of ['a1', 'a2', 'a3']) {
      expect(existsSync(join(own, 'data', `acceptor-${id}.initialised`))).toBe(true);
    }
    process.kill(ok.pid, 'SIGINT');
    expect((await ok.exited).code).toBe(0);

    // (NATS_URL or REDIS_URL set to a server that does not answer: said, and not used.)
    const silent = 'redis://127.0.0.1:1';
    for (const [flags, says, env] of [
      [['--acceptors', '1'], /--acceptors 1, but the data in .* belongs to a cluster of 3 acceptors/,
        { REDIS_URL: silent }],
      [['--acceptors', '5'], /cluster of 3 acceptors: a majority of a different set need not overlap/,
        {}],
      [['--cluster', 'other'], /belongs to cluster 'synod' \(its acceptors would refuse to vote/,
        { NATS_URL: 'nats://127.0.0.1:1' }],
      [['--cluster', 'bad.name'], /--cluster "bad.name": a cluster name is 1 to 64 of/, {}],
    ] as const) {
      const refused = await start([...flags], env);
      expect((await refused.exited).code).toBe(1);
      expect(refused.output()).toMatch(says);
      expect(refused.output()).not.toMatch(/starting Synod/);
      if ('NATS_URL' in env) {
        expect(refused.output()).toContain('WARNING: NATS_URL=nats://127.0.0.1:1 was set but ' +
          'did not answer: not used; npm start runs its own NATS');
        expect(refused.output()).toMatch(/synod\) and npm run admin still use NATS_URL: unset /);
      }
      if ('REDIS_URL' in env) {
        expect(refused.output()).toContain(`WARNING: REDIS_URL=${silent} was set but did not ` +
          'answer: not used; npm start runs its own Redis servers');
      }
    }
    expect(readdirSync(join(own, 'data')).filter((d) => d.startsWith('redis-'))).toHaveLength(4);

    // An acceptor's Redis data deleted: amnesia, refused (not taken for a new member); the
    // other two vote, so the cluster comes up and says how to readmit it.
    rmSync(join(own, 'data', 'redis-a1'), { recursive: true, force: true });
    const amnesic = await start([]);
    await amnesic.waitForLine(/Synod is up/, 60_000);
    expect(amnesic.output()).toMatch(/WARNING: acceptor a1 runs but does not vote: .*AMNESIA/);
    expect(amnesic.output()).toContain(`SYNOD_DATA_DIR=${own} npm run admin -- readmit ` +
      '--acceptor a1');
    expect(existsSync(join(own, 'cluster.json'))).toBe(true);
    process.kill(amnesic.pid, 'SIGINT');
    expect((await amnesic.exited).code).toBe(0);

    // With a shared REDIS_URL the state is not in the data dir: --fresh cannot wipe it.
    const shared = await start(['--fresh'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect((await shared.exited).code).toBe(1);
    expect(shared.output()).toMatch(/--fresh cannot wipe the shared REDIS_URL/);
    expect(existsSync(join(own, 'data', 'synod-data.json'))).toBe(true);

    // --fresh makes a new cluster of the new shape.
    const fresh = await start(['--fresh', '--acceptors', '1']);
    await fresh.waitForLine(/Synod is up/, 60_000);
    process.kill(fresh.pid, 'SIGINT');
    expect((await fresh.exited).code).toBe(0);
  }, 180_000);
});
