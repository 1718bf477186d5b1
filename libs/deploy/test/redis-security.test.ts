import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { fillRedisAcl, randomPassword, redisUrlWithUser } from '@synod/deploy';
import {
  ACCEPTOR_REDIS_COMMANDS,
  LEARNER_REDIS_COMMANDS,
  readmitAcceptor,
  REDIS_DEFAULT_USER,
  RedisAcceptorStore,
  RedisLearnerStore,
} from '@synod/store-redis';
import { type RedisServer, startRedis } from '@synod/testing';

/**
 * T5, Redis: a real redis-server runs the generated ACL users (docs/security.md). Every
 * (user, key, command) pair of the matrix below is tried on a fresh connection: a denied one
 * must be refused (NOPERM; NOAUTH for `default`, which is off) with the data, the configuration
 * and the ACL unchanged; an allowed
 * one must succeed. Then each store runs its whole life on a Redis holding only its own user,
 * as in production, which shows the allowed commands are also enough.
 */

const CLUSTER = 'synod';
const ADMIN = { user: 'admin', password: 'adminPw1' };

/** The keys of the matrix, by kind: strings and hashes of three stores, another cluster, others. */
const KEYS = {
  string: {
    a1: `synod:{${CLUSTER}}:acceptor:a1:promised`,
    a2: `synod:{${CLUSTER}}:acceptor:a2:promised`,
    l1: `synod:{${CLUSTER}}:learner:l1:next`,
    otherCluster: 'synod:{other}:acceptor:a1:promised',
    foreign: 'app:config',
  },
  hash: {
    a1: `synod:{${CLUSTER}}:acceptor:a1:accepted`,
    a2: `synod:{${CLUSTER}}:acceptor:a2:accepted`,
    l1: `synod:{${CLUSTER}}:learner:l1:log`,
    foreign: 'app:hash',
  },
} as const;

const GET_SCRIPT = "return redis.call('GET', KEYS[1])";
const SET_SCRIPT = "return redis.call('SET', KEYS[1], 'x')";
const HSET_SCRIPT = "return redis.call('HSET', KEYS[1], 'f', 'x')";

/** One command of the matrix: its ACL name and its arguments for a key (or none). */
interface Cmd {
  readonly acl: string;
  readonly args: (key: string) => (string | number)[];
}

const STRING_CMDS: readonly Cmd[] = [
  { acl: 'get', args: (k) => ['GET', k] },
  { acl: 'set', args: (k) => ['SET', k, 'x'] },
  { acl: 'mget', args: (k) => ['MGET', k] },
  { acl: 'del', args: (k) => ['DEL', k] },
  { acl: 'append', args: (k) => ['APPEND', k, 'x'] },
  { acl: 'expire', args: (k) => ['EXPIRE', k, 100] },
  { acl: 'getdel', args: (k) => ['GETDEL', k] },
  { acl: 'eval', args: (k) => ['EVAL', GET_SCRIPT, 1, k] },
  { acl: 'eval', args: (k) => ['EVAL', SET_SCRIPT, 1, k] },
  { acl: 'evalsha', args: (k) => ['EVALSHA', sha1(GET_SCRIPT), 1, k] },
];
const HASH_CMDS: readonly Cmd[] = [
  { acl: 'hget', args: (k) => ['HGET', k, 'f'] },
  { acl: 'hset', args: (k) => ['HSET', k, 'f', 'y'] },
  { acl: 'hmget', args: (k) => ['HMGET', k, 'f'] },
  { acl: 'hlen', args: (k) => ['HLEN', k] },
  { acl: 'hscan', args: (k) => ['HSCAN', k, '0'] },
  { acl: 'hgetall', args: (k) => ['HGETALL', k] },
  { acl: 'hdel', args: (k) => ['HDEL', k, 'f'] },
  { acl: 'eval', args: (k) => ['EVAL', HSET_SCRIPT, 1, k] },
];
const KEYLESS_CMDS: readonly Cmd[] = [
  { acl: 'ping', args: () => ['PING'] },
  { acl: 'multi', args: () => ['MULTI'] },
  { acl: 'info', args: () => ['INFO', 'server'] },
  { acl: 'scan', args: () => ['SCAN', '0'] },
  { acl: 'config|get', args: () => ['CONFIG', 'GET', 'appendfsync'] },
  { acl: 'config|set', args: () => ['CONFIG', 'SET', 'appendfsync', 'no'] },
  { acl: 'config|rewrite', args: () => ['CONFIG', 'REWRITE'] },
  { acl: 'flushall', args: () => ['FLUSHALL'] },
  { acl: 'flushdb', args: () => ['FLUSHDB'] },
  { acl: 'keys', args: () => ['KEYS', '*'] },
  { acl: 'dbsize', args: () => ['DBSIZE'] },
  { acl: 'client|setname', args: () => ['CLIENT', 'SETNAME', 't5'] },
  { acl: 'client|list', args: () => ['CLIENT', 'LIST'] },
  { acl: 'select', args: () => ['SELECT', '1'] },
  { acl: 'swapdb', args: () => ['SWAPDB', '0', '1'] },
  { acl: 'bgrewriteaof', args: () => ['BGREWRITEAOF'] },
  { acl: 'replicaof', args: () => ['REPLICAOF', 'NO', 'ONE'] },
  { acl: 'module|list', args: () => ['MODULE', 'LIST'] },
  { acl: 'script|flush', args: () => ['SCRIPT', 'FLUSH'] },
  { acl: 'script|load', args: () => ['SCRIPT', 'LOAD', 'return 1'] },
  { acl: 'function|flush', args: () => ['FUNCTION', 'FLUSH'] },
  { acl: 'publish', args: () => ['PUBLISH', 'ch', 'x'] },
  { acl: 'acl|setuser', args: () => ['ACL', 'SETUSER', 'intruder', 'on', '>x', '~*', '+@all'] },
  { acl: 'acl|list', args: () => ['ACL', 'LIST'] },
  { acl: 'migrate', args: () => ['MIGRATE', '127.0.0.1', '1', '', '0', '10', 'KEYS', 'x'] },
  { acl: 'shutdown', args: () => ['SHUTDOWN', 'NOSAVE'] },
];

/** The users of the matrix and what each is meant to be allowed. */
interface MatrixUser {
  readonly user: string;
  readonly password: string;
  readonly commands: readonly string[];
  readonly keyPrefix: string | null;
  /**
   * How a denied command is refused. NOPERM for a command or key; a script's own call refused
   * reads "can't access". The `default` user is off: every command gets NOAUTH.
   */
  readonly refusal: RegExp;
}

const NOPERM = /NOPERM|no permissions|can't access/i;

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

/** Seeds the data every attempt starts from (through the admin user). */
async function seed(admin: Redis): Promise<void> {
  const m = admin.multi().flushall();
  for (const k of Object.values(KEYS.string)) m.set(k, 'v');
  for (const k of Object.values(KEYS.hash)) m.hset(k, 'f', 'v');
  m.config('SET', 'appendfsync', 'always');
  await m.exec();
  await admin.script('LOAD', GET_SCRIPT);
}

/** Everything a denied command could have changed, read through the admin user. */
async function snapshot(admin: Redis): Promise<string> {
  const data: Record<string, unknown> = {};
  for (const k of (await admin.keys('*')).sort()) {
    const type = await admin.type(k);
    data[k] = type === 'hash' ? await admin.hgetall(k) : [type, await admin.get(k).catch(() => '?'),
      await admin.ttl(k)];
  }
  const db1 = await admin.call('EVAL', "redis.call('SELECT', 1) return redis.call('DBSIZE')", 0);
  return JSON.stringify({
    data, db1, fsync: await admin.config('GET', 'appendfsync'), acl: await admin.acl('LIST'),
    script: await admin.script('EXISTS', sha1(GET_SCRIPT)),
  });
}

/**
 * Tries every (key, command) pair as `u` on `url`; returns what went wrong, with the number of
 * allowed and denied pairs tried.
 */
async function redisMatrix(url: string, admin: Redis, u: MatrixUser):
  Promise<{ wrong: string[]; allowed: number; denied: number }> {
  const pairs: { cmd: Cmd; key: string | null }[] = [
    ...STRING_CMDS.flatMap((cmd) => Object.values(KEYS.string).map((key) => ({ cmd, key }))),
    ...HASH_CMDS.flatMap((cmd) => Object.values(KEYS.hash).map((key) => ({ cmd, key }))),
    ...KEYLESS_CMDS.map((cmd) => ({ cmd, key: null })),
    // A script that declares an allowed key and touches another one inside.
    {
      cmd: { acl: 'eval', args: () => ['EVAL', "return redis.call('GET', KEYS[1]) .. " +
        `redis.call('GET', '${KEYS.string.a2}')`, 1, u.keyPrefix === null ? 'x' :
        `${u.keyPrefix}promised`] },
      key: KEYS.string.a2,
    },
  ];
  const wrong: string[] = [];
  let allowed = 0;
  let denied = 0;
  for (const { cmd, key } of pairs) {
    await seed(admin);
    const before = await snapshot(admin);
    const ok = u.commands.includes(cmd.acl) &&
      (key === null || (u.keyPrefix !== null && key.startsWith(u.keyPrefix)));
    const args = cmd.args(key ?? '');
    const what = `${u.user} ${args.join(' ').slice(0, 90)}`;
    // `default` has no password: its client sends no AUTH (ioredis would send `AUTH default`).
    const login = u.password === '' ? {} : { username: u.user, password: u.password };
    const r = new Redis(url, { ...login, lazyConnect: true, enableReadyCheck: false,
      maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    let error: string | null = null;
    try {
      await r.connect();
      await r.call(String(args[0]), ...args.slice(1));
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    } finally {
      r.disconnect();
    }
    if (ok) {
      allowed++;
      if (error !== null) wrong.push(`allowed but failed: ${what}: ${error}`);
    } else {
      denied++;
      if (error === null || !u.refusal.test(error)) {
        wrong.push(`denied but not refused: ${what}: ${error ?? 'it worked'}`);
      } else if ((await snapshot(admin)) !== before) {
        wrong.push(`denied but changed something: ${what}`);
      }
    }
  }
  return { wrong, allowed, denied };
}

describe('T5: Redis ACL users per store', () => {
  let redis: RedisServer;
  let admin: Redis;
  let aclDir: string;
  const users: MatrixUser[] = [];
  const tally = { allowed: 0, denied: 0 };

  beforeAll(async () => {
    aclDir = mkdtempSync(join(tmpdir(), 'synod-t5-acl-'));
    const lines = new Set<string>();
    const add = (role: 'acceptor' | 'learner', id: string): void => {
      const password = randomPassword();
      for (const l of fillRedisAcl(role, CLUSTER, id, password).split('\n')) {
        if (l !== '') lines.add(l);
      }
      users.push({
        user: `${role}-${id}`, password,
        commands: role === 'acceptor' ? ACCEPTOR_REDIS_COMMANDS : LEARNER_REDIS_COMMANDS,
        keyPrefix: `synod:{${CLUSTER}}:${role}:${id}:`, refusal: NOPERM,
      });
    };
    add('acceptor', 'a1');
    add('acceptor', 'a2');
    add('learner', 'l1');
    // The default user is off, so no client can use it, not even for PING (it keeps every
    // permission for the AOF replay: redis/redis#14541, REDIS_DEFAULT_USER).
    users.push({ user: 'default', password: '', commands: [], keyPrefix: null,
      refusal: /^NOAUTH/ });
    lines.add(`user ${ADMIN.user} reset on >${ADMIN.password} ~* &* +@all`);
    writeFileSync(join(aclDir, 'users.acl'), `${[...lines].join('\n')}\n`);
    redis = await startRedis({ aclFile: join(aclDir, 'users.acl') });
    admin = new Redis(redis.url, { username: ADMIN.user, password: ADMIN.password });
  });
  afterAll(async () => {
    admin?.disconnect();
    await redis?.stop();
    rmSync(aclDir, { recursive: true, force: true });
    process.stdout.write(`Redis T5 matrix: ${tally.allowed} allowed attempts worked, ` +
      `${tally.denied} denied attempts refused with nothing changed\n`);
  });

  test.each(['acceptor-a1', 'acceptor-a2', 'learner-l1', 'default'])(
    'every (key, command) pair as %s', async (name) => {
      const u = users.find((x) => x.user === name) as MatrixUser;
      const r = await redisMatrix(redis.url, admin, u);
      tally.allowed += r.allowed;
      tally.denied += r.denied;
      expect(r.wrong).toEqual([]);
      expect(r.denied).toBeGreaterThan(0);
    });

  test('planted bug: an acceptor user with every key (~*) is caught', async () => {
    const a1 = users.find((x) => x.user === 'acceptor-a1') as MatrixUser;
    await admin.acl('SETUSER', a1.user, '~*');
    try {
      const r = await redisMatrix(redis.url, admin, a1);
      expect(r.wrong).toContain(`denied but not refused: acceptor-a1 GET ${KEYS.string.a2}: ` +
        'it worked');
    } finally {
      await admin.acl('SETUSER', a1.user, 'resetkeys', `~${a1.keyPrefix}*`);
    }
  });
  test('planted bug: the old default user (on, PING only) is caught', async () => {
    const d = users.find((x) => x.user === 'default') as MatrixUser;
    await admin.acl('SETUSER', 'default', 'reset', 'on', 'nopass', '-@all', '+ping');
    try {
      const r = await redisMatrix(redis.url, admin, d);
      expect(r.wrong).toContain('denied but not refused: default PING: it worked');
    } finally {
      await admin.call('ACL', 'SETUSER', ...REDIS_DEFAULT_USER.split(' ').slice(1));
    }
  });
});

describe('each store runs its whole life under its own ACL user, as in production', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'synod-t5-store-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function redisFor(role: 'acceptor' | 'learner', id: string):
    Promise<{ server: RedisServer; url: string }> {
    const password = randomPassword();
    const file = join(dir, `${role}-${id}.acl`);
    writeFileSync(file, fillRedisAcl(role, CLUSTER, id, password));
    const server = await startRedis({ aclFile: file });
    return { server, url: redisUrlWithUser(server.url, role, id, password) };
  }

  test('acceptor: init, promise and accept, restart of Redis, reload', async () => {
    const { server, url } = await redisFor('acceptor', 'a1');
    try {
      const ballot = { round: 1, proposer: 'p1', incarnation: 7 };
      const s1 = new RedisAcceptorStore({ url, cluster: CLUSTER, acceptorId: 'a1', init: true });
      expect(await s1.load()).toEqual({ promised: null, accepted: [] });
      await s1.persist({ promised: ballot, accepted: [] });
      const entry = { slot: 0, ballot, value: { kind: 'noop' as const } };
      await s1.persist({ promised: null, accepted: [entry] });
      await s1.close();
      // A restarted Redis has no cached script: the store falls back from EVALSHA to EVAL.
      await server.restart();
      const s2 = new RedisAcceptorStore({ url, cluster: CLUSTER, acceptorId: 'a1' });
      const state = await s2.load();
      await s2.persist({ promised: { ...ballot, round: 2 }, accepted: [] });
      await s2.close();
      expect(state).toEqual({ promised: ballot, accepted: [{ slot: 0, ballot,
        value: { kind: 'noop' } }] });
    } finally {
      await server.stop();
    }
  });

  test('learner: load, persist decisions, read them back', async () => {
    const { server, url } = await redisFor('learner', 'l1');
    try {
      const s = new RedisLearnerStore({ url, cluster: CLUSTER, learnerId: 'l1' });
      expect(await s.load()).toEqual({ nextSlot: 0, decisions: [] });
      await s.persist([{ slot: 0, value: { kind: 'noop' } }, { slot: 1, value: { kind: 'noop' } }],
        2);
      expect(await s.read(0, 5000)).toHaveLength(2);
      expect(await s.read(0, 1)).toHaveLength(2);
      await s.close();
    } finally {
      await server.stop();
    }
  });

  test('readmission of an acceptor that lost its Redis works through the acceptors\' own users',
    async () => {
      const all = await Promise.all(['a1', 'a2', 'a3'].map((id) => redisFor('acceptor', id)));
      try {
        const ballot = { round: 3, proposer: 'p1', incarnation: 1 };
        for (const [i, r] of all.entries()) {
          const s = new RedisAcceptorStore({ url: r.url, cluster: CLUSTER, acceptorId: `a${i + 1}`,
            init: true });
          await s.load();
          if (i !== 1) await s.persist({ promised: ballot, accepted: [] });
          await s.close();
        }
        // a2's Redis is wiped and comes back empty.
        await all[1]?.server.stop();
        const fresh = await redisFor('acceptor', 'a2');
        all[1] = fresh;
        const r = await readmitAcceptor({
          cluster: CLUSTER, acceptors: 3, target: { id: 'a2', url: fresh.url },
          peers: [{ id: 'a1', url: all[0]?.url ?? '' }, { id: 'a3', url: all[2]?.url ?? '' }],
        });
        expect(r.promised).toEqual(ballot);
        const back = new RedisAcceptorStore({ url: fresh.url, cluster: CLUSTER, acceptorId: 'a2' });
        expect((await back.load()).promised).toEqual(ballot);
        await back.close();
      } finally {
        await Promise.all(all.map((r) => r?.server.stop()));
      }
    });

  test("acceptor a1's login cannot run acceptor a2's store, nor a learner's", async () => {
    const { server, url } = await redisFor('acceptor', 'a1');
    try {
      const a2 = new RedisAcceptorStore({ url, cluster: CLUSTER, acceptorId: 'a2', init: true });
      await expect(a2.load()).rejects.toThrow(/NOPERM/);
      await a2.close();
      const l1 = new RedisLearnerStore({ url, cluster: CLUSTER, learnerId: 'a1' });
      await expect(l1.load()).rejects.toThrow(/NOPERM/);
      await l1.close();
    } finally {
      await server.stop();
    }
  });
});
