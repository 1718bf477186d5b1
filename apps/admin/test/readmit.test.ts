import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalData, readLocalData, UsageError } from '../src/local.js';
import { planReadmit } from '../src/readmit.js';

jest.setTimeout(60_000);

const repoRoot = join(__dirname, '..', '..', '..');
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'synod-admin-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A data directory as `npm start` leaves it: its shape, and cluster.json while it runs. */
function dataDir(acceptors: number, running: boolean, cluster = 'synod'): string {
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(join(dir, 'data', 'synod-data.json'), JSON.stringify({ cluster, acceptors }));
  if (running) {
    const services = Array.from({ length: acceptors }, (_, i) =>
      ({ id: `a${i + 1}`, role: 'acceptor', redis: `redis://127.0.0.1:${7001 + i}` }));
    writeFileSync(join(dir, 'cluster.json'), JSON.stringify({
      cluster, natsUrl: 'nats://127.0.0.1:4222',
      services: [...services, { id: 'p1', role: 'proposer', redis: null }],
    }));
  }
  return dir;
}

const local = (): LocalData | null => readLocalData({ SYNOD_DATA_DIR: dir }, dir, dir);
const plan = (argv: string[], l = local()) => planReadmit(['--acceptor', 'a2', ...argv], {}, l);
const ONE_PEER = ['--redis', 'redis://h:2', '--peer', 'a1=redis://h:1'];
/** The same, with the URLs of the local data directory's acceptors (see dataDir). */
const ONE_LOCAL_PEER = ['--redis', 'redis://127.0.0.1:7002', '--peer', 'a1=redis://127.0.0.1:7001'];

describe('readmit refuses a peer set that is not a majority of the whole cluster', () => {
  test('the QA case: --acceptors 1 and one peer, on a 3-acceptor data directory', () => {
    dataDir(3, true);
    expect(() => plan(['--acceptors', '1', ...ONE_LOCAL_PEER]))
      .toThrow(/--acceptors 1, but .*synod-data.json records 3 acceptors for cluster 'synod'/);
    expect(() => plan(['--acceptors', '1', ...ONE_PEER]))
      .toThrow(/--acceptors 1 is fewer than the 2 acceptors named/);
  });

  test('URLs of another cluster of the same name: the local count is not used, --acceptors ' +
    'is required and taken as given', () => {
    dataDir(3, true);
    const others = ['--redis', 'redis://prod-a2:6379', '--peer', 'a1=redis://prod-a1:6379',
      '--peer', 'a3=redis://prod-a3:6379'];
    expect(() => plan(others)).toThrow(/the Redis URLs given are not those of the local npm /);
    // A 5-acceptor cluster: two peers are not a majority of the other four...
    expect(() => plan(['--acceptors', '5', ...others])).toThrow(/needs the state of 3 other/);
    // ...three are.
    expect(plan(['--acceptors', '5', ...others, '--peer', 'a4=redis://prod-a4:6379']))
      .toMatchObject({ acceptors: 5, sizeFrom: '--acceptors' });
  });

  test('--acceptors below the acceptors named is refused, with no data directory', () => {
    expect(() => plan(['--acceptors', '1', ...ONE_PEER], null))
      .toThrow(/--acceptors 1 is fewer than the 2 acceptors named \(a2 and a1\)/);
  });

  test('a size that disagrees with cluster.json (no shape file) is refused naming both', () => {
    dataDir(3, true);
    rmSync(join(dir, 'data'), { recursive: true });
    expect(() => plan(['--acceptors', '5', ...ONE_LOCAL_PEER]))
      .toThrow(/--acceptors 5, but .*cluster.json records 3 acceptors.*Give --acceptors 3/);
  });

  test('explicit peers with no recorded size need --acceptors: the peers cannot tell it', () => {
    expect(() => plan(ONE_PEER, null)).toThrow(/give --acceptors N, the size of the whole/);
  });

  test('fewer peers than a majority of the others is refused before anything is read', () => {
    dataDir(3, false);
    expect(() => plan(['--acceptors', '3', ...ONE_PEER])).toThrow(new UsageError(
      'readmitting a2 needs the state of 2 ' +
      'other acceptors (a majority of 3), but only a1 is given: give --peer ID=URL for each ' +
      'other acceptor'));
  });

  test('a peer given twice cannot count twice', () => {
    expect(() => plan(['--acceptors', '3', ...ONE_PEER, '--peer', 'a1=redis://h:9'], null))
      .toThrow(/peer a1 is given twice/);
  });

  test('--joining (growing the set): --acceptors is the set it joins, every member a peer', () => {
    const peers = ['a1', 'a2', 'a3'].flatMap((p, i) => ['--peer', `${p}=redis://h:${i + 1}`]);
    const grow = (argv: string[]) =>
      planReadmit(['--acceptor', 'a4', '--redis', 'redis://h:4', ...argv], {}, null);
    expect(grow(['--joining', '--acceptors', '3', ...peers]))
      .toMatchObject({ acceptors: 3, joining: true,
        peers: [{ id: 'a1' }, { id: 'a2' }, { id: 'a3' }] });
    expect(() => grow(['--acceptors', '3', ...peers])).toThrow(/fewer than the 4 acceptors named/);
    expect(() => grow(['--joining', '--acceptors', '3', ...peers.slice(0, 4)]))
      .toThrow(/joins a set of --acceptors 3, but 2 --peer are given/);
  });

  test('the local cluster of another name does not speak for --cluster', () => {
    dataDir(3, true);
    expect(plan(['--cluster', 'prod', '--acceptors', '5', ...ONE_PEER, '--peer', 'a3=redis://h:3',
      '--peer', 'a4=redis://h:4'])).toMatchObject({ cluster: 'prod', acceptors: 5 });
  });

  test('from a running npm start: every URL and the size from the data directory', () => {
    dataDir(3, true);
    expect(plan([])).toEqual({
      cluster: 'synod', acceptors: 3, target: { id: 'a2', url: 'redis://127.0.0.1:7002' },
      peers: [{ id: 'a1', url: 'redis://127.0.0.1:7001' },
        { id: 'a3', url: 'redis://127.0.0.1:7003' }],
      sizeFrom: join(dir, 'data', 'synod-data.json'),
    });
    expect(plan(['--acceptors', '3'])).toMatchObject({ acceptors: 3, sizeFrom: '--acceptors' });
  });

  test.each([
    [['--acceptors', '0'], /--acceptors must be an integer >= 1 .*got '0'/],
    [['--acceptors', 'x'], /--acceptors must be an integer >= 1 .*got 'x'/],
    [['--peer', 'a1'], /--peer wants ID=URL, got 'a1'/],
    [['--bogus'], /Unknown option '--bogus'/],
  ])('usage error %j', (argv, message) => {
    expect(() => plan([...argv, '--redis', 'redis://h:2'], null)).toThrow(message);
  });
});

describe('a malformed data directory is an error naming the file, never skipped', () => {
  test.each([
    ['cluster.json', '{garbage', /cluster.json is not readable JSON/],
    ['cluster.json', '[]', /cluster.json is not a JSON object/],
    ['cluster.json', '{"cluster":"synod","services":5}', /"services" must be an array/],
    ['cluster.json', '{"cluster":"synod","services":[{"id":"a1"}]}', /services\[0\] must have/],
    ['data/synod-data.json', '{"cluster":"synod","acceptors":"3"}', /"acceptors" an integer/],
  ])('%s: %s', (file, text, message) => {
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, file), text);
    expect(local).toThrow(UsageError);
    expect(local).toThrow(message);
  });
});

/** Runs `npm run admin --` as a process (through tools/run.mjs). */
function admin(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'tools/run.mjs'), 'admin', ...args], {
      cwd: dir, env: { ...process.env, SYNOD_DATA_DIR: dir, SYNOD_RUN_QUIET: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run admin (a real process): usage errors exit 2 and print nothing else', () => {
  test.each([
    [[], /Usage:\n  npm run admin -- readmit --acceptor ID .*\[--acceptors N\]/],
    [['readmit', '--redis', 'redis://h:1'], /readmit needs --acceptor ID/],
    [['readmit', '--acceptor', 'a2', '--acceptors', '0'], /--acceptors must be an integer >= 1/],
    [['readmit', '--acceptor', 'a2', '--acceptors', '1', ...ONE_PEER],
      /--acceptors 1 is fewer than the 2 acceptors named/],
  ])('%j', async (args, message) => {
    dataDir(3, false);
    const r = await admin(args);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toMatch(message);
    expect(r.stdout).not.toContain('readmitting');
  });
});
