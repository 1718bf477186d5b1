import { resolve } from 'node:path';
import { describeBallot } from '@synod/protocol';
import { readmitAcceptor, StoreError } from '@synod/store-redis';
import { readLocalData, UsageError } from './local.js';
import { HELP, planReadmit } from './readmit.js';

async function readmit(argv: string[]): Promise<number> {
  const local = readLocalData(process.env, process.cwd(), resolve(__dirname, '../../..'));
  const plan = planReadmit(argv, process.env, local);
  const { cluster, target, peers, acceptors } = plan;
  const joins = plan.joining === true ? ', joining' : '';
  process.stdout.write(`readmitting ${target.id} of cluster ${cluster} from ${peers
    .map((p) => p.id).join(', ')} (${acceptors} acceptors${joins}, from ${plan.sizeFrom})...\n`);
  const r = await readmitAcceptor(plan);
  process.stdout.write(`done: ${target.id} now holds promise ${describeBallot(r.promised)} and ` +
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
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  try {
    return await readmit(rest);
  } catch (e) {
    if (e instanceof UsageError || e instanceof RangeError) {
      process.stderr.write(`synod-admin readmit: ${e.message} (see npm run admin -- --help)\n`);
      return 2;
    }
    const code = e instanceof StoreError ? ` [${e.code}]` : '';
    const why = e instanceof Error ? e.message : String(e);
    process.stderr.write(`synod-admin readmit: ${why}${code}\n`);
    return 1;
  }
}

void main().then((code) => process.exit(code));
