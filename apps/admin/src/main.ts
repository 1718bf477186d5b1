import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { describeBallot } from '@synod/protocol';
import { type AcceptorRedis, readmitAcceptor, StoreError } from '@synod/store-redis';

const HELP = `synod-admin: operator commands

Usage:
  npm run admin -- readmit --acceptor ID [--cluster NAME] [--redis URL] [--peer ID=URL ...]

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
  --acceptors N   size of the acceptor set (default: the target plus the peers given)
  --cluster NAME  cluster name (default: SYNOD_CLUSTER, cluster.json, or synod)

  cluster.json is .synod/cluster.json (current directory, then the repository root), or
  $SYNOD_DATA_DIR/cluster.json for \`npm start -- --data-dir DIR\`.`;

interface LocalInfo {
  cluster: string;
  services: Array<{ id: string; role: string; redis: string | null }>;
}

function localInfo(): LocalInfo | null {
  const dataDir = process.env['SYNOD_DATA_DIR'];
  const files = dataDir !== undefined && dataDir !== '' ? [join(dataDir, 'cluster.json')]
    : [process.cwd(), resolve(__dirname, '../../..')]
      .map((d) => join(d, '.synod', 'cluster.json'));
  for (const f of files) {
    if (existsSync(f)) return JSON.parse(readFileSync(f, 'utf8')) as LocalInfo;
  }
  return null;
}

async function readmit(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      acceptor: { type: 'string' }, redis: { type: 'string' },
      peer: { type: 'string', multiple: true },
      acceptors: { type: 'string' }, cluster: { type: 'string' },
    },
  });
  const id = values.acceptor;
  if (id === undefined) throw new Error('readmit needs --acceptor ID');
  const info = localInfo();
  const local = (info?.services ?? []).filter((s) => s.role === 'acceptor' && s.redis !== null);
  const target: AcceptorRedis = {
    id, url: values.redis ?? local.find((s) => s.id === id)?.redis ?? '',
  };
  if (target.url === '') throw new Error(`no Redis URL for ${id}: give --redis URL`);
  const peers: AcceptorRedis[] = values.peer !== undefined
    ? values.peer.map((p) => {
      const eq = p.indexOf('=');
      if (eq <= 0) throw new Error(`--peer wants ID=URL, got '${p}'`);
      return { id: p.slice(0, eq), url: p.slice(eq + 1) };
    })
    : local.filter((s) => s.id !== id).map((s) => ({ id: s.id, url: s.redis as string }));
  const acceptors = values.acceptors === undefined ? peers.length + 1 : Number(values.acceptors);
  const cluster = values.cluster ?? process.env['SYNOD_CLUSTER'] ?? info?.cluster ?? 'synod';
  process.stdout.write(`readmitting ${id} of cluster ${cluster} from ${peers.map((p) => p.id)
    .join(', ')} (${acceptors} acceptors)...\n`);
  const r = await readmitAcceptor({ cluster, target, peers, acceptors });
  process.stdout.write(`done: ${id} now holds promise ${describeBallot(r.promised)} and ` +
    `${r.entries} votes merged from ${r.from.join(', ')}. No restart needed: it loads its ` +
    'state again within 30 s (its retry pause) and votes; restarting it does the same at once.\n');
  return 0;
}

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(`${HELP}\n`);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd !== 'readmit') {
    process.stderr.write(`synod-admin: unknown command '${cmd}'\n${HELP}\n`);
    return 2;
  }
  try {
    return await readmit(rest);
  } catch (e) {
    const code = e instanceof StoreError ? ` (${e.code})` : '';
    const why = e instanceof Error ? e.message : String(e);
    process.stderr.write(`synod-admin readmit: ${why}${code}\n`);
    return 1;
  }
}

void main().then((code) => process.exit(code));
