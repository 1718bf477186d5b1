import { spawnSync } from 'node:child_process';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, type IContainer, type IPodSpec, Namespace, Secret, Service }
  from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';

/**
 * Offline checks of rendered Kubernetes manifests: schema validation with kubernetes-models
 * and the invariants docs/deploy.md promises. Each check returns the problems it found, so a
 * test can also plant a bug and see it caught.
 */

/** A rendered object. */
export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
  readonly [field: string]: unknown;
}

/** Why `kubectl kustomize` cannot run here, or null. */
export function kubectlProblem(): string | null {
  const r = spawnSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) {
    return 'kubectl is not installed (apt-get install -y kubectl, or kubernetes-client)';
  }
  const v = JSON.parse(r.stdout) as { kustomizeVersion?: string };
  const major = Number(/^v(\d+)/.exec(v.kustomizeVersion ?? '')?.[1] ?? 0);
  if (major < 4) {
    return `kubectl's kustomize is ${v.kustomizeVersion ?? 'unknown'}; these manifests need v4+ ` +
      '(kubectl 1.21 or later)';
  }
  return null;
}

/** `kubectl kustomize dir`, parsed. Throws with kubectl's message when rendering fails. */
export function render(dir: string): K8sObject[] {
  const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject).filter((o) => o !== null);
}

type Model = new (data: never) => { validate(): void };
const MODELS: Record<string, Model> = {
  'v1/Namespace': Namespace as unknown as Model,
  'v1/ConfigMap': ConfigMap as unknown as Model,
  'v1/Secret': Secret as unknown as Model,
  'v1/Service': Service as unknown as Model,
  'apps/v1/StatefulSet': StatefulSet as unknown as Model,
  'apps/v1/Deployment': Deployment as unknown as Model,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget as unknown as Model,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler as unknown as Model,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy as unknown as Model,
};

/** Validates every object against the Kubernetes schema of its kind. */
export function schemaProblems(objs: readonly K8sObject[]): string[] {
  const out: string[] = [];
  for (const o of objs) {
    const model = MODELS[`${o.apiVersion}/${o.kind}`];
    if (model === undefined) {
      out.push(`${o.kind} ${o.metadata.name}: no schema for ${o.apiVersion}/${o.kind}`);
      continue;
    }
    try {
      new model(o as never).validate();
    } catch (e) {
      out.push(`${o.kind} ${o.metadata.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return out;
}

/** A Deployment or StatefulSet with what the checks read of it. */
export interface Workload {
  readonly kind: string;
  readonly name: string;
  readonly replicas: number;
  readonly podLabels: Record<string, string>;
  readonly pod: IPodSpec;
  readonly obj: K8sObject;
}

interface WorkloadSpec {
  readonly replicas?: number;
  readonly template: { metadata?: { labels?: Record<string, string> }; spec: IPodSpec };
}

export function workloads(objs: readonly K8sObject[]): Workload[] {
  return objs.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet').map((o) => {
    const spec = o['spec'] as WorkloadSpec;
    return {
      kind: o.kind, name: o.metadata.name, replicas: spec.replicas ?? 1,
      podLabels: spec.template.metadata?.labels ?? {}, pod: spec.template.spec, obj: o,
    };
  });
}

export function find(objs: readonly K8sObject[], kind: string, prefix: string): K8sObject {
  const o = objs.find((x) => x.kind === kind && x.metadata.name.startsWith(prefix));
  if (o === undefined) throw new Error(`no ${kind} ${prefix}*`);
  return o;
}

/** Regular containers and native sidecars (init containers that keep running). */
function running(pod: IPodSpec): { c: IContainer; sidecar: boolean }[] {
  return [
    ...(pod.initContainers ?? []).map((c) => ({ c, sidecar: c.restartPolicy === 'Always' })),
    ...pod.containers.map((c) => ({ c, sidecar: false })),
  ];
}

/** Probes, requests and limits, non-root read-only containers with no capabilities. */
export function containerProblems(ws: readonly Workload[]): string[] {
  const out: string[] = [];
  for (const w of ws) {
    const pod = w.pod;
    const at = `${w.kind} ${w.name}`;
    if (pod.securityContext?.seccompProfile?.type !== 'RuntimeDefault') {
      out.push(`${at}: seccompProfile is not RuntimeDefault`);
    }
    if (pod.automountServiceAccountToken !== false) out.push(`${at}: mounts an API token`);
    if (pod.hostNetwork === true || pod.hostPID === true) out.push(`${at}: host namespaces`);
    for (const { c, sidecar } of running(pod)) {
      const where = `${at} container ${c.name}`;
      const plainInit = (pod.initContainers ?? []).includes(c) && !sidecar;
      if (!plainInit && (c.readinessProbe === undefined || c.livenessProbe === undefined)) {
        out.push(`${where}: no readiness or liveness probe`);
      }
      const r = c.resources;
      for (const k of ['cpu', 'memory'] as const) {
        if (r?.requests?.[k] === undefined) out.push(`${where}: no ${k} request`);
        if (r?.limits?.[k] === undefined) out.push(`${where}: no ${k} limit`);
      }
      const sc = c.securityContext ?? {};
      const ps = pod.securityContext ?? {};
      if ((sc.runAsNonRoot ?? ps.runAsNonRoot) !== true) out.push(`${where}: runAsNonRoot unset`);
      const uid = sc.runAsUser ?? ps.runAsUser;
      if (uid === undefined || uid === 0) out.push(`${where}: no non-zero runAsUser`);
      if (sc.readOnlyRootFilesystem !== true) out.push(`${where}: root filesystem writable`);
      if (sc.allowPrivilegeEscalation !== false) out.push(`${where}: privilege escalation`);
      if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`${where}: capabilities kept`);
      if ((sc.capabilities?.add ?? []).length > 0) out.push(`${where}: capabilities added`);
      if (sc.privileged === true) out.push(`${where}: privileged`);
      if (!/:[^/]+$/.test(c.image ?? '') || (c.image ?? '').endsWith(':latest')) {
        out.push(`${where}: image ${c.image ?? '(none)'} has no fixed tag`);
      }
    }
  }
  return out;
}

/** Env value of a container, as written (before Kubernetes expands `$(VAR)`). */
export function envOf(c: IContainer, name: string): string | undefined {
  return c.env?.find((e) => e.name === name)?.value;
}

/** Credentials never appear as literal values: env vars and ConfigMaps alike. */
export function credentialProblems(objs: readonly K8sObject[]): string[] {
  const out: string[] = [];
  for (const w of workloads(objs)) {
    for (const { c } of running(w.pod)) {
      for (const e of c.env ?? []) {
        const secretName = /PASSWORD|SECRET|TOKEN|CREDENTIAL/i.test(e.name) &&
          !e.name.endsWith('_FILE');
        if (secretName && (e.value !== undefined || e.valueFrom?.secretKeyRef === undefined)) {
          out.push(`${w.name}/${c.name} env ${e.name} is not from a Secret`);
        }
        // A URL's credentials may only be references to variables ($(VAR)).
        const cred = /\/\/([^/@]*)@/.exec(e.value ?? '')?.[1];
        if (cred !== undefined && !/^[^:]*:\$\([A-Z_]+\)$/.test(cred)) {
          out.push(`${w.name}/${c.name} env ${e.name} carries a literal credential`);
        }
      }
    }
  }
  for (const o of objs.filter((x) => x.kind === 'ConfigMap')) {
    for (const [key, text] of Object.entries((o['data'] ?? {}) as Record<string, string>)) {
      for (const line of text.split('\n')) {
        // A password is a reference ($VAR in NATS configs, "$..." in shell), never a value.
        const literal = /^\s*(password|pass|requirepass)\s*[:= ]/i.test(line) &&
          !/^\s*\w+\s*[:= ]\s*"?\$/.test(line);
        if (literal) {
          out.push(`ConfigMap ${o.metadata.name} ${key}: a literal password: ${line.trim()}`);
        }
        if (/^\s*user\s+\S+\s.*>[A-Za-z0-9]/.test(line) && !line.includes('>__PASSWORD__')) {
          out.push(`ConfigMap ${o.metadata.name} ${key}: a literal Redis password`);
        }
      }
    }
  }
  return out;
}

/** Does a label selector (matchLabels only) select pods with `labels`? */
export function selects(selector: { matchLabels?: Record<string, string> } | undefined,
  labels: Record<string, string>): boolean {
  const want = selector?.matchLabels ?? {};
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

/** The StatefulSet of a scaled role and the autoscaler bounds that apply to it. */
interface ScaledRole {
  readonly role: 'proposer' | 'learner';
  /** Node id prefix: ordinal i is `<prefix><i>`. */
  readonly prefix: string;
  /** The Secret with one password file per id. */
  readonly secret: string;
}

const SCALED: readonly ScaledRole[] = [
  { role: 'proposer', prefix: 'p', secret: 'synod-nats-proposers' },
  { role: 'learner', prefix: 'l', secret: 'synod-nats-learners' },
];

/**
 * Proposers and learners have server-enforced identities (docs/security.md): each is a
 * StatefulSet whose ordinal is the node id, scaled by an autoscaler, and every ordinal it can
 * reach (below maxReplicas, or replicas when larger) has an id in the pool of `synod-config`,
 * a NATS user in `auth.conf`, and a password file in the mounted Secret, which the pod reads
 * by its own index. When the overlay renders its Secrets (dev), each key must be there too.
 */
export function identityProblems(objs: readonly K8sObject[],
  shape: { proposers: readonly string[]; learners: readonly string[] }): string[] {
  const out: string[] = [];
  const auth = ((find(objs, 'ConfigMap', 'synod-nats-config-')['data'] ?? {}) as
    Record<string, string>)['auth.conf'] ?? '';
  for (const r of SCALED) {
    const name = `synod-${r.role}`;
    const w = workloads(objs).find((x) => x.name === name);
    if (w === undefined) {
      out.push(`${name}: no workload`);
      continue;
    }
    const spec = w.obj['spec'] as { podManagementPolicy?: string };
    if (w.kind !== 'StatefulSet') out.push(`${name}: a ${w.kind}, not a StatefulSet`);
    if (spec.podManagementPolicy !== 'Parallel') out.push(`${name}: pods not managed Parallel`);
    const hpa = objs.find((o) => o.kind === 'HorizontalPodAutoscaler' &&
      (o['spec'] as { scaleTargetRef: { name: string } }).scaleTargetRef.name === name);
    const hs = hpa?.['spec'] as { scaleTargetRef: { kind: string }; maxReplicas: number } |
      undefined;
    if (hs === undefined) out.push(`${name}: no autoscaler`);
    else if (hs.scaleTargetRef.kind !== w.kind) {
      out.push(`${name}: the autoscaler targets a ${hs.scaleTargetRef.kind}`);
    }
    const c = w.pod.containers.find((x) => x.name === r.role);
    if (c === undefined) {
      out.push(`${name}: no container ${r.role}`);
      continue;
    }
    const index = c.env?.find((e) => e.name === 'POD_INDEX')?.valueFrom?.fieldRef?.fieldPath;
    if (index !== "metadata.labels['apps.kubernetes.io/pod-index']" ||
      envOf(c, 'SYNOD_NODE_ID') !== `${r.prefix}$(POD_INDEX)`) {
      out.push(`${name}: SYNOD_NODE_ID is not ${r.prefix}<pod index>`);
    }
    if (envOf(c, 'NATS_USER') !== `${r.role}-$(SYNOD_NODE_ID)`) {
      out.push(`${name}: NATS_USER is not ${r.role}-<node id>`);
    }
    if (c.env?.some((e) => e.name === 'NATS_PASSWORD') === true) {
      out.push(`${name}: NATS_PASSWORD set (each pod must read only its own file)`);
    }
    const file = envOf(c, 'NATS_PASSWORD_FILE') ?? '';
    const mount = c.volumeMounts?.find((m) => file.startsWith(`${m.mountPath}/`));
    const vol = w.pod.volumes?.find((v) => v.name === mount?.name);
    // Kustomize appends a content hash to the name of a Secret it generates (dev).
    if (vol?.secret?.secretName?.replace(/-[a-z0-9]{10}$/, '') !== r.secret) {
      out.push(`${name}: NATS_PASSWORD_FILE ${file} is not in the Secret ${r.secret}`);
    }
    const pool = r.role === 'proposer' ? shape.proposers : shape.learners;
    const secret = objs.find((o) => o.kind === 'Secret' && o.metadata.name.startsWith(r.secret));
    const keys = Object.keys((secret?.['data'] ?? {}) as object);
    const reach = Math.max(hs?.maxReplicas ?? 0, w.replicas);
    for (let i = 0; i < reach; i++) {
      const id = `${r.prefix}${i}`;
      const user = `${r.role}-${id}`;
      const key = file.replace('$(POD_INDEX)', String(i)).split('/').pop() ?? '';
      if (!pool.includes(id)) out.push(`${name} ordinal ${i}: ${id} is not in the pool`);
      if (!auth.includes(`user: "${user}"`)) {
        out.push(`${name} ordinal ${i}: no NATS user ${user}`);
      }
      if (key !== `SYNOD_NATS_PASSWORD_${user.toUpperCase().replace('-', '_')}`) {
        out.push(`${name} ordinal ${i}: reads password ${key}, not ${user}'s`);
      }
      if (secret !== undefined && !keys.includes(key)) {
        out.push(`${name} ordinal ${i}: no key ${key} in Secret ${r.secret}`);
      }
    }
  }
  return out;
}
