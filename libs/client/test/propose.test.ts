import { DecodeError } from '@synod/codec';
import type { Transport } from '@synod/runtime';
import {
  SynodAbortedError,
  SynodClient,
  SynodOutcomeUnknownError,
  SynodOverloadedError,
  SynodUnavailableError,
} from '../src/index.js';
import { Bus, freshCluster, scriptedProposer } from './bus.js';

jest.setTimeout(15_000);

let bus: Bus;
let proposerBus: Transport;
let clientBus: Transport;

beforeAll(async () => {
  bus = await Bus.start();
  proposerBus = await bus.connect('proposer');
  clientBus = await bus.connect('client');
});
afterAll(async () => {
  await bus.stop();
});

function client(cluster: string, opts: { clientId?: string } = {}): SynodClient {
  return new SynodClient(clientBus, { cluster, timeoutMs: 3000, serverName: bus.url, ...opts });
}

describe('propose', () => {
  test('a dropped first attempt is retried with the same seq and resolves with the slot',
    async () => {
      const cluster = freshCluster();
      const p = scriptedProposer(proposerBus, cluster,
        (_req, n) => (n === 1 ? 'drop' : { status: 'chosen', slot: 12 }));
      await proposerBus.flush();
      const c = client(cluster);
      const t0 = Date.now();
      await expect(c.propose('hello')).resolves.toEqual({ slot: 12, clientId: c.clientId, seq: 1 });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900); // the first attempt timed out
      expect(p.requests).toEqual([
        { clientId: c.clientId, seq: 1, payload: 'hello' },
        { clientId: c.clientId, seq: 1, payload: 'hello' },
      ]);
      // The next command takes the next seq.
      await expect(c.propose('again')).resolves.toMatchObject({ seq: 2 });
      expect(p.requests[2]).toEqual({ clientId: c.clientId, seq: 2, payload: 'again' });
      p.stop();
    });

  test('overloaded: backs off and retries the same command until it is chosen', async () => {
    const cluster = freshCluster();
    const p = scriptedProposer(proposerBus, cluster,
      (_req, n) => (n <= 2 ? { status: 'overloaded' } : { status: 'chosen', slot: 3 }));
    await proposerBus.flush();
    const c = client(cluster);
    await expect(c.propose('x')).resolves.toEqual({ slot: 3, clientId: c.clientId, seq: 1 });
    expect(p.requests.map((r) => r.seq)).toEqual([1, 1, 1]);
    p.stop();
  });

  test('overloaded until the deadline: SynodOverloadedError, the command was not queued',
    async () => {
      const cluster = freshCluster();
      const p = scriptedProposer(proposerBus, cluster, () => ({ status: 'overloaded' }));
      await proposerBus.flush();
      const c = client(cluster);
      const e = await c.propose('x', { timeoutMs: 700 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SynodOverloadedError);
      expect(e).toMatchObject({ code: 'OVERLOADED', clientId: c.clientId, seq: 1 });
      expect(p.requests.length).toBeGreaterThan(1);
      p.stop();
    });

  test('redirect: retried at once', async () => {
    const cluster = freshCluster();
    const p = scriptedProposer(proposerBus, cluster,
      (_req, n) => (n === 1
        ? { status: 'redirect', leader: 'p2' }
        : { status: 'chosen', slot: 0 }));
    await proposerBus.flush();
    const t0 = Date.now();
    await expect(client(cluster).propose('x')).resolves.toMatchObject({ slot: 0, seq: 1 });
    expect(Date.now() - t0).toBeLessThan(500);
    p.stop();
  });

  test('no proposer listens at all: SynodUnavailableError, nothing was proposed', async () => {
    const c = client(freshCluster());
    const t0 = Date.now();
    const e = await c.propose('x', { timeoutMs: 600 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SynodUnavailableError);
    expect((e as SynodUnavailableError).code).toBe('UNAVAILABLE');
    expect((e as Error).message).toContain('nothing was proposed');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
  });

  test('a proposer that never answers: SynodOutcomeUnknownError with the client id and seq, ' +
    'and retry() sends the very same command', async () => {
    const cluster = freshCluster();
    let answer = false;
    const p = scriptedProposer(proposerBus, cluster,
      () => (answer ? { status: 'chosen', slot: 5 } : 'drop'));
    await proposerBus.flush();
    const c = client(cluster, { clientId: 'retry-me' });
    const e = await c.propose('SET x 1', { timeoutMs: 1500 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SynodOutcomeUnknownError);
    const u = e as SynodOutcomeUnknownError;
    expect(u).toMatchObject({ code: 'OUTCOME_UNKNOWN', clientId: 'retry-me', seq: 1,
      payload: 'SET x 1' });
    expect(u.message).toContain('may or may not be chosen');
    expect(u.message).toContain('same client id and seq is safe');
    expect(p.requests.length).toBe(2); // 1000 ms, then the remaining 500 ms
    answer = true;
    // A new process would connect with the same client id; here the same client retries.
    const again = client(cluster, { clientId: 'retry-me' });
    await expect(again.retry(u)).resolves.toEqual({ slot: 5, clientId: 'retry-me', seq: 1 });
    expect(again.nextSeq).toBe(2);
    expect(p.requests.at(-1)).toEqual({ clientId: 'retry-me', seq: 1, payload: 'SET x 1' });
    expect(() => client(cluster).retry(u)).toThrow(RangeError);
    p.stop();
  });

  test('malformed replies are not accepted: undecodable, unknown field, wrong seq', async () => {
    const cluster = freshCluster();
    const wrongSeq = (n: number): Uint8Array => new TextEncoder().encode(JSON.stringify({
      v: 1, type: 'response', from: 'p1', to: 'c-aaaaaaaaaaaa', clientId: 'c-aaaaaaaaaaaa',
      seq: n + 100, outcome: { status: 'chosen', slot: 99 },
    }));
    const p = scriptedProposer(proposerBus, cluster, (_req, n) => {
      if (n === 1) return { raw: new TextEncoder().encode('{"v":1,"type":"response"') };
      if (n === 2) return { raw: new TextEncoder().encode('{"v":1,"type":"response",' +
        '"from":"p1","to":"c-aaaaaaaaaaaa","clientId":"c-aaaaaaaaaaaa","seq":1,' +
        '"outcome":{"status":"chosen","slot":99},"extra":1}') };
      if (n === 3) return { raw: wrongSeq(n) };
      return { status: 'chosen', slot: 7 };
    });
    await proposerBus.flush();
    const c = client(cluster, { clientId: 'c-aaaaaaaaaaaa' });
    await expect(c.propose('x')).resolves.toEqual({ slot: 7, clientId: 'c-aaaaaaaaaaaa', seq: 1 });
    expect(p.requests).toHaveLength(4);
    p.stop();
  });

  test('only malformed replies until the deadline: outcome unknown, never a guess', async () => {
    const cluster = freshCluster();
    const p = scriptedProposer(proposerBus, cluster,
      () => ({ raw: new TextEncoder().encode('not json') }));
    await proposerBus.flush();
    const e = await client(cluster).propose('x', { timeoutMs: 400 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SynodOutcomeUnknownError);
    expect((e as Error).cause).toBeInstanceOf(DecodeError);
    p.stop();
  });

  test('an explicit seq is reused and later seqs continue past it', async () => {
    const cluster = freshCluster();
    const p = scriptedProposer(proposerBus, cluster, (req) =>
      ({ status: 'chosen', slot: req.cmd.seq * 10 }));
    await proposerBus.flush();
    const c = client(cluster);
    await expect(c.propose('a', { seq: 41 })).resolves.toMatchObject({ seq: 41, slot: 410 });
    await expect(c.propose('b')).resolves.toMatchObject({ seq: 42, slot: 420 });
    p.stop();
  });

  test('abort: SynodAbortedError that says whether the outcome is unknown', async () => {
    const cluster = freshCluster();
    const p = scriptedProposer(proposerBus, cluster, () => 'drop');
    await proposerBus.flush();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const e = await client(cluster).propose('x', { signal: ac.signal }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SynodAbortedError);
    expect(e).toMatchObject({ code: 'ABORTED', outcomeUnknown: true, seq: 1 });
    p.stop();
  });

  test('bad input is a programmer error, thrown before anything is sent', async () => {
    expect(() => new SynodClient(clientBus, { clientId: 'has space' })).toThrow(RangeError);
    expect(() => new SynodClient(clientBus, { clientId: 'x'.repeat(65) })).toThrow(RangeError);
    expect(() => new SynodClient(clientBus, { cluster: 'a.b' })).toThrow(RangeError);
    const c = client(freshCluster());
    await expect(c.propose('x'.repeat(70_000))).rejects.toThrow(RangeError);
    await expect(c.propose('x', { seq: -1 })).rejects.toThrow(RangeError);
    expect(c.clientId).toMatch(/^c-[0-9a-f]{12}$/);
  });
});

describe('connect', () => {
  test('connects, proposes and closes the connection it owns', async () => {
    const cluster = freshCluster();
    const p = scriptedProposer(proposerBus, cluster, () => ({ status: 'chosen', slot: 1 }));
    await proposerBus.flush();
    const c = await SynodClient.connect({ servers: bus.url, cluster });
    await expect(c.propose('x')).resolves.toMatchObject({ slot: 1 });
    await c.close();
    expect(c.closed).toBe(true);
    await expect(c.propose('y')).rejects.toBeInstanceOf(SynodAbortedError);
    p.stop();
  });

  test('no NATS server there: SynodUnavailableError', async () => {
    const e = await SynodClient.connect({ servers: 'nats://127.0.0.1:1' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SynodUnavailableError);
    expect((e as Error).message).toContain('nats://127.0.0.1:1');
  });
});
