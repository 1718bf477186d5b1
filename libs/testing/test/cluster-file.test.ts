import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runningLocalCluster } from '../src/cluster-file.js';

/** What the demos attach to: the cluster of SYNOD_DATA_DIR when set, as the CLI does. */
describe('runningLocalCluster', () => {
  let root: string;
  let nats: Server;
  let url: string;
  beforeAll(async () => {
    // Enough of a NATS for the probe: it greets with INFO.
    nats = createServer((s) => s.end('INFO {}\r\n'));
    await new Promise<void>((r) => nats.listen(0, '127.0.0.1', r));
    const addr = nats.address();
    url = `nats://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
  });
  afterAll(() => new Promise<void>((r) => nats.close(() => r())));
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'synod-cf-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const describeIn = (dir: string, natsUrl: string, cluster: string): string => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'cluster.json'), JSON.stringify({ natsUrl, cluster }));
    return join(dir, 'cluster.json');
  };

  test('SYNOD_DATA_DIR wins over <root>/.synod', async () => {
    describeIn(join(root, '.synod'), url, 'default');
    const file = describeIn(join(root, 'other'), url, 'other');
    expect(await runningLocalCluster(root, { SYNOD_DATA_DIR: join(root, 'other') }))
      .toEqual({ file, natsUrl: url, cluster: 'other' });
    expect(await runningLocalCluster(root, {}))
      .toMatchObject({ file: join(root, '.synod', 'cluster.json'), cluster: 'default' });
  });

  test('none: null; with SYNOD_DATA_DIR, refused, naming the variable and the fix', async () => {
    expect(await runningLocalCluster(root, {})).toBeNull();
    expect(await runningLocalCluster(root, { SYNOD_DATA_DIR: '' })).toBeNull();
    await expect(runningLocalCluster(root, { SYNOD_DATA_DIR: join(root, 'nope') })).rejects
      .toThrow(/^SYNOD_DATA_DIR=.*nope: no cluster of npm start runs there .*does not exist\)/);
    describeIn(join(root, 'dead'), 'nats://127.0.0.1:1', 'synod');
    await expect(runningLocalCluster(root, { SYNOD_DATA_DIR: join(root, 'dead') })).rejects
      .toThrow(/names a NATS that does not answer\). Start it \(npm start -- --data-dir /);
  });
});
