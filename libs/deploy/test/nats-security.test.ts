import {
  connect,
  errors,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { type LocalSecurity, localSecurity, natsPermissions } from '@synod/deploy';
import { type NatsServer, startNats } from '@synod/testing';
import {
  ACCEPTORS,
  BROAD_PATTERNS,
  CLUSTER,
  LEARNERS,
  mayPublish,
  mayRespond,
  maySubscribe,
  PRINCIPALS,
  PROPOSERS,
  subjectMatches,
  subjectUniverse,
  type TestPrincipal,
} from './nats-matrix.js';

/**
 * T5, NATS: a real nats-server runs the generated users and permissions (docs/security.md).
 * Every (principal, subject, publish) and (principal, subject or pattern, subscribe) pair of
 * the matrix is tried: a denied attempt must be refused by the server (a permissions
 * violation comes back) with nothing delivered; an allowed one must be delivered.
 */

const OBSERVER = { user: 'observer', password: 'observerPw1' };
const enc = new TextEncoder();
const dec = new TextDecoder();

let server: NatsServer;
let sec: LocalSecurity;
const tally = { allowed: 0, denied: 0 };

/** A connection that records every permissions violation the server reports to it. */
async function login(user: string, password: string, url = server.url): Promise<{
  nc: NatsConnection; violations: { op: string; subject: string }[];
}> {
  const nc = await connect({ servers: url, user, pass: password, name: `t5-${user}` });
  const violations: { op: string; subject: string }[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'error' && s.error instanceof errors.PermissionViolationError) {
        violations.push({ op: s.error.operation, subject: s.error.subject });
      }
    }
  })();
  return { nc, violations };
}

function loginOf(p: TestPrincipal): { user: string; password: string } {
  return sec.natsLogin(p.role, p.id ?? 'n1');
}

beforeAll(async () => {
  sec = localSecurity({
    cluster: CLUSTER, acceptors: ACCEPTORS, proposers: PROPOSERS, learners: LEARNERS,
    // The observer sees everything, to tell what was delivered.
    extraNatsUsers: [
      `    { user: "${OBSERVER.user}", password: "${OBSERVER.password}" }`,
    ],
  });
  server = await startNats({ config: sec.natsConfig });
});
afterAll(async () => {
  await server?.stop();
  process.stdout.write(`NATS T5 matrix: ${tally.allowed} allowed attempts delivered, ` +
    `${tally.denied} denied attempts refused with nothing delivered\n`);
});

test('without a user, or with a wrong password, the server refuses the connection', async () => {
  await expect(connect({ servers: server.url })).rejects.toThrow(/Authorization/i);
  await expect(connect({ servers: server.url, user: 'proposer', pass: 'wrong' }))
    .rejects.toThrow(/Authorization/i);
  await expect(connect({ servers: server.url, user: 'acceptor-a9', pass: 'x' }))
    .rejects.toThrow(/Authorization/i);
  // No role-wide service users remain, and no user for an id outside the pools.
  for (const user of ['proposer', 'learner', 'proposer-p9', 'learner-l9']) {
    await expect(connect({ servers: server.url, user, pass: 'x' }))
      .rejects.toThrow(/Authorization/i);
  }
  // One proposer's password does not open another proposer's user.
  const p1 = sec.natsLogin('proposer', 'p1');
  await expect(connect({ servers: server.url, user: 'proposer-p2', pass: p1.password }))
    .rejects.toThrow(/Authorization/i);
});

describe('a service speaks only as itself', () => {
  /** What `as` publishes on each subject: which the observer got, which the server refused. */
  async function speak(as: TestPrincipal, subjects: readonly string[]): Promise<{
    delivered: string[]; refused: string[];
  }> {
    const obs = await login(OBSERVER.user, OBSERVER.password);
    const delivered: string[] = [];
    obs.nc.subscribe('>', {
      callback: (_e, m) => {
        if (dec.decode(m.data) === as.user) delivered.push(m.subject);
      },
    });
    await obs.nc.flush();
    const me = await login(loginOf(as).user, loginOf(as).password);
    for (const s of subjects) me.nc.publish(s, enc.encode(as.user));
    await me.nc.flush();
    await obs.nc.flush();
    await settle(() => me.violations.length + delivered.length);
    await me.nc.close();
    await obs.nc.close();
    const refused = me.violations.filter((v) => v.op === 'publish').map((v) => v.subject);
    return { delivered: delivered.sort(), refused: refused.sort() };
  }
  const principal = (user: string): TestPrincipal =>
    PRINCIPALS.find((p) => p.user === user) as TestPrincipal;
  const c = `synod.${CLUSTER}`;

  /** `login` publishes as `other` (all refused) and as `own` (all delivered). */
  async function onlyOwnName(login: string, other: string, own: string, subjects: string[]) {
    const asOwn = subjects.map((s) => s.replace(`.${other}`, `.${own}`));
    const r = await speak(principal(login), [...subjects, ...asOwn]);
    expect(r.refused).toEqual(subjects.slice().sort());
    expect(r.delivered).toEqual(asOwn.slice().sort());
    tally.denied += subjects.length;
    tally.allowed += asOwn.length;
  }

  test('proposer p1 cannot publish as proposer p2: refused, nothing delivered', async () => {
    await onlyOwnName('proposer-p1', 'p2', 'p1', [`${c}.prepare.p2`, `${c}.accept.p2`,
      `${c}.heartbeat.p2`, `${c}.chosen.p2`, `${c}.chosen.p2.l1`, `${c}.catchup.p2`,
      `${c}.request.p2.p1`, `${c}.response.p2.c1`]);
  });

  test('learner l1 cannot publish as learner l2: refused, nothing delivered', async () => {
    await onlyOwnName('learner-l1', 'l2', 'l1', [`${c}.catchup.l2`, `${c}.progress.l2`,
      `${c}.chosen.l2.p1`, `${c}.log.l2`]);
  });
});

describe.each(PRINCIPALS.map((p) => [p.user, p] as const))('principal %s', (_user, p) => {
  test('publish: every subject of the matrix', async () => {
    expect(count(await publishMatrix(server.url, p, loginOf(p)))).toEqual([]);
  });

  test('subscribe: every subject of the matrix and every pattern', async () => {
    expect(count(await subscribeMatrix(server.url, p, loginOf(p)))).toEqual([]);
  });

  test('responses: one answer to a request it received, no unsolicited reply subject',
    async () => {
      const perms = natsPermissions(CLUSTER, p.role, p.id);
      // A subject this principal may subscribe to, where the observer sends it a request.
      const target = perms.subscribe
        .map((s) => s.replaceAll('*', 'n1').replace('>', 'n1'))
        .find((s) => !s.startsWith('_INBOX')) as string;
      const me = await login(loginOf(p).user, loginOf(p).password);
      me.nc.subscribe(target, {
        callback: (_e, m) => {
          m.respond(enc.encode('first'));
          m.respond(enc.encode('second'));
        },
      });
      me.nc.publish('_INBOX.unsolicited.1', enc.encode('nope'));
      await me.nc.flush();
      const obs = await login(OBSERVER.user, OBSERVER.password);
      const replies: string[] = [];
      obs.nc.subscribe('_INBOX.>', {
        callback: (_e, m) => {
          replies.push(dec.decode(m.data));
        },
      });
      await obs.nc.flush();
      obs.nc.publish(target, enc.encode('q'), { reply: '_INBOX.t5.reply' });
      await obs.nc.flush();
      await me.nc.flush();
      await obs.nc.flush();
      await settle(() => replies.length + me.violations.length);
      const ok = mayRespond(p);
      expect(replies).toEqual(ok ? ['first'] : []);
      const refused = me.violations.filter((v) => v.op === 'publish').map((v) => v.subject);
      expect(refused).toContain('_INBOX.unsolicited.1');
      expect(refused).toContain('_INBOX.t5.reply');
      tally.allowed += ok ? 1 : 0;
      tally.denied += ok ? 2 : 3;
      await me.nc.close();
      await obs.nc.close();
    });
});

/** What a matrix run found wrong, and how many allowed and denied pairs it tried. */
interface MatrixResult {
  readonly wrong: string[];
  readonly allowed: number;
  readonly denied: number;
}

/** Adds a run to the tally printed at the end; returns what went wrong. */
function count(r: MatrixResult): string[] {
  tally.allowed += r.allowed;
  tally.denied += r.denied;
  return r.wrong;
}

describe('planted bugs: the matrix catches a loosened configuration', () => {
  const a1 = PRINCIPALS[0] as TestPrincipal;

  async function withConfig(config: string, run: (url: string) => Promise<void>): Promise<void> {
    expect(config).not.toBe(sec.natsConfig);
    const loose = await startNats({ config });
    try {
      await run(loose.url);
    } finally {
      await loose.stop();
    }
  }

  test('proposer p1 allowed to prepare as any proposer (a role-wide user)', async () => {
    const p1 = PRINCIPALS.find((p) => p.user === 'proposer-p1') as TestPrincipal;
    const config = sec.natsConfig.replaceAll('"synod.synod.prepare.p1"', '"synod.synod.prepare.*"');
    await withConfig(config, async (url) => {
      const { wrong } = await publishMatrix(url, p1, loginOf(p1));
      expect(wrong).toContain('denied but delivered: synod.synod.prepare.p2');
    });
  });

  test('acceptor a1 allowed to promise as any acceptor', async () => {
    const config = sec.natsConfig.replaceAll('"synod.synod.promise.a1.*"',
      '"synod.synod.promise.*.*"');
    await withConfig(config, async (url) => {
      const { wrong } = await publishMatrix(url, a1, loginOf(a1));
      expect(wrong).toContain('denied but delivered: synod.synod.promise.a2.p1');
    });
  });

  test('the subscribe deny lists left out: a1 reads prepare.x.y through prepare.>', async () => {
    const config = sec.natsConfig.replace(/\n\s*deny: \[[^\]]*\]/g, '');
    await withConfig(config, async (url) => {
      const { wrong } = await subscribeMatrix(url, a1, loginOf(a1));
      expect(wrong.some((w) => w.startsWith('pattern synod.synod.prepare.>:'))).toBe(true);
    });
  });
});

/**
 * Publishes every subject of the universe as `p` and returns what went wrong: an allowed
 * subject not delivered (or refused), a denied one delivered or not refused.
 */
async function publishMatrix(url: string, p: TestPrincipal,
  creds: { user: string; password: string }): Promise<MatrixResult> {
  const universe = subjectUniverse();
  const counts = { allowed: 0, denied: 0 };
  const obs = await login(OBSERVER.user, OBSERVER.password, url);
  const seen = new Set<string>();
  obs.nc.subscribe('>', {
    callback: (_e, m) => {
      if (dec.decode(m.data) === p.user) seen.add(m.subject);
    },
  });
  await obs.nc.flush();
  const me = await login(creds.user, creds.password, url);
  for (const s of universe) me.nc.publish(s, enc.encode(p.user));
  await me.nc.flush();
  await obs.nc.flush();
  await settle(() => me.violations.length);
  const refused = new Set(me.violations.filter((v) => v.op === 'publish').map((v) => v.subject));
  const wrong: string[] = [];
  for (const s of universe) {
    const allowed = mayPublish(p, s);
    if (allowed && (!seen.has(s) || refused.has(s))) wrong.push(`allowed but not delivered: ${s}`);
    if (!allowed && seen.has(s)) wrong.push(`denied but delivered: ${s}`);
    if (!allowed && !refused.has(s)) wrong.push(`denied without a refusal: ${s}`);
    if (allowed) counts.allowed++;
    else counts.denied++;
  }
  await me.nc.close();
  await obs.nc.close();
  return { wrong, ...counts };
}

/**
 * Subscribes as `p` to every subject of the universe and every pattern, has the observer
 * publish every subject, and returns what went wrong (see the comments inside).
 */
async function subscribeMatrix(url: string, p: TestPrincipal,
  creds: { user: string; password: string }): Promise<MatrixResult> {
  const universe = subjectUniverse();
  const counts = { allowed: 0, denied: 0 };
  const patterns = [...new Set([...BROAD_PATTERNS, ...allGeneratedPatterns()])]
    .filter((s) => !universe.includes(s));
  const me = await login(creds.user, creds.password, url);
  const got = new Map<string, string[]>();
  const subs: Subscription[] = [];
  for (const s of [...universe, ...patterns]) {
    got.set(s, []);
    subs.push(me.nc.subscribe(s, {
      callback: (e: Error | null, m: Msg) => {
        if (e === null) got.get(s)?.push(m.subject);
      },
    }));
  }
  await me.nc.flush();
  await settle(() => me.violations.length);
  const obs = await login(OBSERVER.user, OBSERVER.password, url);
  for (const s of universe) obs.nc.publish(s, enc.encode('x'));
  await obs.nc.flush();
  await me.nc.flush();
  await settle(() => [...got.values()].reduce((n, l) => n + l.length, 0));
  const refused = new Set(me.violations.filter((v) => v.op === 'subscription')
    .map((v) => v.subject));
  const wrong: string[] = [];
  for (const s of universe) {
    // A concrete subject: refused exactly when denied, delivered exactly when allowed.
    const allowed = maySubscribe(p, s);
    const have = got.get(s) ?? [];
    if (have.length !== (allowed ? 1 : 0)) {
      wrong.push(`${allowed ? 'allowed' : 'denied'} ${s}: got ${have.length} messages`);
    }
    if (allowed === refused.has(s)) {
      wrong.push(`${allowed ? 'allowed but refused' : 'denied without a refusal'}: ${s}`);
    }
    if (allowed) counts.allowed++;
    else counts.denied++;
  }
  for (const s of patterns) {
    // A pattern that only matches allowed subjects is accepted and gets them all. Any other
    // is refused (nothing delivered), or accepted with the deny list filtering what it
    // gets: then exactly the matching subjects the principal may receive.
    const allowed = maySubscribe(p, s);
    const want = refused.has(s)
      ? [] : universe.filter((u) => subjectMatches(s, u) && maySubscribe(p, u)).sort();
    const have = (got.get(s) ?? []).slice().sort();
    if (JSON.stringify(want) !== JSON.stringify(have)) {
      const extra = have.filter((h) => !want.includes(h));
      wrong.push(`pattern ${s}: want ${want.length}, got ${have.length} messages; ` +
        `not allowed: ${extra.slice(0, 5).join(' ')}`);
    }
    if (allowed && refused.has(s)) wrong.push(`allowed pattern refused: ${s}`);
    if (!allowed && universe.every((u) => !subjectMatches(s, u) || !maySubscribe(p, u)) &&
      !refused.has(s)) {
      wrong.push(`pattern matching nothing allowed, not refused: ${s}`);
    }
    if (allowed) counts.allowed++;
    else counts.denied++;
  }
  await me.nc.close();
  await obs.nc.close();
  return { wrong, ...counts };
}

/** Every pattern any principal is granted: tried by every other principal too. */
function allGeneratedPatterns(): string[] {
  return PRINCIPALS.flatMap((q) => {
    const perms = natsPermissions(CLUSTER, q.role, q.id);
    return [...perms.publish, ...perms.subscribe];
  });
}

/** Waits until `count()` stops changing for 100 ms (messages and errors still in flight). */
async function settle(count: () => number): Promise<void> {
  let last = -1;
  for (let i = 0; i < 100; i++) {
    const now = count();
    if (now === last) return;
    last = now;
    await new Promise((r) => setTimeout(r, 100));
  }
}
