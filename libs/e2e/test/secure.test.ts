import { connect, errors } from '@nats-io/transport-node';
import { SynodClient, SynodConnectError } from '@synod/client';
import type { LocalCluster } from '@synod/testing';
import {
  appliedPayloads,
  client,
  eventually,
  learnerLog,
  lostAcks,
  proposeAll,
  secureOptions,
  startCluster,
} from './harness.js';

/**
 * The services run with security on, as compose and Kubernetes run them: each logs in to NATS
 * as its own user (acceptor-a1, proposer-p1, learner-l1...) with the generated permissions, and
 * each acceptor and learner uses its own Redis ACL user (docs/security.md). The servers enforce
 * it; the cluster still decides.
 */
describe('security on: a NATS user per service, Redis ACL users per store', () => {
  let cluster: LocalCluster;
  let cl: SynodClient;
  const secure = secureOptions();
  const refusals: string[] = [];

  beforeAll(async () => {
    cluster = await startCluster({
      ...secure.options,
      onLine: (id, line) => {
        if (/Permissions Violation|NOPERM|Authorization Violation/i.test(line)) {
          refusals.push(`${id}: ${line.slice(0, 300)}`);
        }
      },
    });
    cl = await client(cluster, 10_000, secure.clientLogin);
  });
  afterAll(async () => {
    await cl?.close();
    await cluster?.stop();
  });

  test('500 values proposed by a logged-in client are chosen once each and read back',
    async () => {
      const payloads = Array.from({ length: 500 }, (_, i) => `s-${i}`);
      const out = await proposeAll(cl, payloads, 16);
      expect(out.filter((o) => !o.ok)).toEqual([]);
      const last = Math.max(...out.map((o) => (o.ok ? o.slot : 0)));
      await eventually(async () => (await cl.readRange(0, 1)).nextSlot > last, 20_000,
        'the learner');
      const first = out[0];
      expect(first?.ok && (await cl.read(first.slot))?.value).toBeTruthy();
      const log = await learnerLog(cluster, 'l1');
      expect(lostAcks(out, log)).toEqual([]);
      expect(appliedPayloads(log).sort()).toEqual(payloads.slice().sort());
    });

  test('status answers from every service (services reply through allow_responses)',
    async () => {
      const st = await cl.status();
      expect(st.services.map((s) => s.id).sort()).toEqual(['a1', 'a2', 'a3', 'l1', 'p1', 'p2']);
    });

  test('an acceptor killed (-9) and restarted logs in again and votes', async () => {
    await cluster.kill('a2', 'SIGKILL');
    const during = await proposeAll(cl, ['k-1', 'k-2', 'k-3'], 3);
    expect(during.filter((o) => !o.ok)).toEqual([]);
    await cluster.restart('a2');
    await cluster.waitReady(['a2']);
    const st = JSON.parse((await cluster.health('a2', '/status')).body) as { voting: boolean };
    expect(st.voting).toBe(true);
  });

  test('no service was refused anything by NATS or Redis while doing its job', () => {
    expect(refusals).toEqual([]);
  });

  test('without credentials, or as a service, a client gets nowhere', async () => {
    await expect(SynodClient.connect({ servers: cluster.natsUrl, timeoutMs: 1000 }))
      .rejects.toBeInstanceOf(SynodConnectError);
    // A client's login cannot speak for an acceptor: the server refuses the publication.
    const nc = await connect({
      servers: cluster.natsUrl, user: secure.clientLogin.user, pass: secure.clientLogin.password,
    });
    const refused: string[] = [];
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'error' && s.error instanceof errors.PermissionViolationError) {
          refused.push(s.error.subject);
        }
      }
    })();
    nc.publish('synod.synod.promise.a1.p1', new Uint8Array([1]));
    nc.publish('synod.synod.chosen.p1', new Uint8Array([1]));
    await nc.flush();
    await eventually(() => refused.length === 2, 5000, 'two refusals');
    await nc.close();
    expect(refused.sort()).toEqual(['synod.synod.chosen.p1', 'synod.synod.promise.a1.p1']);
  });

  test("a proposer's login speaks only for itself; an id outside the pool has no login",
    async () => {
      const p1 = secure.security.natsLogin('proposer', 'p1');
      const nc = await connect({ servers: cluster.natsUrl, user: p1.user, pass: p1.password });
      const refused: string[] = [];
      void (async () => {
        for await (const s of nc.status()) {
          if (s.type === 'error' && s.error instanceof errors.PermissionViolationError) {
            refused.push(s.error.subject);
          }
        }
      })();
      const asOthers = ['synod.synod.prepare.p2', 'synod.synod.accept.p2',
        'synod.synod.heartbeat.p2', 'synod.synod.catchup.l1'];
      for (const s of asOthers) nc.publish(s, new Uint8Array([1]));
      await nc.flush();
      await eventually(() => refused.length === asOthers.length, 5000, 'the refusals');
      await nc.close();
      expect(refused.sort()).toEqual(asOthers.slice().sort());
      // The pool is p1..p4: a fifth proposer, or p1's password under another name, is refused.
      for (const user of ['proposer-p5', 'proposer-p2', 'proposer']) {
        await expect(connect({ servers: cluster.natsUrl, user, pass: p1.password }))
          .rejects.toThrow(/Authorization/i);
      }
    });
});
