import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { summarizeStatus } from '@synod/client';
import { parseCommandLine, UsageError } from '../src/args.js';
import { runCli } from '../src/cli.js';
import { planCommand } from '../src/commands.js';
import { findRepoRoot, readClusterFile, resolveSettings } from '../src/config.js';
import { entryLines, shellQuote, statusJson, statusLines } from '../src/format.js';

describe('command line', () => {
  test('global options go before or after the command; the value is every positional', () => {
    expect(parseCommandLine(['--json', 'propose', 'SET', 'x', '1', '--cluster', 'prod']))
      .toMatchObject({ command: 'propose', args: ['SET', 'x', '1'], json: true, cluster: 'prod' });
    expect(parseCommandLine(['propose', '--', '-1', '--json'])).toMatchObject({
      command: 'propose', args: ['-1', '--json'], json: false,
    });
    expect(parseCommandLine(['read', '--from', '10', '--limit', '5', '--timeout', '200']))
      .toMatchObject({ command: 'read', from: 10, limit: 5, timeoutMs: 200 });
    expect(parseCommandLine(['propose', 'x', '--client-id', 'c-1', '--seq', '1']))
      .toMatchObject({ clientId: 'c-1', seq: 1 });
    expect(parseCommandLine([])).toMatchObject({ command: null, help: false });
    expect(parseCommandLine(['status', '-h'])).toMatchObject({ command: 'status', help: true });
  });

  test.each([
    [['frob'], /unknown command 'frob'/],
    [['propose', 'x', '--bogus'], /--bogus/],
    [['read', '1', '--wait', '3'], /--wait does not apply to 'read'/],
    [['watch', '--from', '-1'], /--from/],
    // Seqs start at 1: seq 0 counts as already seen when the log is applied.
    [['propose', 'x', '--client-id', 'c-1', '--seq', '0'], /--seq must be an integer >= 1/],
    [['watch', '--from', '1.5'], /--from must be an integer/],
    [['status', '--timeout', '0'], /--timeout must be an integer >= 1/],
    [['propose', 'x', '--client-id', 'no spaces'], /--client-id/],
    [['read', '--limit'], /--limit/],
    // Negative numbers: the CLI's own range message, never Node's "argument is ambiguous".
    [['read', '--from', '0', '--limit', '-3'], "--limit must be an integer 1..1000, got '-3'"],
    [['read', '--from', '0', '--limit', '1001'], "--limit must be an integer 1..1000, got '1001'"],
    [['propose', 'x', '--seq', '-1'], "--seq must be an integer >= 1, got '-1'"],
    [['read', '--from', '-1'], "--from must be an integer >= 0, got '-1'"],
    [['status', '--timeout', '-5'], "--timeout must be an integer >= 1, got '-5'"],
    [['--timeout', '-5', 'status'], "--timeout must be an integer >= 1, got '-5'"],
    [['status', '--wait', '-0.5'], "--wait must be an integer >= 1, got '-0.5'"],
    // The real range of a lease, whatever is wrong with it.
    [['elect', 'g', '--ttl', 'abc'], "--ttl must be an integer 100..86400000, got 'abc'"],
    [['elect', 'g', '--ttl', '50'], "--ttl must be an integer 100..86400000, got '50'"],
    [['elect', 'g', '--ttl', '86400001'], /--ttl must be an integer 100\.\.86400000/],
    // Election commands always use a fresh random client id (docs/election.md).
    [['elect', 'g', '--as', 'x', '--client-id', 'c-1'],
      /--client-id does not apply to 'elect': election commands travel under a fresh random/],
    // A client id is a request's sender token: at most maxNodeIdLength (64).
    [['propose', 'x', '--client-id', 'c'.repeat(65)], /--client-id must be 1 to 64 characters/],
  ])('usage error: %j', (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(UsageError);
    expect(() => parseCommandLine(argv)).toThrow(message);
  });

  test('a word that looks like a negative number is an argument, not an unknown option', () => {
    expect(parseCommandLine(['read', '-1'])).toMatchObject({ command: 'read', args: ['-1'] });
    expect(() => planCommand(parseCommandLine(['read', '-1'])))
      .toThrow("slot must be an integer >= 0, got '-1'");
    expect(() => planCommand(parseCommandLine(['read', '--', '-1'])))
      .toThrow("slot must be an integer >= 0, got '-1'");
    expect(parseCommandLine(['propose', 'x', '-1', '--json', '-2.5'])).toMatchObject({
      command: 'propose', args: ['x', '-1', '-2.5'], json: true,
    });
    expect(parseCommandLine(['propose', '--', '-1', '--limit', '-3']))
      .toMatchObject({ args: ['-1', '--limit', '-3'] });
    expect(parseCommandLine(['propose', 'x', '--client-id', 'c'.repeat(64)]))
      .toMatchObject({ clientId: 'c'.repeat(64) });
    expect(parseCommandLine(['elect', 'g', '--ttl', '100'])).toMatchObject({ ttlMs: 100 });
  });
});

describe('settings', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'synod-cli-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const cl = (argv: string[]) => parseCommandLine(['status', ...argv]);

  test('option, then environment, then .synod/cluster.json, then the default', () => {
    mkdirSync(join(dir, '.synod'));
    writeFileSync(join(dir, '.synod', 'cluster.json'), JSON.stringify({
      natsUrl: 'nats://127.0.0.1:5555', cluster: 'local',
      services: [{ role: 'acceptor' }, { role: 'acceptor' }, { role: 'proposer' }],
    }));
    const file = readClusterFile(dir, null);
    expect(file)
      .toMatchObject({ natsUrl: 'nats://127.0.0.1:5555', cluster: 'local', acceptors: 2 });
    expect(resolveSettings(cl([]), {}, file)).toEqual({
      natsUrl: 'nats://127.0.0.1:5555', cluster: 'local', timeoutMs: 5000, expectedAcceptors: 2,
    });
    expect(resolveSettings(cl([]), { NATS_URL: 'nats://h:1', SYNOD_CLUSTER: 'e' }, file))
      .toMatchObject({ natsUrl: 'nats://h:1', cluster: 'e' });
    expect(resolveSettings(cl(['--nats', 'nats://o:2', '--cluster', 'o']),
      { NATS_URL: 'nats://h:1', SYNOD_CLUSTER: 'e' }, file))
      .toEqual({ natsUrl: 'nats://o:2', cluster: 'o', timeoutMs: 5000 });
    expect(resolveSettings(cl([]), { NATS_USER: 'u', NATS_PASSWORD: 'p' }, null)).toEqual({
      natsUrl: 'nats://127.0.0.1:4222', cluster: 'synod', timeoutMs: 5000, user: 'u', pass: 'p',
    });
  });

  test('a SYNOD_DATA_DIR without cluster.json is a usage error, unless NATS is given', () => {
    const env = { SYNOD_DATA_DIR: join(dir, 'typo') };
    const file = readClusterFile(dir, null, env.SYNOD_DATA_DIR);
    expect(file).toBeNull();
    expect(() => resolveSettings(cl([]), env, file))
      .toThrow(/SYNOD_DATA_DIR=.*typo holds no cluster.json: is `npm start -- --data-dir/);
    expect(resolveSettings(cl([]), { ...env, NATS_URL: 'nats://h:1' }, file))
      .toMatchObject({ natsUrl: 'nats://h:1' });
    expect(resolveSettings(cl(['--nats', 'nats://o:2']), env, file))
      .toMatchObject({ natsUrl: 'nats://o:2' });
  });

  test('the repository root is searched after the current directory', () => {
    mkdirSync(join(dir, 'repo', '.synod'), { recursive: true });
    mkdirSync(join(dir, 'repo', 'apps', 'cli'), { recursive: true });
    writeFileSync(join(dir, 'repo', 'package.json'), '{"name":"synod"}');
    writeFileSync(join(dir, 'repo', '.synod', 'cluster.json'), '{"natsUrl":"nats://r:1"}');
    const root = findRepoRoot(join(dir, 'repo', 'apps', 'cli'));
    expect(root).toBe(join(dir, 'repo'));
    expect(readClusterFile(dir, root)).toMatchObject({ natsUrl: 'nats://r:1' });
    expect(readClusterFile(dir, null)).toBeNull();
  });

  test('SYNOD_DATA_DIR (npm start --data-dir) names the one cluster.json to read', () => {
    mkdirSync(join(dir, '.synod'));
    writeFileSync(join(dir, '.synod', 'cluster.json'), '{"natsUrl":"nats://default:1"}');
    mkdirSync(join(dir, 'elsewhere'));
    writeFileSync(join(dir, 'elsewhere', 'cluster.json'), '{"natsUrl":"nats://else:2"}');
    expect(readClusterFile(dir, null, join(dir, 'elsewhere')))
      .toMatchObject({ natsUrl: 'nats://else:2' });
    expect(readClusterFile(dir, null, join(dir, 'missing'))).toBeNull();
    expect(readClusterFile(dir, null, '')).toMatchObject({ natsUrl: 'nats://default:1' });
  });

  test.each([
    ['{garbage', /cluster.json is not readable JSON \(.+\): it is what a running `npm start`/],
    ['[1]', /cluster.json is not a JSON object/],
    ['{"natsUrl": 5}', /cluster.json has "natsUrl" 5, not a NATS URL/],
    ['{"natsUrl": ""}', /cluster.json has "natsUrl" "", not a NATS URL/],
    ['{"cluster": ["x"]}', /cluster.json has "cluster" \["x"\], not a cluster name/],
    ['{"services": {}}', /cluster.json has "services" that is not a list/],
    ['{"traces": {"file": 1}}', /cluster.json has "traces" without a string "file"/],
  ])('a cluster.json that exists but is malformed is a usage error naming it: %s',
    (text, message) => {
      mkdirSync(join(dir, '.synod'));
      writeFileSync(join(dir, '.synod', 'cluster.json'), text);
      // Never skipped for the next candidate (the repository root's) or the defaults.
      mkdirSync(join(dir, 'repo', '.synod'), { recursive: true });
      writeFileSync(join(dir, 'repo', '.synod', 'cluster.json'), '{"natsUrl":"nats://r:1"}');
      for (const read of [() => readClusterFile(dir, join(dir, 'repo')),
        () => readClusterFile('/nonexistent', null, join(dir, '.synod'))]) {
        expect(read).toThrow(UsageError);
        expect(read).toThrow(message);
        expect(read).toThrow(join(dir, '.synod', 'cluster.json'));
      }
    });

  test('synod status, SYNOD_DATA_DIR at a malformed cluster.json: exit 2, naming it', async () => {
    writeFileSync(join(dir, 'cluster.json'), '{garbage');
    const err: string[] = [];
    let connected = false;
    const code = await runCli(['status'], {
      out: () => undefined, err: (l) => err.push(l), env: { SYNOD_DATA_DIR: dir }, cwd: dir,
      repoRoot: null, signal: new AbortController().signal,
      connect: () => {
        connected = true;
        throw new Error('must not connect');
      },
    });
    expect({ code, connected }).toEqual({ code: 2, connected: false });
    expect(err.join('\n')).toMatch(/^synod: .*cluster.json is not readable JSON/);
    expect(err.join('\n')).not.toMatch(/holds no cluster.json/);
  });

  test('a natsUrl from cluster.json that is no NATS URL names the file', () => {
    mkdirSync(join(dir, '.synod'));
    writeFileSync(join(dir, '.synod', 'cluster.json'), '{"natsUrl":"http://x"}');
    const file = readClusterFile(dir, null);
    expect(() => resolveSettings(cl([]), {}, file))
      .toThrow(`not a NATS URL in ${join(dir, '.synod', 'cluster.json')}: 'http://x'`);
    expect(resolveSettings(cl(['--nats', 'nats://o:2']), {}, file))
      .toMatchObject({ natsUrl: 'nats://o:2' });
  });

  test('a bad cluster name or URL is a usage error', () => {
    expect(() => resolveSettings(cl(['--cluster', 'a.b']), {}, null)).toThrow(UsageError);
    expect(() => resolveSettings(cl(['--nats', 'http://x']), {}, null)).toThrow(UsageError);
  });
});

describe('formatting', () => {
  test('one line per command; no-ops and duplicates are marked; control characters quoted',
    () => {
      expect(entryLines({ slot: 3, value: { kind: 'noop' } })).toEqual(['slot 3  (no-op)']);
      expect(entryLines({
        slot: 12, dups: [1], value: { kind: 'cmds', cmds: [
          { clientId: 'c-1', seq: 1, payload: 'hello world' },
          { clientId: 'c-2', seq: 9, payload: 'two\nlines' },
        ] },
      })).toEqual([
        'slot 12  [c-1#1] hello world',
        'slot 12  [c-2#9] "two\\nlines"  (duplicate of an earlier slot: skipped)',
      ]);
    });

  test('status: a table, then the summary line', () => {
    const st = summarizeStatus([
      { role: 'learner', id: 'l1', nextSlot: 42, highestKnown: 41 },
      { role: 'acceptor', id: 'a1', voting: true, promised: { round: 3, proposer: 'p1',
        incarnation: 9 }, acceptedSlots: 42 },
      { role: 'acceptor', id: 'a2', voting: true, promised: { round: 3, proposer: 'p1',
        incarnation: 9 }, acceptedSlots: 12, floor: 30 },
      { role: 'proposer', id: 'p1', state: 'leader', leader: null, firstUnknown: 42, pending: 0,
        inflight: 0, ballot: { round: 3, proposer: 'p1', incarnation: 9 }, compactBelow: 30 },
    ]);
    expect(statusLines(st, 3)).toEqual([
      'ROLE      ID  STATE     BALLOT  SLOTS',
      'proposer  p1  leader    3.p1.9  first unknown 42, pending 0, in flight 0, compacts below 30',
      'acceptor  a1  voting    3.p1.9  accepted 42',
      'acceptor  a2  voting    3.p1.9  accepted 12, floor 30',
      'learner   l1  learning  -       next 42, highest known 41',
      '',
      'leader p1 · acceptors answering 2/3 (2 voting) · last chosen slot 41',
    ]);
  });

  test('a non-voting acceptor: a short state in the table, its whole reason under it', () => {
    const why = `AMNESIA: acceptor a2's Redis at redis://127.0.0.1:6380 holds no marker ${
      'x'.repeat(300)}: readmit it (docs/operations.md#readmit)`;
    const st = summarizeStatus([
      { role: 'acceptor', id: 'a1', voting: true, acceptedSlots: 4,
        promised: { round: 3, proposer: 'p1', incarnation: 9 } },
      { role: 'acceptor', id: 'a2', voting: false, refusal: why, acceptedSlots: 0 },
      { role: 'acceptor', id: 'a3', voting: false, acceptedSlots: 0 },
    ]);
    const lines = statusLines(st, 3);
    expect(lines.slice(0, 4)).toEqual([
      'ROLE      ID  STATE                 BALLOT  SLOTS',
      'acceptor  a1  voting                3.p1.9  accepted 4',
      'acceptor  a2  NOT VOTING (AMNESIA)  -       accepted 0',
      'acceptor  a3  NOT VOTING            -       accepted 0',
    ]);
    expect(lines.slice(4, -1)).toEqual(['', `a2 does not vote: ${why}`, '']);
  });

  test('status: two processes answering as one id are warned about, in text and JSON', () => {
    const a1 = { role: 'acceptor' as const, id: 'a1', voting: true, acceptedSlots: 4 };
    const st = summarizeStatus([a1, a1, { role: 'learner', id: 'l1', nextSlot: 5 }]);
    expect(statusLines(st)).toContain('WARNING: more than one process answers as acceptor a1: ' +
      'node ids must be unique in a cluster (two clusters of one name on one NATS?); the ' +
      'table shows one');
    expect(JSON.parse(statusJson(st))).toMatchObject({ duplicates: ['acceptor/a1'] });
    expect(JSON.parse(statusJson(summarizeStatus([a1]))).duplicates).toBeUndefined();
  });

  test('status summary: a learner behind, or none answering, is said', () => {
    const p1 = { role: 'proposer' as const, id: 'p1', state: 'leader', firstUnknown: 54,
      ballot: { round: 3, proposer: 'p1', incarnation: 9 } };
    const last = (st: ReturnType<typeof summarizeStatus>): string =>
      statusLines(st).at(-1) ?? '';
    expect(last(summarizeStatus([p1, { role: 'learner', id: 'l1', nextSlot: 51 }])))
      .toBe('leader p1 · acceptors answering 0 (0 voting) · last chosen slot 53 · ' +
        'learners have up to 50');
    expect(last(summarizeStatus([p1])))
      .toBe('leader p1 · acceptors answering 0 (0 voting) · last chosen slot 53 · ' +
        'no learner answered');
  });

  test('status: a learner whose Redis is filling says so', () => {
    const learner = (storage: object): string[] => statusLines(summarizeStatus([
      { role: 'learner', id: 'l1', nextSlot: 42, highestKnown: 41, storage },
    ])).slice(0, 2);
    expect(learner({ level: 'unbounded', usedBytes: 5e6, maxBytes: 0 })[1])
      .toBe('learner  l1  learning  -       next 42, highest known 41');
    expect(learner({ level: 'ok', usedShare: 0.42 })[1])
      .toBe('learner  l1  learning  -       next 42, highest known 41, store 42% of maxmemory');
    expect(learner({ level: 'warn', usedShare: 0.853 })[1])
      .toBe('learner  l1  learning, store 85% full  -       next 42, highest known 41, ' +
        'store 85% of maxmemory');
    expect(learner({ level: 'critical', usedShare: 0.97 })[1])
      .toBe('learner  l1  learning, STORE 97% FULL  -       next 42, highest known 41, ' +
        'store 97% of maxmemory');
  });

  test('shell quoting of a retry command', () => {
    expect(shellQuote('hello')).toBe('hello');
    expect(shellQuote("it's a b")).toBe(`'it'\\''s a b'`);
  });
});
