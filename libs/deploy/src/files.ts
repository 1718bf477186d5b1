import { natsPasswordVar, natsPrincipals, type NodePools, renderNatsAuth } from './nats-auth.js';
import { renderRedisAclTemplate } from './redis-acl.js';

/**
 * The files `npm run gen-auth` writes, and what each is made from. A deployment target names
 * the env file that holds its cluster name, acceptor set and pools of proposer and learner ids
 * (the same file its services read), and the NATS authorization file made for them.
 */

/** One deployment whose NATS users are generated. */
export interface AuthTarget {
  readonly name: string;
  /**
   * `SYNOD_CLUSTER`, `SYNOD_ACCEPTORS`, `SYNOD_PROPOSER_POOL` and `SYNOD_LEARNER_POOL`,
   * relative to the repository root.
   */
  readonly envFile: string;
  /** The generated `authorization` block, relative to the repository root. */
  readonly natsAuthFile: string;
}

/** Every deployment in the repository: the compose stack and the Kubernetes overlays. */
export const AUTH_TARGETS: readonly AuthTarget[] = [
  { name: 'compose', envFile: 'infra/compose/synod.env', natsAuthFile: 'infra/nats/auth.conf' },
  {
    name: 'k8s dev',
    envFile: 'infra/k8s/overlays/dev/synod.env',
    natsAuthFile: 'infra/k8s/overlays/dev/nats-auth.conf',
  },
  {
    name: 'k8s prod',
    envFile: 'infra/k8s/overlays/prod/synod.env',
    natsAuthFile: 'infra/k8s/overlays/prod/nats-auth.conf',
  },
];

/** Folders that get the Redis ACL templates and the script that fills them in. */
export const REDIS_DIRS = ['infra/redis', 'infra/k8s/base/redis'] as const;

/** The hand-written start script, copied beside the templates (kustomize loads no file above
 * its own folder). */
export const START_REDIS_SCRIPT = 'infra/redis/start-redis.sh';

/** A generated file: its path relative to the repository root, and its whole content. */
export interface GeneratedFile {
  readonly path: string;
  readonly content: string;
}

/**
 * A deployment's cluster name, acceptor ids, and the ids proposers and learners may run under
 * (each gets a NATS user of its own), from its env file.
 */
export interface ClusterShape extends NodePools {
  readonly cluster: string;
}

/** Reads `KEY=VALUE` lines (blank lines and `#` comments skipped). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`not KEY=VALUE: ${line}`);
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

/** The env file variables that make a {@link ClusterShape}, with what each lists. */
const SHAPE_VARS = {
  acceptors: 'SYNOD_ACCEPTORS',
  proposers: 'SYNOD_PROPOSER_POOL',
  learners: 'SYNOD_LEARNER_POOL',
} as const;

/**
 * SYNOD_CLUSTER (default `synod`), SYNOD_ACCEPTORS, SYNOD_PROPOSER_POOL and SYNOD_LEARNER_POOL
 * of an env file (comma-separated ids). Throws when a list is missing or empty, or an id is
 * invalid or used twice.
 */
export function clusterShape(envText: string): ClusterShape {
  const env = parseEnvFile(envText);
  const ids = (name: string): string[] => {
    const out = (env[name] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (out.length === 0) throw new Error(`${name} is not set`);
    return out;
  };
  const shape = {
    cluster: env['SYNOD_CLUSTER'] ?? 'synod',
    acceptors: ids(SHAPE_VARS.acceptors),
    proposers: ids(SHAPE_VARS.proposers),
    learners: ids(SHAPE_VARS.learners),
  };
  natsPrincipals(shape);
  return shape;
}

/**
 * Every generated file, made from the current subject table and store rules. `read` returns
 * the text of a repository file (the env files and the start script).
 */
export function generatedFiles(read: (path: string) => string): GeneratedFile[] {
  const out: GeneratedFile[] = [];
  for (const t of AUTH_TARGETS) {
    out.push({ path: t.natsAuthFile, content: renderNatsAuth(clusterShape(read(t.envFile))) });
  }
  const script = read(START_REDIS_SCRIPT);
  for (const dir of REDIS_DIRS) {
    out.push({ path: `${dir}/acceptor.acl.tmpl`, content: renderRedisAclTemplate('acceptor') });
    out.push({ path: `${dir}/learner.acl.tmpl`, content: renderRedisAclTemplate('learner') });
    if (`${dir}/start-redis.sh` !== START_REDIS_SCRIPT) {
      out.push({ path: `${dir}/start-redis.sh`, content: script });
    }
  }
  return out;
}

/** The environment variable names of every NATS password of a deployment. */
export function natsPasswordVars(shape: NodePools): string[] {
  return natsPrincipals(shape).map((p) => natsPasswordVar(p.user));
}
