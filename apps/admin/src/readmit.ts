import { parseArgs } from 'node:util';
import { quorumSize } from '@synod/protocol';
import { type AcceptorRedis, checkReadmitSet, type ReadmitOptions } from '@synod/store-redis';
import { type LocalData, UsageError } from './local.js';

export const HELP = `synod-admin: operator commands

Usage:
  npm run admin -- readmit --acceptor ID [--redis URL] [--peer ID=URL ...] [--acceptors N]
                           [--cluster NAME] [--joining]

readmit
  Brings back an acceptor whose Redis lost its state (it refuses to vote and its /readyz says
  AMNESIA). It reads a majority of the other acceptors' Redis, writes the highest promise and,
  per slot, the highest-ballot vote among them into the acceptor's empty keyspace together with
  a new marker (one transaction), and exits. The acceptor finds its restored state within 30 s
  (or at once when restarted) and votes again.
  It refuses a keyspace that is not empty. See docs/operations.md#readmit.

  --acceptor ID   the acceptor to readmit
  --redis URL     its Redis (default: from .synod/cluster.json of \`npm start\`)
  --peer ID=URL   another acceptor's Redis, repeated for each (default: from .synod/cluster.json)
  --acceptors N   size of the whole acceptor set, the target included (default: what the data
                  directory of \`npm start\` records, when the URLs are its own; required
                  otherwise). The peers read must be a majority of it: fewer than the acceptors
                  named, or another number than the data directory records, is refused
  --cluster NAME  cluster name (default: SYNOD_CLUSTER, cluster.json, or synod)
  --joining       the acceptor is new, growing the set (docs/deploy.md): --acceptors is the
                  size of the set it joins, and every member of it is a --peer

  The data directory is .synod/ (current directory, then the repository root), or
  $SYNOD_DATA_DIR for \`npm start -- --data-dir DIR\`: cluster.json (while npm start runs) and
  data/synod-data.json (the cluster name and acceptor count it was made with).`;

/** A readmission whose arguments were checked: what {@link readmitAcceptor} takes. */
export interface ReadmitPlan extends ReadmitOptions {
  /** Where the acceptor count came from, for the first line printed. */
  readonly sizeFrom: string;
}

function parse(argv: readonly string[]):
  Record<string, string | boolean | string[] | undefined> {
  try {
    return parseArgs({
      args: [...argv],
      options: {
        acceptor: { type: 'string' }, redis: { type: 'string' },
        peer: { type: 'string', multiple: true },
        acceptors: { type: 'string' }, cluster: { type: 'string' },
        joining: { type: 'boolean' },
      },
    }).values;
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0] ?? 'bad arguments');
  }
}

/** The acceptor count that the local data directory records, and which file says it. */
function recordedSize(local: LocalData): { n: number; file: string } | undefined {
  if (local.shape !== undefined) return { n: local.shape.acceptors, file: local.shape.path };
  const n = local.running?.services.filter((s) => s.role === 'acceptor').length ?? 0;
  return n > 0 && local.running !== undefined ? { n, file: local.running.path } : undefined;
}

/**
 * Checks a `readmit` command line against the local data directory (`local`, null when none)
 * and returns what to run; throws {@link UsageError} (exit 2) before anything is read.
 */
export function planReadmit(argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>, local: LocalData | null): ReadmitPlan {
  const v = parse(argv);
  const id = v['acceptor'] as string | undefined;
  if (id === undefined || id === '') throw new UsageError('readmit needs --acceptor ID');
  const rawSize = v['acceptors'] as string | undefined;
  const given = rawSize === undefined ? undefined
    : /^[0-9]+$/.test(rawSize) && Number(rawSize) >= 1 ? Number(rawSize) : NaN;
  if (Number.isNaN(given)) {
    throw new UsageError(`--acceptors must be an integer >= 1 (the size of the whole acceptor ` +
      `set), got '${rawSize ?? ''}'`);
  }
  const localCluster = local?.shape?.cluster ?? local?.running?.cluster;
  const envCluster = env['SYNOD_CLUSTER'] === '' ? undefined : env['SYNOD_CLUSTER'];
  const cluster = (v['cluster'] as string | undefined) ?? envCluster ?? localCluster ?? 'synod';
  // The local data speaks for this cluster only (not for another one given with --cluster).
  const here = local !== null && localCluster === cluster ? local : null;
  const services = (here?.running?.services ?? [])
    .filter((s) => s.role === 'acceptor' && s.redis !== null);
  const target: AcceptorRedis = {
    id, url: (v['redis'] as string | undefined) ?? services.find((s) => s.id === id)?.redis ?? '',
  };
  if (target.url === '') throw new UsageError(`no Redis URL for ${id}: give --redis URL`);
  const peerArgs = v['peer'] as string[] | undefined;
  const peers: AcceptorRedis[] = peerArgs !== undefined
    ? peerArgs.map((p) => {
      const eq = p.indexOf('=');
      if (eq <= 0 || eq === p.length - 1) throw new UsageError(`--peer wants ID=URL, got '${p}'`);
      return { id: p.slice(0, eq), url: p.slice(eq + 1) };
    })
    : services.filter((s) => s.id !== id).map((s) => ({ id: s.id, url: s.redis as string }));
  // The recorded size speaks for the Redis servers of that data directory only: URLs given by
  // hand may be another cluster's of the same name (compose or Kubernetes "synod", grown to 5
  // while the local one has 3), and a local count would then make a minority look like a
  // majority.
  const localUrls = new Set(services.map((s) => s.redis));
  const byHand = v['redis'] !== undefined || peerArgs !== undefined;
  const local_ = !byHand || [target, ...peers].every((a) => localUrls.has(a.url));
  const recorded = here === null || !local_ ? undefined : recordedSize(here);
  if (given !== undefined && recorded !== undefined && given !== recorded.n) {
    throw new UsageError(`--acceptors ${given}, but ${recorded.file} records ${recorded.n} ` +
      `acceptors for cluster '${cluster}': a majority of ${given} need not be one of ` +
      `${recorded.n}. Give --acceptors ${recorded.n} (or leave it out); for another cluster, ` +
      'give its --cluster, or SYNOD_DATA_DIR for its data directory');
  }
  const acceptors = given ?? recorded?.n;
  if (acceptors === undefined) {
    throw new UsageError('give --acceptors N, the size of the whole acceptor set: ' +
      (here !== null && !local_ ? 'the Redis URLs given are not those of the local npm start ' +
        'cluster, whose size says nothing about theirs,'
        : 'no data directory of npm start records it,') +
      ' and the peers read must be a majority of it');
  }
  const joining = v['joining'] === true;
  if (joining && acceptors !== peers.length) {
    throw new UsageError(`--joining: ${id} joins a set of --acceptors ${acceptors}, but ` +
      `${peers.length} --peer are given: give every member of the set it joins`);
  }
  const named = peers.length + 1;
  if (!joining && acceptors < named) {
    throw new UsageError(`--acceptors ${acceptors} is fewer than the ${named} acceptors named ` +
      `(${id} and ${peers.map((p) => p.id).join(', ')}): it is the size of the whole ` +
      'acceptor set, the target included');
  }
  try {
    checkReadmitSet({ target, peers, acceptors, joining });
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(`${e.message} (--peer)`);
    throw e;
  }
  const q = quorumSize(acceptors);
  if (peers.length < q) {
    throw new UsageError(`readmitting ${id} needs the state of ${q} other acceptors (a ` +
      `majority of ${acceptors}), but ${peers.length === 0 ? 'no peer is' : `only ` +
      `${peers.map((p) => p.id).join(', ')} ${peers.length === 1 ? 'is' : 'are'}`} given: ` +
      'give --peer ID=URL for each other acceptor');
  }
  const sizeFrom = given !== undefined ? '--acceptors' : recorded?.file ?? '';
  return { cluster, target, peers, acceptors, ...(joining ? { joining } : {}), sizeFrom };
}
