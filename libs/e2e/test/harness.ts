import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { SynodClient, SynodError } from '@synod/client';
import { type LocalSecurity, localSecurity, type Login } from '@synod/deploy';
import type { Value } from '@synod/protocol';
import { RedisAcceptorStore, RedisLearnerStore } from '@synod/store-redis';
import { LocalCluster, type LocalClusterOptions } from '@synod/testing';

const root = resolve(__dirname, '../../..');
let built = false;

/** Bundles the three services once per test file (about 100 ms). */
export function buildServices(): void {
  if (built) return;
  const apps = ['acceptor', 'proposer', 'learner'];
  execFileSync(process.execPath, [join(root, 'tools/build-apps.mjs'), ...apps],
    { cwd: root, stdio: 'pipe' });
  built = true;
}

/** Starts a cluster of real processes with fast timers. */
export async function startCluster(o: Partial<LocalClusterOptions> = {}): Promise<LocalCluster> {
  buildServices();
  const dist = join(root, 'dist/apps');
  return LocalCluster.start({
    mains: {
      acceptor: join(dist, 'acceptor/main.js'),
      proposer: join(dist, 'proposer/main.js'),
      learner: join(dist, 'learner/main.js'),
    },
    tickMs: 10,
    env: { SYNOD_LOG_LEVEL: 'info' },
    roleEnv: { proposer: { SYNOD_ELECTION_TICKS: '20', SYNOD_RETRY_TICKS: '10' } },
    ...o,
  });
}

/** A client of the cluster (logged in as `login` when security is on). */
export function client(c: LocalCluster, timeoutMs = 10_000, login?: Login): Promise<SynodClient> {
  return SynodClient.connect({
    servers: c.natsUrl, cluster: c.cluster, timeoutMs,
    ...(login === undefined ? {} : { user: login.user, pass: login.password }),
  });
}

/**
 * Security on (docs/security.md): NATS users and permissions generated from the subject table,
 * one per acceptor, and one per proposer and learner id of the pools (`p1..p<proposers>`,
 * `l1..l<learners>`, LocalCluster's names: a node outside them cannot log in); a Redis ACL user
 * per acceptor and learner; fresh random passwords. Returns the cluster options, and the login
 * of clients.
 */
export function secureOptions(acceptors = 3, pools = { proposers: 4, learners: 3 }): {
  options: Partial<LocalClusterOptions>; clientLogin: Login; security: LocalSecurity;
} {
  const ids = (prefix: string, n: number): string[] =>
    Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
  const security = localSecurity({
    cluster: 'synod', acceptors: ids('a', acceptors), proposers: ids('p', pools.proposers),
    learners: ids('l', pools.learners),
  });
  return {
    security,
    clientLogin: security.natsLogin('client', 'c'),
    options: {
      acceptors,
      natsConfig: security.natsConfig,
      natsCredentials: (role, id) => security.natsLogin(role, id),
      redisAcl: (role, id) => security.redisAcl(role, id),
    },
  };
}

/** The Redis URL of a node, with its credentials when it has an ACL user. */
function redisUrlOf(c: LocalCluster, id: string): string {
  const n = c.node(id);
  return n.env['REDIS_URL'] ?? n.redis?.url ?? '';
}

/** What a propose ended with. */
export type Outcome =
  | { ok: true; slot: number; payload: string }
  | { ok: false; code: string; payload: string };

/** Proposes `payloads` with `concurrency` in flight; never throws, returns every outcome. */
export async function proposeAll(cl: SynodClient, payloads: readonly string[], concurrency: number,
  timeoutMs?: number): Promise<Outcome[]> {
  const out: Outcome[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < payloads.length) {
      const payload = payloads[next++] as string;
      try {
        const r = await cl.propose(payload, timeoutMs === undefined ? {} : { timeoutMs });
        out.push({ ok: true, slot: r.slot, payload });
      } catch (e) {
        if (!(e instanceof SynodError)) throw e;
        out.push({ ok: false, code: e.code, payload });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

/** A learner's stored log, read from its own Redis: slot -> value. */
export async function learnerLog(c: LocalCluster, id: string): Promise<Map<number, Value>> {
  const store = new RedisLearnerStore({
    url: redisUrlOf(c, id), cluster: c.cluster, learnerId: id,
  });
  try {
    const { nextSlot } = await store.load();
    const out = new Map<number, Value>();
    for (const d of await store.read(0, Math.max(0, nextSlot - 1))) out.set(d.slot, d.value);
    return out;
  } finally {
    await store.close();
  }
}

/** Waits until learner `id` delivered every slot `acked` holds; returns its log. */
export async function deliveredAll(c: LocalCluster, acked: readonly Outcome[], id = 'l1',
  timeoutMs = 20_000): Promise<Map<number, Value>> {
  const last = Math.max(...acked.map((o) => (o.ok ? o.slot : 0)));
  await eventually(async () => (await learnerLog(c, id)).size > last, timeoutMs,
    `${id} to deliver slot ${last}`);
  return learnerLog(c, id);
}

/** `n` distinct payloads `<prefix>-0`, `<prefix>-1`, ... */
export const values = (prefix: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/**
 * What the named services last printed, and whether they still run: for the message of a
 * failed wait, so that a failure in CI explains itself.
 */
export function serviceTails(c: LocalCluster, ids: readonly string[], lines = 15): string {
  return ids.map((id) => {
    const proc = c.node(id).proc;
    const head = proc === null ? `--- ${id}: not running` : `--- ${id}:`;
    return `${head}\n${proc?.output(lines) ?? ''}`;
  }).join('\n');
}

/** An acceptor's durable state, read from its own Redis. */
export async function acceptorState(c: LocalCluster, id: string) {
  const store = new RedisAcceptorStore({
    url: redisUrlOf(c, id), cluster: c.cluster, acceptorId: id,
  });
  try {
    return await store.load();
  } finally {
    await store.close();
  }
}

/** Payloads in the applied log (first copy of each (clientId, seq) only), in slot order. */
export function appliedPayloads(log: Map<number, Value>): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const slot of [...log.keys()].sort((a, b) => a - b)) {
    const v = log.get(slot) as Value;
    if (v.kind !== 'cmds') continue;
    for (const c of v.cmds) {
      const key = `${c.clientId}#${c.seq}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(c.payload);
    }
  }
  return out;
}

/** Waits until `cond()` holds, polling. */
export async function eventually(cond: () => Promise<boolean> | boolean, timeoutMs = 20_000,
  what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every payload acknowledged at slot s is in the log at slot s. */
export function lostAcks(outcomes: readonly Outcome[], log: Map<number, Value>): string[] {
  const lost: string[] = [];
  for (const o of outcomes) {
    if (!o.ok) continue;
    const v = log.get(o.slot);
    if (v === undefined || v.kind !== 'cmds' || !v.cmds.some((c) => c.payload === o.payload)) {
      lost.push(`${o.payload}@${o.slot}`);
    }
  }
  return lost;
}

/**
 * Settings that make every service export its spans over OTLP/HTTP to `endpoint` (a receiver
 * of the test) quickly; the proposers export JSON and the others protobuf, so that both
 * encodings are exercised.
 */
export function tracingOptions(endpoint: string): Partial<LocalClusterOptions> {
  const otel = {
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_TRACES_SAMPLER: 'parentbased_always_on',
  };
  return {
    env: { SYNOD_LOG_LEVEL: 'info', ...otel },
    roleEnv: {
      // No resend within a test (100 ticks: 2 s). On a loaded CI machine an accept resent
      // after 200 ms reached an acceptor that had already voted: its second `accept` span has
      // no Redis write (a retransmission is not written again), and the trace test failed.
      proposer: {
        SYNOD_ELECTION_TICKS: '20', SYNOD_RETRY_TICKS: '100',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      },
    },
  };
}
