/**
 * The SDK as an application gets it: `npm run build:sdk` builds an installable @synod/client;
 * a plain Node program outside the workspace requires it and proposes and elects against a
 * real cluster, and a TypeScript program type-checks against its declarations.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { LocalCluster } from '@synod/testing';
import { startCluster } from './harness.js';

const root = resolve(__dirname, '../../..');

describe('the client SDK, built and used outside the workspace', () => {
  let cluster: LocalCluster;
  let app: string;

  beforeAll(async () => {
    app = mkdtempSync(join(tmpdir(), 'synod-sdk-app-'));
    const modules = join(app, 'node_modules');
    mkdirSync(join(modules, '@synod'), { recursive: true });
    execFileSync(process.execPath, [join(root, 'tools/build-sdk.mjs'), '--out',
      join(modules, '@synod', 'client')], { cwd: root, stdio: 'pipe' });
    // What `npm install` of the package would add beside it: its dependencies (and, for
    // TypeScript, Node's types), taken from this repository's node_modules.
    const pkg = JSON.parse(readFileSync(join(modules, '@synod/client/package.json'), 'utf8')) as
      { dependencies: Record<string, string> };
    const scopes = new Set(['@types', ...Object.keys(pkg.dependencies)
      .map((d) => (d.startsWith('@') ? d.split('/')[0] as string : d))]);
    for (const s of scopes) {
      if (s === '@synod') continue;
      symlinkSync(join(root, 'node_modules', s), join(modules, s));
    }
    symlinkSync(join(root, 'node_modules', 'typescript'), join(modules, 'typescript'));
    cluster = await startCluster();
  });
  afterAll(async () => {
    await cluster?.stop();
    if (app !== undefined) rmSync(app, { recursive: true, force: true });
  });

  test('a Node program requires it, proposes a value and wins an election', () => {
    writeFileSync(join(app, 'app.js'), `
const { SynodClient } = require('@synod/client');
(async () => {
  const c = await SynodClient.connect({ servers: process.argv[2], cluster: process.argv[3] });
  const r = await c.propose('from an application');
  const lead = await c.elect('sdk-test', 'app-1', { ttlMs: 3000 });
  const out = { slot: r.slot, token: lead.token, held: lead.held,
    view: c.electionViewStatus().started.from };
  await lead.resign();
  await c.close();
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`);
    const out = execFileSync(process.execPath, ['app.js', cluster.natsUrl, cluster.cluster],
      { cwd: app, encoding: 'utf8', timeout: 30_000 });
    const r = JSON.parse(out.trim()) as { slot: number; token: number; held: boolean;
      view: string };
    expect(r.slot).toBeGreaterThanOrEqual(0);
    expect(r.token).toBeGreaterThan(r.slot);
    expect(r.held).toBe(true);
    expect(r.view).toBe('snapshot');
  });

  test('a TypeScript program type-checks against its declarations, and a misuse does not',
    () => {
      writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: {
        module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true,
        noEmit: true, types: ['node'] }, files: ['app.ts'] }));
      const tsc = (code: string): string => {
        writeFileSync(join(app, 'app.ts'), code);
        try {
          execFileSync(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p',
            app], { cwd: app, encoding: 'utf8', stdio: 'pipe' });
          return 'ok';
        } catch (e) {
          return String((e as { stdout?: string }).stdout ?? e);
        }
      };
      expect(tsc(`import { SynodClient, type Leadership, SynodConflictError } from '@synod/client';
export async function main(): Promise<number> {
  const c = await SynodClient.connect({ servers: 'nats://127.0.0.1:4222', cluster: 'synod' });
  const r = await c.propose('x');
  const lead: Leadership = await c.elect('g', 'me', { ttlMs: 5000 });
  const e = new SynodConflictError({ clientId: 'a', seq: 1 }, 2);
  void e;
  return r.slot + lead.token;
}
`)).toBe('ok');
      expect(tsc(`import { SynodClient } from '@synod/client';
export async function main(): Promise<string> {
  const c = await SynodClient.connect({ servers: 'nats://127.0.0.1:4222', cluster: 'synod' });
  return (await c.propose('x')).slot;
}
`)).toMatch(/error TS2322/);
    });
});
