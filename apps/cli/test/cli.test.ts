import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { decode, decodeReadRequest, encode, encodeApi, type LogEntry, logSubject, readSubject }
  from '@synod/codec';
import { silentLogger, statusSubject, type Transport } from '@synod/runtime';
import { type NatsServer, startNats } from '@synod/testing';
import { connectNats } from '@synod/transport-nats';
import { type CliIo, runCli } from '../src/cli.js';

jest.setTimeout(20_000);

const repoRoot = join(__dirname, '..', '..', '..');
let nats: NatsServer;
let services: Transport;
const enc = new TextEncoder();

beforeAll(async () => {
  nats = await startNats();
  services = await connectNats({ servers: nats.url, name: 'services', logger: silentLogger });
});
afterAll(async () => {
  await services.close();
  await nats.stop();
});

let clusterN = 0;
const fresh = (): string => `cli${process.pid}x${++clusterN}`;

/** Runs `synod` in-process; resolves with the exit code and what it printed. */
async function synod(argv: string[], signal = new AbortController().signal):
  Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (l) => out.push(l), err: (l) => err.push(l), env: {}, cwd: '/nonexistent',
    repoRoot: null, signal,
  };
  const code = await runCli(['--nats', nats.url, ...argv], io);
  return { code, out, err };
}

const entry = (slot: number, payload: string): LogEntry =>
  ({ slot, value: { kind: 'cmds', cmds: [{ clientId: 'c-1', seq: slot + 1, payload }] } });

/** A proposer that answers `chosen` with slots 0, 1, 2... (or drops everything). */
function proposer(cluster: string, drop = false): { stop(): void } {
  let slot = 0;
  const sub = services.subscribe(`synod.${cluster}.request.*`, (m) => {
    const req = decode(m.data);
    if (drop || req.type !== 'request') return;
    services.respond(m, encode({ type: 'response', from: 'p1', to: req.from,
      clientId: req.cmd.clientId, seq: req.cmd.seq, outcome: { status: 'chosen', slot: slot++ } }));
  });
  return { stop: () => sub.unsubscribe() };
}

function learner(cluster: string, log: LogEntry[]): { stop(): void } {
  const sub = services.subscribe(readSubject(cluster), (m) => {
    const r = decodeReadRequest(m.data);
    const entries = log.filter((e) => e.slot >= r.fromSlot && e.slot < r.fromSlot + r.limit);
    services.respond(m, encodeApi({ learner: 'l1', nextSlot: log.length, entries }));
  });
  return { stop: () => sub.unsubscribe() };
}

describe('synod (in-process, real NATS)', () => {
  test('propose prints the slot; --json prints one object', async () => {
    const cluster = fresh();
    const p = proposer(cluster);
    await services.flush();
    const r = await synod(['--cluster', cluster, 'propose', 'hello', 'world']);
    expect(r.code).toBe(0);
    expect(r.out).toHaveLength(1);
    expect(r.out[0]).toMatch(/^chosen slot=0 request=c-[0-9a-f]{12}#1 \(\d+\.\d ms\)$/);
    const j = await synod(['--cluster', cluster, '--json', 'propose', '--client-id', 'me', 'x']);
    expect(JSON.parse(j.out[0] ?? '')).toMatchObject({ status: 'chosen', slot: 1,
      clientId: 'me', seq: 1, requestId: 'me#1' });
    p.stop();
  });

  test('a request id chosen with another payload: exit 1, saying so and what to do', async () => {
    const cluster = fresh();
    const sub = services.subscribe(`synod.${cluster}.request.*`, (m) => {
      const req = decode(m.data);
      if (req.type !== 'request') return;
      services.respond(m, encode({ type: 'response', from: 'p1', to: req.from,
        clientId: req.cmd.clientId, seq: req.cmd.seq, outcome: { status: 'conflict', slot: 30 } }));
    });
    await services.flush();
    const r = await synod(['--cluster', cluster, 'propose', '--client-id', 'c-abc', '--seq', '1',
      'different']);
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(/c-abc#1 was already chosen at slot 30 with another payload; this one /);
    expect(r.err[0]).toContain('a new command needs a new seq');
    sub.unsubscribe();
  });

  test('no proposer: exit 3 and one line that says what to do', async () => {
    const cluster = fresh();
    const r = await synod(['--cluster', cluster, '--timeout', '300', 'propose', 'x']);
    expect(r.code).toBe(3);
    expect(r.err).toEqual([`synod: no proposer answered on ${nats.url} (cluster ${cluster}); ` +
      'nothing was proposed: is `npm start` running? (or point --nats/--cluster at your cluster)']);
  });

  test('a proposer that never answers: exit 4 with the command that retries safely', async () => {
    const cluster = fresh();
    const p = proposer(cluster, true);
    await services.flush();
    const r = await synod(['--cluster', cluster, '--timeout', '300', 'propose', '--client-id',
      'c-abc', "it's"]);
    expect(r.code).toBe(4);
    expect(r.err[0]).toContain('the value may or may not be chosen');
    expect(r.err[0]).toContain(`synod propose --client-id c-abc --seq 1 -- 'it'\\''s'`);
    const j = await synod(['--json', '--cluster', cluster, '--timeout', '300', 'propose', 'x']);
    expect(JSON.parse(j.err[0] ?? '')).toMatchObject({ error: { code: 'OUTCOME_UNKNOWN',
      exitCode: 4, retry: { seq: 1 } } });
    p.stop();
  });

  test('read one slot, a slot not decided yet, and a range', async () => {
    const cluster = fresh();
    const l = learner(cluster, [entry(0, 'a'), { slot: 1, value: { kind: 'noop' } }]);
    await services.flush();
    expect((await synod(['--cluster', cluster, 'read', '0'])).out).toEqual(['slot 0  [c-1#1] a']);
    expect((await synod(['--cluster', cluster, 'read', '7'])).out)
      .toEqual(['slot 7  (not decided yet)']);
    expect(JSON.parse((await synod(['--cluster', cluster, 'read', '7', '--json'])).out[0] ?? ''))
      .toEqual({ slot: 7, decided: false });
    expect((await synod(['--cluster', cluster, 'read', '--from', '0'])).out).toEqual([
      'slot 0  [c-1#1] a', 'slot 1  (no-op)',
      '(2 slots; learner l1 has delivered every slot below 2)',
    ]);
    const cluster2 = fresh();
    const none = await synod(['--cluster', cluster2, '--timeout', '200', 'read', '0']);
    expect(none.code).toBe(3);
    expect(none.err[0]).toBe(`synod: no learner answered on ${nats.url} (cluster ${cluster2}): ` +
      "is `npm start` running? (or point --nats/--cluster at your cluster)");
    l.stop();
  });

  test('watch streams history and live entries; an abort (Ctrl-C) exits 0', async () => {
    const cluster = fresh();
    const log = [entry(0, 'a'), entry(1, 'b')];
    const l = learner(cluster, log);
    await services.flush();
    const ac = new AbortController();
    const run = synod(['--cluster', cluster, 'watch', '--from', '1'], ac.signal);
    await new Promise((r) => setTimeout(r, 200));
    services.publish(logSubject(cluster, 'l1'), encodeApi({ learner: 'l1',
      entries: [entry(2, 'c')] }));
    await new Promise((r) => setTimeout(r, 200));
    ac.abort();
    const r = await run;
    expect(r).toEqual({ code: 0, out: ['slot 1  [c-1#2] b', 'slot 2  [c-1#3] c'], err: [] });
    l.stop();
  });

  test('status: a table and a summary; nobody answering is exit 3', async () => {
    const cluster = fresh();
    const docs = [
      { role: 'proposer', id: 'p1', state: 'leader', leader: null, firstUnknown: 5,
        pending: 0, inflight: 0, ballot: { round: 1, proposer: 'p1', incarnation: 2 } },
      { role: 'acceptor', id: 'a1', voting: true, acceptedSlots: 5,
        promised: { round: 1, proposer: 'p1', incarnation: 2 } },
      { role: 'learner', id: 'l1', nextSlot: 5, highestKnown: 4 },
    ];
    const subs = docs.map((d) => services.subscribe(statusSubject(cluster),
      (m) => services.respond(m, enc.encode(JSON.stringify(d)))));
    await services.flush();
    const r = await synod(['--cluster', cluster, 'status', '--wait', '200']);
    expect(r.code).toBe(0);
    expect(r.out.at(-1))
      .toBe('leader p1 · acceptors answering 1 (1 voting) · last chosen slot 4');
    expect(r.out[0]).toMatch(/^ROLE +ID +STATE +BALLOT +SLOTS$/);
    const j = await synod(['--cluster', cluster, 'status', '--wait', '200', '--json']);
    expect(JSON.parse(j.out[0] ?? '')).toMatchObject({ leader: 'p1', lastChosenSlot: 4 });
    const none = await synod(['--cluster', fresh(), 'status', '--wait', '100']);
    expect(none.code).toBe(3);
    for (const s of subs) s.unsubscribe();
  });
});

/** Runs apps/cli/bin/synod.js as a process. */
function spawnSynod(args: string[], opts: { sigintAfterMs?: number } = {}):
  Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'apps/cli/bin/synod.js'), ...args],
      { cwd: repoRoot, env: { ...process.env, NATS_URL: '', SYNOD_CLUSTER: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    if (opts.sigintAfterMs !== undefined) {
      setTimeout(() => child.kill('SIGINT'), opts.sigintAfterMs);
    }
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('bin/synod.js (a real process)', () => {
  test('--help and <command> --help explain every command; exit 0', async () => {
    const r = await spawnSynod(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['propose', 'read', 'watch', 'status', '--nats', '--cluster', '--timeout',
      '--json', 'exit codes']) {
      expect(r.stdout).toContain(c);
    }
    const p = await spawnSynod(['propose', '--help']);
    expect(p.stdout).toContain('--client-id');
    expect(p.stdout).toContain('--seq');
  });

  test('a usage error: exit 2', async () => {
    const r = await spawnSynod(['read', 'x']);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toBe("synod: slot must be an integer >= 0, got 'x' (see synod read --help)\n");
  });

  test('watch: Ctrl-C exits 0', async () => {
    const cluster = fresh();
    const l = learner(cluster, [entry(0, 'first')]);
    await services.flush();
    const r = await spawnSynod(['watch', '--nats', nats.url, '--cluster', cluster],
      { sigintAfterMs: 1500 });
    expect(r).toEqual({ code: 0, stdout: 'slot 0  [c-1#1] first\n', stderr: '' });
    l.stop();
  });
});
