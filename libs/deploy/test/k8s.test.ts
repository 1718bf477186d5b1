import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { clusterShape, natsPasswordVar, natsPasswordVars, renderNatsAuth } from '@synod/deploy';
import type { IContainer } from 'kubernetes-models/v1';
import {
  containerProblems,
  credentialProblems,
  envOf,
  find,
  identityProblems,
  type K8sObject,
  kubectlProblem,
  render,
  schemaProblems,
  selects,
  type Workload,
  workloads,
} from './k8s-checks.js';

/**
 * Offline checks of infra/k8s: each overlay renders with `kubectl kustomize`, every object
 * validates against the Kubernetes schema (kubernetes-models), and the invariants of
 * docs/deploy.md hold. Without kubectl the checks are skipped, and say so.
 */

const root = resolve(__dirname, '../../..');
const OVERLAYS = ['dev', 'prod'] as const;
const problem = kubectlProblem();
if (problem !== null) process.stdout.write(`Kubernetes checks SKIPPED: ${problem}\n`);
const maybe = problem === null ? describe : describe.skip;

maybe.each(OVERLAYS)('infra/k8s/overlays/%s', (overlay) => {
  let objs: K8sObject[];
  let ws: Workload[];
  let acceptors: Workload;
  beforeAll(() => {
    objs = render(join(root, 'infra/k8s/overlays', overlay));
    ws = workloads(objs);
    acceptors = ws.find((w) => w.name === 'synod-acceptor') as Workload;
  });

  const container = (w: Workload, name: string): IContainer => {
    const c = [...(w.pod.initContainers ?? []), ...w.pod.containers].find((x) => x.name === name);
    if (c === undefined) throw new Error(`${w.name} has no container ${name}`);
    return c;
  };
  const configData = (prefix: string): Record<string, string> =>
    (find(objs, 'ConfigMap', prefix)['data'] ?? {}) as Record<string, string>;

  test('renders, and every object validates against the Kubernetes schema', () => {
    expect(objs.length).toBeGreaterThan(15);
    expect(schemaProblems(objs)).toEqual([]);
  });

  test('every container: readiness and liveness probes, requests and limits, non-root, ' +
    'read-only root, all capabilities dropped, a fixed image tag', () => {
    expect(ws.map((w) => w.name).sort()).toEqual(
      ['synod-acceptor', 'synod-learner', 'synod-nats', 'synod-proposer']);
    expect(containerProblems(ws)).toEqual([]);
  });

  test('acceptors: a StatefulSet whose ordinal is the id, the acceptor set in synod-config',
    () => {
      expect(acceptors.kind).toBe('StatefulSet');
      const shape = clusterShape(Object.entries(configData('synod-config-'))
        .map(([k, v]) => `${k}=${v}`).join('\n'));
      expect(shape.acceptors).toEqual(
        Array.from({ length: acceptors.replicas }, (_, i) => `a${i}`));
      const c = container(acceptors, 'acceptor');
      expect(envOf(c, 'SYNOD_NODE_ID')).toBe('a$(POD_INDEX)');
      expect(c.env?.find((e) => e.name === 'POD_INDEX')?.valueFrom?.fieldRef?.fieldPath)
        .toBe("metadata.labels['apps.kubernetes.io/pod-index']");
    });

  test('each acceptor has its own Redis: a sidecar on its own volume, AOF fsync always, ' +
    'reachable on 127.0.0.1 only', () => {
    const redis = container(acceptors, 'redis');
    expect(redis.restartPolicy).toBe('Always');
    expect(redis.image).toMatch(/^redis:/);
    expect(redis.volumeMounts?.find((m) => m.mountPath === '/data')?.name).toBe('data');
    type Claims = { volumeClaimTemplates?: { metadata: { name: string } }[] };
    const claims = (acceptors.obj['spec'] as Claims).volumeClaimTemplates ?? [];
    expect(claims.map((v) => v.metadata.name)).toEqual(['data']);
    expect(envOf(redis, 'SYNOD_NODE_ID')).toBe(envOf(container(acceptors, 'acceptor'),
      'SYNOD_NODE_ID'));
    const conf = configData('synod-redis-')['redis.conf'] ?? '';
    for (const line of ['appendonly yes', 'appendfsync always', 'bind 127.0.0.1']) {
      expect(conf.split('\n')).toContain(line);
    }
    expect(redis.command?.join(' ')).toContain('redis.conf');
    expect(envOf(container(acceptors, 'acceptor'), 'REDIS_URL')).toMatch(/@127\.0\.0\.1:6379$/);
    // Nothing opens Redis to the network.
    const ports = JSON.stringify(objs.filter((o) => o.kind === 'Service' ||
      o.kind === 'NetworkPolicy'));
    expect(ports).not.toMatch(/6379/);
  });

  test('a pod that mounts a Secret readable by its group only runs with that group ' +
    '(fsGroup), so its non-root user can read the files', () => {
    for (const w of ws) {
      const closed = (w.pod.volumes ?? []).some((v) => v.secret !== undefined &&
        ((v.secret.defaultMode ?? 0o644) & 0o004) === 0);
      if (!closed) continue;
      expect([w.name, w.pod.securityContext?.fsGroup])
        .toEqual([w.name, w.pod.securityContext?.runAsGroup ?? w.pod.securityContext?.runAsUser]);
    }
    expect(ws.filter((w) => (w.pod.volumes ?? []).some((v) => v.secret !== undefined)).length)
      .toBeGreaterThanOrEqual(3);
  });

  test('the autoscalers own the proposer and learner counts (no replicas for apply to reset)',
    () => {
      for (const name of ['synod-proposer', 'synod-learner']) {
        const w = ws.find((x) => x.name === name) as Workload;
        expect([name, (w.obj['spec'] as { replicas?: number }).replicas])
          .toEqual([name, undefined]);
        expect(objs.some((o) => o.kind === 'HorizontalPodAutoscaler' &&
          (o['spec'] as { scaleTargetRef: { name: string } }).scaleTargetRef.name === name))
          .toBe(true);
      }
    });

  test('an acceptor initialises an empty Redis only as its explicit first start: never on ' +
    'every start', () => {
    expect(configData('synod-acceptor-bootstrap')['SYNOD_ACCEPTOR_INIT']).toBe('false');
    const c = container(acceptors, 'acceptor');
    const record = envOf(c, 'SYNOD_ACCEPTOR_INIT_RECORD');
    if (overlay === 'dev') {
      // Dev: the record on the acceptor's own volume says whether it was initialised.
      expect(record).toBe('/var/lib/synod/initialised');
      expect(c.volumeMounts?.find((m) => m.mountPath === '/var/lib/synod')?.name).toBe('data');
    } else {
      expect(record).toBeUndefined();
    }
  });

  test('the PodDisruptionBudget keeps a majority of the acceptors', () => {
    const pdb = objs.find((o) => o.kind === 'PodDisruptionBudget' &&
      selects((o['spec'] as { selector?: { matchLabels?: Record<string, string> } }).selector,
        acceptors.podLabels)) as K8sObject;
    const spec = pdb['spec'] as { minAvailable?: number; maxUnavailable?: number };
    const majority = Math.floor(acceptors.replicas / 2) + 1;
    const kept = spec.minAvailable ?? acceptors.replicas - (spec.maxUnavailable ?? 0);
    expect(kept).toBeGreaterThanOrEqual(majority);
    expect(kept).toBeLessThan(acceptors.replicas + 1);
  });

  test('proposers and learners: StatefulSets whose ordinal is the id; every ordinal within ' +
    "the autoscaler's maxReplicas has an id in the pool, a NATS user and its own password file",
  () => {
    const shape = clusterShape(Object.entries(configData('synod-config-'))
      .map(([k, v]) => `${k}=${v}`).join('\n'));
    expect(identityProblems(objs, shape)).toEqual([]);
    // The learner's Redis sidecar serves the same id as the learner.
    const l = ws.find((w) => w.name === 'synod-learner') as Workload;
    expect(envOf(container(l, 'redis'), 'SYNOD_NODE_ID'))
      .toBe(envOf(container(l, 'learner'), 'SYNOD_NODE_ID'));
  });

  test('acceptors repel each other; proposers and learners scale by HPA, acceptors never', () => {
    const anti = acceptors.pod.affinity?.podAntiAffinity;
    const terms = [...(anti?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
      ...(anti?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
        .map((p) => p.podAffinityTerm)];
    expect(terms.some((t) => t.topologyKey === 'kubernetes.io/hostname' &&
      selects(t.labelSelector as never, acceptors.podLabels))).toBe(true);
    if (overlay === 'prod') {
      expect(anti?.requiredDuringSchedulingIgnoredDuringExecution).toBeTruthy();
    }
    const hpas = objs.filter((o) => o.kind === 'HorizontalPodAutoscaler').map((o) =>
      (o['spec'] as { scaleTargetRef: { kind: string; name: string } }).scaleTargetRef);
    expect(hpas.map((t) => `${t.kind}/${t.name}`).sort())
      .toEqual(['StatefulSet/synod-learner', 'StatefulSet/synod-proposer']);
  });

  test('NATS users and permissions in the manifests are the subject table', () => {
    const shape = clusterShape(Object.entries(configData('synod-config-'))
      .map(([k, v]) => `${k}=${v}`).join('\n'));
    const nats = configData('synod-nats-config-');
    expect(nats['auth.conf']).toBe(renderNatsAuth(shape));
    expect(nats['nats.conf']).toMatch(/^include \.\/auth\.conf$/m);
    // Every service reads its own password file and logs in as itself (proposers and
    // learners: see the identity test above).
    const a = container(acceptors, 'acceptor');
    expect(envOf(a, 'NATS_USER')).toBe('acceptor-$(SYNOD_NODE_ID)');
    for (const [i, id] of shape.acceptors.entries()) {
      expect(envOf(a, 'NATS_PASSWORD_FILE')?.replace('$(POD_INDEX)', String(i)))
        .toBe(`/etc/synod/nats/${natsPasswordVar(`acceptor-${id}`)}`);
    }
    for (const role of ['proposer', 'learner'] as const) {
      const w = ws.find((x) => x.name === `synod-${role}`) as Workload;
      const c = container(w, role);
      expect(envOf(c, 'NATS_USER')).toBe(`${role}-$(SYNOD_NODE_ID)`);
      const pool = role === 'proposer' ? shape.proposers : shape.learners;
      for (const [i, id] of pool.entries()) {
        expect(envOf(c, 'NATS_PASSWORD_FILE')?.replace('$(POD_INDEX)', String(i)))
          .toBe(`/etc/synod/nats/${natsPasswordVar(`${role}-${id}`)}`);
      }
    }
    // The server gets every password from the Secrets; in dev they are generated here.
    const server = container(ws.find((w) => w.name === 'synod-nats') as Workload, 'nats');
    expect(server.envFrom?.map((e) => e.secretRef?.name?.replace(/-[a-z0-9]{10}$/, '')))
      .toEqual(['synod-nats-acceptors', 'synod-nats-proposers', 'synod-nats-learners',
        'synod-nats-client']);
    if (overlay === 'dev') {
      const keys = objs
        .filter((o) => o.kind === 'Secret' && o.metadata.name.startsWith('synod-nats'))
        .flatMap((o) => Object.keys((o['data'] ?? {}) as object));
      expect(keys.sort()).toEqual(natsPasswordVars(shape).sort());
    } else {
      expect(objs.filter((o) => o.kind === 'Secret')).toEqual([]);
    }
  });

  test('the NATS configuration of the manifests loads in nats-server', () => {
    const nats = configData('synod-nats-config-');
    const shape = clusterShape(Object.entries(configData('synod-config-'))
      .map(([k, v]) => `${k}=${v}`).join('\n'));
    const dir = mkdtempSync(join(tmpdir(), 'synod-k8s-nats-'));
    try {
      for (const [k, v] of Object.entries(nats)) writeFileSync(join(dir, k), v);
      const env: Record<string, string> = {
        PATH: `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin`, POD_NAME: 'synod-nats-0',
      };
      for (const v of natsPasswordVars(shape)) env[v] = `pw${v.length}`;
      const r = spawnSync('nats-server', ['-t', '-c', join(dir, 'nats.conf')],
        { env, encoding: 'utf8' });
      expect(`${r.stdout}${r.stderr}`).toMatch(/is valid/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('credentials live only in Secrets', () => {
    expect(credentialProblems(objs)).toEqual([]);
  });

  test('network policies: deny by default; services reach only NATS (and DNS)', () => {
    type Rule = { to?: { podSelector?: { matchLabels?: Record<string, string> };
      namespaceSelector?: unknown }[]; ports?: { port?: number }[] };
    type Policy = { podSelector: { matchLabels?: Record<string, string> }; policyTypes?: string[];
      ingress?: unknown[]; egress?: Rule[] };
    const policies = objs.filter((o) => o.kind === 'NetworkPolicy')
      .map((o) => o['spec'] as Policy);
    expect(policies.some((p) => Object.keys(p.podSelector.matchLabels ?? {}).length === 0 &&
      p.policyTypes?.includes('Ingress') && p.policyTypes.includes('Egress') &&
      p.ingress === undefined && p.egress === undefined)).toBe(true);
    for (const w of ws.filter((x) => x.name !== 'synod-nats')) {
      const egress = policies.filter((p) => selects(p.podSelector, w.podLabels))
        .flatMap((p) => p.egress ?? []);
      const where = egress.map((r) => ({
        to: (r.to ?? []).map((t) => t.podSelector?.matchLabels?.['app.kubernetes.io/name'] ??
          t.podSelector?.matchLabels?.['k8s-app'] ?? 'ANY'),
        ports: (r.ports ?? []).map((p) => p.port ?? 'ANY'),
      }));
      expect(where).toEqual(expect.arrayContaining([{ to: ['synod-nats'], ports: [4222] }]));
      for (const r of where) {
        expect([JSON.stringify({ to: ['synod-nats'], ports: [4222] }),
          JSON.stringify({ to: ['kube-dns'], ports: [53, 53] })]).toContain(JSON.stringify(r));
      }
    }
  });
});

maybe('planted bugs: the checks catch what they look for', () => {
  let objs: K8sObject[];
  beforeAll(() => {
    objs = render(join(root, 'infra/k8s/overlays/dev'));
  });
  const clone = (): K8sObject[] => JSON.parse(JSON.stringify(objs)) as K8sObject[];

  test('a probe of the wrong type fails schema validation', () => {
    const bad = clone();
    const sts = find(bad, 'StatefulSet', 'synod-acceptor') as unknown as
      { spec: { template: { spec: { containers: { readinessProbe: unknown }[] } } } };
    (sts.spec.template.spec.containers[0] as { readinessProbe: unknown }).readinessProbe = 'x';
    expect(schemaProblems(bad).join()).toMatch(/readinessProbe/);
  });

  test('a container without limits, running as root, or keeping capabilities', () => {
    const bad = clone();
    const c = (find(bad, 'StatefulSet', 'synod-proposer') as unknown as
      { spec: { template: { spec: { containers: Record<string, unknown>[] } } } })
      .spec.template.spec.containers[0] as Record<string, unknown>;
    c['resources'] = { requests: { cpu: '1', memory: '1Gi' } };
    c['securityContext'] = { runAsUser: 0 };
    const found = containerProblems(workloads(bad)).join('\n');
    expect(found).toMatch(/no cpu limit/);
    expect(found).toMatch(/no non-zero runAsUser/);
    expect(found).toMatch(/capabilities kept/);
  });

  test('a literal password in an env var or a URL', () => {
    const bad = clone();
    type Env = { env: { name: string; value?: string }[] };
    const d = find(bad, 'StatefulSet', 'synod-learner') as unknown as
      { spec: { template: { spec: { containers: Env[] } } } };
    const c = d.spec.template.spec.containers[0] as Env;
    c.env.push({ name: 'NATS_PASSWORD', value: 'hunter2' });
    c.env.push({ name: 'REDIS_URL', value: 'redis://u:hunter2@127.0.0.1:6379' });
    expect(credentialProblems(bad)).toHaveLength(2);
  });

  test('an autoscaler allowed past the pool, a proposer Deployment, a role-wide user', () => {
    const shape = {
      proposers: ['p0', 'p1', 'p2', 'p3', 'p4'], learners: ['l0', 'l1', 'l2', 'l3'],
    };
    expect(identityProblems(objs, shape)).toEqual([]);
    const bad = clone();
    const hpa = find(bad, 'HorizontalPodAutoscaler', 'synod-learner') as unknown as
      { spec: { maxReplicas: number } };
    hpa.spec.maxReplicas = 6;
    const p = find(bad, 'StatefulSet', 'synod-proposer') as unknown as { kind: string;
      spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } } };
    p.kind = 'Deployment';
    const env = (p.spec.template.spec.containers[0] as { env: { name: string; value?: string }[] })
      .env;
    (env.find((e) => e.name === 'NATS_USER') as { value: string }).value = 'proposer';
    const found = identityProblems(bad, shape).join('\n');
    expect(found).toMatch(/synod-learner ordinal 4: l4 is not in the pool/);
    expect(found).toMatch(/synod-learner ordinal 5: no NATS user learner-l5/);
    expect(found).toMatch(/synod-proposer: a Deployment, not a StatefulSet/);
    expect(found).toMatch(/synod-proposer: NATS_USER is not proposer-<node id>/);
  });
});
