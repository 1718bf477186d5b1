import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoredSpan } from '@synod/telemetry';
import { type CliIo, runCli } from '../src/cli.js';

const T = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const base = 1_700_000_000_000_000_000n;
/** A span at `fromUs`..`toUs` microseconds after an arbitrary origin. */
function span(id: string, parent: string | null, name: string, node: string, service: string,
  fromUs: number, toUs: number, extra: Partial<StoredSpan> = {}): StoredSpan {
  const at = (us: number): string => (base + BigInt(Math.round(us * 1000))).toString();
  return {
    traceId: T, spanId: id.padStart(16, '0'), parentSpanId: parent === null ? null
      : parent.padStart(16, '0'), name, kind: 'internal', start: at(fromUs), end: at(toUs),
    service, node, attributes: { 'synod.node_id': node }, events: [], links: [],
    status: { code: 'unset' }, ...extra,
  };
}

/** One round of slot 4, as the services would have exported it. */
function roundSpans(): StoredSpan[] {
  const ev = (name: string, us: number, attrs: Record<string, string> = {}) =>
    ({ name, time: (base + BigInt(us * 1000)).toString(), attributes: attrs });
  return [
    span('1', null, 'synod.propose', 'c-1', 'synod-cli', 0, 2000, { kind: 'client',
      attributes: { 'synod.node_id': 'c-1', 'synod.request_id': 'c-1#1', 'synod.role': 'client',
        'synod.outcome': 'chosen', 'synod.slot': 4 } }),
    span('2', '1', 'proposer.request', 'p1', 'synod-proposer', 100, 1900, { kind: 'server',
      attributes: { 'synod.node_id': 'p1', 'synod.role': 'proposer', 'synod.request_id': 'c-1#1',
        'synod.peer': 'c-1' } }),
    span('3', '2', 'proposer.round', 'p1', 'synod-proposer', 200, 1500, {
      attributes: { 'synod.node_id': 'p1', 'synod.role': 'proposer', 'synod.slot': 4,
        'synod.ballot': '2.p1.9', 'synod.outcome': 'chosen', 'synod.batch_size': 1 },
      events: [ev('message.received', 1100, { 'synod.message.type': 'accepted',
        'synod.peer': 'a1' }), ev('message.received', 1400, { 'synod.message.type': 'accepted',
        'synod.peer': 'a2' }), ev('quorum', 1410)] }),
    span('4', '3', 'publish accept', 'p1', 'synod-proposer', 250, 260, { kind: 'producer',
      attributes: { 'synod.node_id': 'p1', 'synod.message.type': 'accept' } }),
    span('5', '4', 'acceptor.accept', 'a1', 'synod-acceptor', 400, 1000, { kind: 'consumer',
      attributes: { 'synod.node_id': 'a1', 'synod.role': 'acceptor', 'synod.peer': 'p1',
        'synod.message.type': 'accept', 'synod.outcome': 'accepted', 'synod.slot': 4 } }),
    span('6', '5', 'redis.persist', 'a1', 'synod-acceptor', 420, 900, { kind: 'client' }),
    span('7', '5', 'publish accepted', 'a1', 'synod-acceptor', 950, 960, { kind: 'producer',
      attributes: { 'synod.node_id': 'a1', 'synod.message.type': 'accepted' } }),
    span('8', '2', 'publish response', 'p1', 'synod-proposer', 1800, 1810, { kind: 'producer',
      attributes: { 'synod.node_id': 'p1', 'synod.message.type': 'response' } }),
  ];
}

describe('synod trace', () => {
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'synod-trace-'));
    file = join(dir, 'spans.ndjson');
    writeFileSync(file, roundSpans().map((s) => JSON.stringify(s)).join('\n') + '\n{"partial');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function synod(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), env: {},
      cwd: '/nonexistent', repoRoot: null, signal: new AbortController().signal };
    return { code: await runCli(argv, io), out, err };
  }

  test('by request id: lanes per service, offsets in ms, the quorum marked; no NATS needed',
    async () => {
      const r = await synod(['trace', 'c-1#1', '--file', file, '--wait', '1']);
      expect(r.code).toBe(0);
      const text = r.out.join('\n');
      expect(r.out[0]).toBe('round of slot 4 at ballot 2.p1.9: chosen · c-1#1');
      expect(text).toContain('quorum at +1.410 ms');
      expect(text).toMatch(/\nc-1 +>\.+<\n/);
      expect(text).toContain('     +0.420 ms  # redis write 0.480 ms .. +0.900');
      expect(text).toContain('     +0.950 ms  > accepted');
      expect(text).toContain('     +1.410 ms  * QUORUM: slot 4 chosen  <== quorum');
      expect(r.out.filter((l) => /^(c-1|p1|a1) \(/.test(l))).toEqual([
        'c-1 (synod-cli)', 'p1 (synod-proposer)', 'a1 (synod-acceptor)']);
    });

  test('by slot, the latest, and as JSON', async () => {
    const bySlot = await synod(['trace', '4', '--file', file, '--wait', '1']);
    expect(bySlot.code).toBe(0);
    const latest = await synod(['trace', '--file', file, '--wait', '1', '--json']);
    const view = JSON.parse(latest.out[0] ?? '') as { slot: number; lanes: { id: string }[] };
    expect(view.slot).toBe(4);
    expect(view.lanes.map((l) => l.id)).toEqual(['c-1', 'p1', 'a1']);
  });

  test('no such round, no span file, bad arguments', async () => {
    const none = await synod(['trace', 'c-9#9', '--file', file, '--wait', '1']);
    expect(none.code).toBe(1);
    expect(none.err[0]).toContain('no round of request c-9#9');
    const missing = await synod(['trace', '1']);
    expect(missing.code).toBe(3);
    expect(missing.err[0]).toContain('npm start');
    // A --file that does not exist is "no span file" too, as the help says.
    const gone = await synod(['trace', '1', '--file', `${file}.missing`, '--wait', '1']);
    expect(gone.code).toBe(3);
    expect(gone.err[0]).toContain('(the file does not exist)');
    const bad = await synod(['trace', 'not-an-id']);
    expect(bad.code).toBe(2);
    expect(bad.err[0]).toContain('neither a request id');
    expect((await synod(['trace', '--help'])).out[0]).toMatch(/^usage: synod trace/);
  });
});
