import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { publicationsFor, subscriptionsFor } from '@synod/codec';
import {
  AUTH_TARGETS,
  clusterShape,
  fillRedisAcl,
  generatedFiles,
  longerDenials,
  natsPasswordVar,
  natsPasswordVars,
  natsPermissions,
  natsPrincipals,
  REDIS_DIRS,
  renderNatsAuth,
} from '@synod/deploy';
import type { Role } from '@synod/protocol';
import { parse } from 'yaml';

/**
 * The files `npm run gen-auth` writes are what the subject table makes today, and what the
 * servers and scripts that read them understand.
 */

const root = resolve(__dirname, '../../..');
const read = (p: string): string => readFileSync(join(root, p), 'utf8');
const ROLES: readonly Role[] = ['acceptor', 'proposer', 'learner', 'client'];

test('every generated file is up to date (else: npm run gen-auth)', () => {
  const stale = generatedFiles(read).filter((f) => {
    try {
      return read(f.path) !== f.content;
    } catch {
      return true;
    }
  }).map((f) => f.path);
  expect(stale).toEqual([]);
});

describe('NATS permissions follow the subject table', () => {
  test.each(ROLES)('%s bound to an id: exactly publicationsFor and subscriptionsFor, plus ' +
    'the client API and status subjects', (role) => {
    const p = natsPermissions('c', role, 'n1');
    expect(p.publish.slice(0, publicationsFor('c', role, 'n1').length))
      .toEqual(publicationsFor('c', role, 'n1'));
    expect(p.subscribe.slice(0, subscriptionsFor('c', role, 'n1').length))
      .toEqual(subscriptionsFor('c', role, 'n1'));
  });

  test.each(ROLES)('%s for any id: the same patterns with * for the id', (role) => {
    const any = natsPermissions('c', role, null);
    const one = natsPermissions('c', role, 'n1');
    // The id is the sender (4th token) of a publication and the target (5th) of an addressed
    // subscription; the client API puts a learner's id 4th.
    const star = (s: string, at: number): string =>
      s.split('.').map((t, i) => (i === at && t === 'n1' ? '*' : t)).join('.');
    expect(any.publish).toEqual(one.publish.map((s) => star(s, 3)));
    expect(any.subscribe).toEqual(one.subscribe.map((s) => star(s, 4)));
    expect(any.allowResponses).toBe(one.allowResponses);
  });

  test('only clients may subscribe to reply inboxes; only services answer requests', () => {
    for (const role of ROLES) {
      const p = natsPermissions('c', role, null);
      expect(p.subscribe.includes('_INBOX.>')).toBe(role === 'client');
      expect(p.allowResponses).toBe(role !== 'client');
      expect(p.publish.some((s) => s.startsWith('_INBOX'))).toBe(false);
    }
  });

  test('every service id of a deployment is a user of its own, bound to that id; only ' +
    'clients share one user', () => {
    const pools = { acceptors: ['a1', 'a2'], proposers: ['p1', 'p2', 'p3'], learners: ['l1'] };
    const ps = natsPrincipals(pools);
    expect(ps.map((p) => p.user)).toEqual(['acceptor-a1', 'acceptor-a2', 'proposer-p1',
      'proposer-p2', 'proposer-p3', 'learner-l1', 'client']);
    expect(ps.filter((p) => p.id === null).map((p) => p.role)).toEqual(['client']);
    const conf = renderNatsAuth({ cluster: 'c', ...pools, password: () => '"x"' });
    for (const p of ps.filter((q) => q.id !== null)) {
      // Its publications name it as the sender, and nobody else.
      for (const s of natsPermissions('c', p.role, p.id).publish) {
        expect(s.split('.')[3]).toBe(p.id);
      }
      expect(conf).toContain(`user: "${p.user}"`);
    }
    expect(() => natsPrincipals({ ...pools, learners: ['p1'] })).toThrow(/twice/);
    expect(() => natsPrincipals({ ...pools, proposers: ['p.1'] })).toThrow(/not a valid/);
    expect(() => natsPrincipals({ ...pools, proposers: ['p-1', 'p_1'] })).toThrow(/variable/);
  });

  test('a deployment env file must give its pools of proposer and learner ids', () => {
    const env = 'SYNOD_CLUSTER=c\nSYNOD_ACCEPTORS=a0,a1,a2\n';
    expect(() => clusterShape(env)).toThrow(/SYNOD_PROPOSER_POOL is not set/);
    expect(() => clusterShape(`${env}SYNOD_PROPOSER_POOL=p0\n`))
      .toThrow(/SYNOD_LEARNER_POOL is not set/);
    expect(clusterShape(`${env}SYNOD_PROPOSER_POOL=p0,p1\n# x\nSYNOD_LEARNER_POOL=l0\n`))
      .toEqual({ cluster: 'c', acceptors: ['a0', 'a1', 'a2'], proposers: ['p0', 'p1'],
        learners: ['l0'] });
    expect(() => clusterShape(`${env}SYNOD_PROPOSER_POOL=a0\nSYNOD_LEARNER_POOL=l0\n`))
      .toThrow(/twice/);
  });

  test('deny lists close x.* -> x.> but never refuse an allowed pattern', () => {
    expect(longerDenials(['a.*'])).toEqual(['a.*.>']);
    expect(longerDenials(['a.*', 'a.*.*'])).toEqual(['a.*.*.>']);
    expect(longerDenials(['a.b', '_INBOX.>'])).toEqual([]);
  });
});

describe('the generated NATS configurations load in nats-server', () => {
  test.each(AUTH_TARGETS.map((t) => [t.name, t] as const))('%s', (_name, t) => {
    const dir = mkdtempSync(join(tmpdir(), 'synod-natsconf-'));
    try {
      const conf = join(dir, 'nats.conf');
      writeFileSync(join(dir, 'auth.conf'), read(t.natsAuthFile));
      writeFileSync(conf, 'port: -1\ninclude ./auth.conf\n');
      const env: Record<string, string> = { PATH: natsPath() };
      for (const v of natsPasswordVars(clusterShape(read(t.envFile)))) env[v] = `pw${v.length}`;
      const ok = spawnSync('nats-server', ['-t', '-c', conf], { env, encoding: 'utf8' });
      expect(`${ok.stdout}${ok.stderr}`).toMatch(/is valid/);
      expect(ok.status).toBe(0);
      // A missing password is an error at start, not an open door.
      const { PATH } = env;
      const missing = spawnSync('nats-server', ['-t', '-c', conf], {
        env: { PATH }, encoding: 'utf8',
      });
      expect(missing.status).not.toBe(0);
      expect(missing.stderr).toMatch(/SYNOD_NATS_PASSWORD_/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('docker-compose.yml: nats-server gets a password for every generated user, and each ' +
  'service logs in as its own user with its own password', () => {
  type Service = { environment?: Record<string, string> };
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, Service> };
  const shape = clusterShape(read('infra/compose/synod.env'));
  const natsEnv = compose.services['nats']?.environment ?? {};
  expect(Object.keys(natsEnv).sort()).toEqual(natsPasswordVars(shape).sort());
  for (const [k, v] of Object.entries(natsEnv)) expect(v).toMatch(`\${${k}:-`);
  const logins: string[] = [];
  for (const s of Object.values(compose.services)) {
    const env = s.environment ?? {};
    const id = env['SYNOD_NODE_ID'];
    const user = env['NATS_USER'];
    if (user === undefined) continue;
    const role = user.split('-')[0] as Role;
    expect(user).toBe(`${role}-${id}`);
    expect(env['NATS_PASSWORD']).toMatch(`\${${natsPasswordVar(user)}:-`);
    expect(natsEnv[natsPasswordVar(user)]).toBe(env['NATS_PASSWORD']);
    logins.push(user);
  }
  expect(logins.sort()).toEqual(['acceptor-a1', 'acceptor-a2', 'acceptor-a3', 'learner-l1',
    'learner-l2', 'proposer-p1', 'proposer-p2']);
});

describe('start-redis.sh fills the ACL template as the TypeScript does', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'synod-startredis-'));
    // A stand-in redis-server that prints the ACL file it was given.
    const stub = join(dir, 'redis-server');
    writeFileSync(stub, '#!/bin/sh\nwhile [ "$#" -gt 1 ]; do shift; done\ncat "$1"\n');
    chmodSync(stub, 0o755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function run(dirOfScript: string, env: Record<string, string>): { out: string; code: number } {
    const r = spawnSync('sh', [join(root, dirOfScript, 'start-redis.sh'), '--port', '1'], {
      env: { PATH: `${dir}:/usr/bin:/bin`, SYNOD_REDIS_ACL_DIR: join(dir, 'acl'), ...env },
      encoding: 'utf8',
    });
    return { out: r.stdout, code: r.status ?? -1 };
  }

  test.each(REDIS_DIRS.flatMap((d) => [[d, 'acceptor'], [d, 'learner']] as const))(
    '%s %s', (d, role) => {
      const env = {
        SYNOD_REDIS_ACL_TEMPLATE: join(root, d, `${role}.acl.tmpl`), SYNOD_NODE_ID: 'a7',
        SYNOD_CLUSTER: 'prod', SYNOD_REDIS_PASSWORD: 'Secret123',
      };
      expect(run(d, env)).toEqual({ out: fillRedisAcl(role, 'prod', 'a7', 'Secret123'), code: 0 });
      const pwFile = join(dir, 'pw');
      writeFileSync(pwFile, 'FromFile9\n');
      const { SYNOD_REDIS_PASSWORD: _p, ...noPw } = env;
      expect(run(d, { ...noPw, SYNOD_REDIS_PASSWORD_FILE: pwFile }).out)
        .toBe(fillRedisAcl(role, 'prod', 'a7', 'FromFile9'));
      // What would break the ACL line or the sed expression is refused.
      expect(run(d, { ...env, SYNOD_REDIS_PASSWORD: 'a b' }).code).not.toBe(0);
      expect(run(d, { ...env, SYNOD_REDIS_PASSWORD: 'x/y' }).code).not.toBe(0);
      expect(run(d, { ...env, SYNOD_NODE_ID: 'a:1' }).code).not.toBe(0);
    });
});

/** PATH with the sbin folders, where Debian installs nats-server. */
function natsPath(): string {
  const p = process.env['PATH'] ?? '';
  return `${p}:/usr/local/sbin:/usr/sbin:/sbin`;
}

describe('one start-redis.sh', () => {
  test('the copy inside the kustomize base (kustomize loads only files under it) is identical ' +
    'to infra/redis/start-redis.sh', () => {
    const top = resolve(__dirname, '../../..');
    expect(readFileSync(join(top, 'infra/k8s/base/redis/start-redis.sh'), 'utf8'))
      .toBe(readFileSync(join(top, 'infra/redis/start-redis.sh'), 'utf8'));
  });
});
