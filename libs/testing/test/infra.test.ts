import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import {
  freePort,
  MissingBinaryError,
  natsAnswers,
  natsForTest,
  type NatsServer,
  probeTcp,
  redisAnswers,
  type RedisServer,
  spawnService,
  startNats,
  startRedis,
} from '@synod/testing';

const run = promisify(execFile);

/** Runs one redis-cli command against `port` and returns its trimmed output. */
async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]);
  return stdout.trim();
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('freePort', () => {
  it('returns a loopback port that nothing listens on', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(await probeTcp('127.0.0.1', port, { timeoutMs: 200 })).toBeUndefined();
  });
});

describe('startNats', () => {
  let nats: NatsServer | undefined;
  afterAll(async () => nats?.stop());

  it('starts on a free port, greets clients, and stops by PID', async () => {
    nats = await startNats({ jetstream: true });
    expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`);
    expect(await natsAnswers('127.0.0.1', nats.port)).toBe(true);
    const pid = nats.pid;
    expect(alive(pid)).toBe(true);
    await nats.stop();
    expect(alive(pid)).toBe(false);
    expect(await natsAnswers('127.0.0.1', nats.port, 200)).toBe(false);
    expect(existsSync(nats.dir)).toBe(false);
  });

  it('restarts on the same port after a kill', async () => {
    nats = await startNats();
    const { port, pid } = nats;
    await nats.kill('SIGKILL');
    expect(alive(pid)).toBe(false);
    await nats.restart();
    expect(nats.port).toBe(port);
    expect(nats.pid).not.toBe(pid);
    expect(await natsAnswers('127.0.0.1', port)).toBe(true);
    await nats.stop();
  });

  it('takes a configuration file (here: token auth)', async () => {
    nats = await startNats({ config: 'authorization { token: "s3cret" }\n' });
    const info = await probeTcp('127.0.0.1', nats.port);
    expect(info).toMatch(/"auth_required":true/);
    await nats.stop();
  });

  it('takes a fixed port', async () => {
    const port = await freePort();
    nats = await startNats({ port });
    expect(nats.url).toBe(`nats://127.0.0.1:${port}`);
    expect(await natsAnswers('127.0.0.1', port)).toBe(true);
    await nats.stop();
  });

  it('names the fix when nats-server is not on the PATH', async () => {
    const err = await startNats({ env: { PATH: '/nonexistent' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingBinaryError);
    expect((err as Error).message).toBe(
      'nats-server not found: install it with `apt-get install -y nats-server`',
    );
  });
});

describe('natsForTest', () => {
  const saved = process.env['NATS_URL'];
  afterEach(() => {
    if (saved === undefined) delete process.env['NATS_URL'];
    else process.env['NATS_URL'] = saved;
  });

  it('uses NATS_URL when a server answers there, else spawns one', async () => {
    const external = await startNats();
    try {
      process.env['NATS_URL'] = external.url;
      const used = await natsForTest();
      expect(used).toMatchObject({ url: external.url, server: undefined });
      await used.stop();
      expect(await natsAnswers('127.0.0.1', external.port)).toBe(true);
    } finally {
      await external.stop();
    }
    const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const spawned = await natsForTest();
    write.mockRestore();
    expect(spawned.server).toBeDefined();
    expect(spawned.url).not.toBe(external.url);
    expect(await natsAnswers('127.0.0.1', spawned.server?.port ?? 0)).toBe(true);
    await spawned.stop();
  });
});

describe('startRedis', () => {
  let redis: RedisServer | undefined;
  afterAll(async () => redis?.stop());

  it('keeps acknowledged writes across SIGKILL and restart (AOF, appendfsync always)', async () => {
    redis = await startRedis();
    const { port, dir } = redis;
    expect(await cli(port, 'CONFIG', 'GET', 'appendfsync')).toBe('appendfsync\nalways');
    expect(await cli(port, 'SET', 'synod:k', 'v1')).toBe('OK');
    expect(await cli(port, 'INCR', 'synod:n')).toBe('1');
    await redis.kill('SIGKILL');
    expect(await redisAnswers('127.0.0.1', port, 200)).toBe(false);
    await redis.restart();
    expect(redis.port).toBe(port);
    expect(redis.dir).toBe(dir);
    expect(await cli(port, 'GET', 'synod:k')).toBe('v1');
    expect(await cli(port, 'GET', 'synod:n')).toBe('1');
    await redis.stop();
    expect(existsSync(dir)).toBe(false);
  });

  it('names the fix when redis-server is not on the PATH', async () => {
    const err = await startRedis({ env: { PATH: '/nonexistent' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingBinaryError);
    expect((err as Error).message).toBe(
      'redis-server not found: install it with `apt-get install -y redis-server`',
    );
  });
});

describe('a supervised server', () => {
  const waitFor = async (ok: () => Promise<boolean> | boolean, ms: number): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('comes back on its port with its data after an unexpected exit; never after kill or stop',
    async () => {
      const redis = await startRedis();
      const lines: string[] = [];
      redis.supervise((l) => lines.push(l));
      try {
        expect(await cli(redis.port, 'SET', 'k', 'v')).toBe('OK');
        const first = redis.pid;
        process.kill(first, 'SIGKILL'); // from outside, as an operator or the OOM killer would
        await waitFor(() => lines.some((l) => l.includes('restarted')), 10_000);
        expect(lines[0]).toBe(`redis-server on port ${redis.port} (pid ${first}) exited ` +
          'unexpectedly (code null, signal SIGKILL); restart #1 in 500 ms, ' +
          'same port and arguments');
        expect(redis.restartCount).toBe(1);
        expect(redis.pid).not.toBe(first);
        expect(await cli(redis.port, 'GET', 'k')).toBe('v');

        // A kill through the handle is deliberate: it stays down.
        await redis.kill('SIGKILL');
        await new Promise((r) => setTimeout(r, 1500));
        expect(await redisAnswers('127.0.0.1', redis.port)).toBe(false);
        expect(redis.restartCount).toBe(1);
        await redis.restart();

        // Died, then stopped during the back-off: nothing is started again.
        process.kill(redis.pid, 'SIGKILL');
        await waitFor(() => redis.restartCount === 2, 5000);
        await redis.stop();
        await new Promise((r) => setTimeout(r, 1500));
        expect(await redisAnswers('127.0.0.1', redis.port)).toBe(false);
        expect(lines.filter((l) => l.includes('restarted'))).toHaveLength(1);
      } finally {
        await redis.stop();
      }
    }, 30_000);
});

describe('spawnService', () => {
  it('waits for a log line, keeps the output, and stops the process', async () => {
    const script = `console.log('booting'); setTimeout(() => console.error('listening on 42'), 50);
      setInterval(() => undefined, 1000);`;
    const svc = await spawnService(process.execPath, ['-e', script], { SYNOD_X: '1' });
    expect(await svc.waitForLine(/listening on (\d+)/, 5000)).toBe('listening on 42');
    expect(svc.output()).toContain('booting');
    const end = await svc.stop(2000);
    expect(end.signal).toBe('SIGTERM');
    expect(svc.running()).toBe(false);
  });

  it('rejects waitForLine when the process exits first', async () => {
    const svc = await spawnService(process.execPath, ['-e', 'console.log("bye")']);
    await expect(svc.waitForLine(/never/, 5000)).rejects.toThrow(/exited \(code 0.*\n.*bye/s);
  });
});
