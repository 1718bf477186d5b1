import { connect as rawConnect, headers as rawHeaders } from '@nats-io/transport-node';
import type { Logger, TransportMessage } from '@synod/runtime';
import { TransportTimeoutError } from '@synod/runtime';
import { freePort, type NatsServer, startNats } from '@synod/testing';
import {
  connectNats,
  connectService,
  type NatsConnectOptions,
  NatsConnectError,
  type NatsStatusEvent,
  type NatsTransport,
} from '@synod/transport-nats';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

interface LogEntry {
  readonly level: string;
  readonly obj: object;
  readonly msg: string | undefined;
}

/** A logger that keeps what it is told, to assert on. */
function recordingLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      entries.push({ level, obj, msg });
    };
  const log = {
    entries,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => log,
  };
  return log;
}

/** Resolves when `pred` holds, polling; rejects after `timeoutMs`. */
async function until(pred: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A subscriber that collects messages. */
function collect(t: NatsTransport, subject: string, queue?: string): TransportMessage[] {
  const got: TransportMessage[] = [];
  t.subscribe(subject, (m) => got.push(m), queue === undefined ? {} : { queue });
  return got;
}

let nats: NatsServer;
const open: NatsTransport[] = [];
const log = recordingLogger();

async function transport(extra: Partial<NatsConnectOptions> = {}): Promise<NatsTransport> {
  const t = await connectNats({ servers: nats.url, logger: log, ...extra });
  open.push(t);
  return t;
}

beforeAll(async () => {
  nats = await startNats();
});

afterAll(async () => {
  await Promise.all(open.map((t) => t.close()));
  await nats.stop();
});

describe('publish / subscribe', () => {
  it('round-trips data and headers, keys lower-cased', async () => {
    const [a, b] = [await transport(), await transport()];
    const got = collect(b, 'rt.one');
    await b.flush();
    a.publish('rt.one', enc('hello'), { traceparent: '00-abc-def-01', 'X-Synod-Code': 'OK' });
    await until(() => got.length === 1);
    const m = got[0] as TransportMessage;
    expect(m.subject).toBe('rt.one');
    expect(dec(m.data)).toBe('hello');
    expect(m.reply).toBeUndefined();
    expect({ ...m.headers }).toEqual({ traceparent: '00-abc-def-01', 'x-synod-code': 'OK' });
  });

  it('reads headers a foreign client sent in mixed case, whatever the case', async () => {
    const t = await transport();
    const got = collect(t, 'rt.mixed');
    await t.flush();
    const raw = await rawConnect({ servers: nats.url });
    const h = rawHeaders();
    h.set('TraceParent', '00-x-y-01');
    h.set('X-SYNOD-Code', 'STALE');
    h.append('x-synod-code', 'AGAIN');
    raw.publish('rt.mixed', enc('x'), { headers: h });
    raw.publish('rt.mixed', enc('y'));
    await raw.drain();
    await until(() => got.length === 2);
    expect({ ...got[0]?.headers }).toEqual({
      traceparent: '00-x-y-01',
      'x-synod-code': 'STALE, AGAIN',
    });
    expect(got[0]?.headers['constructor']).toBeUndefined();
    expect({ ...got[1]?.headers }).toEqual({});
  });

  it('queue group: each message reaches one member; plain subscribers get all', async () => {
    const [pub, q1, q2, all] = await Promise.all([1, 2, 3, 4].map(() => transport()));
    const got1 = collect(q1 as NatsTransport, 'work.items', 'workers');
    const got2 = collect(q2 as NatsTransport, 'work.items', 'workers');
    const gotAll = collect(all as NatsTransport, 'work.items');
    await Promise.all([q1, q2, all].map((t) => (t as NatsTransport).flush()));
    for (let i = 0; i < 100; i++) (pub as NatsTransport).publish('work.items', enc(String(i)));
    await until(() => got1.length + got2.length === 100 && gotAll.length === 100);
    const seen = [...got1, ...got2].map((m) => dec(m.data)).sort((x, y) => +x - +y);
    expect(seen).toEqual([...Array(100).keys()].map(String));
    expect(got1.length).toBeGreaterThan(0);
    expect(got2.length).toBeGreaterThan(0);
  });

  it('a service connection does not hear its own publications; others (and plain connections) do',
    async () => {
      const svc = await connectService('proposer', {
        nodeId: 'p1', natsUrl: nats.url, natsUser: '', natsPassword: '',
      }, log);
      open.push(svc);
      const [plain, other] = [await transport(), await transport()];
      const bySvc = collect(svc, 'echo.*');
      const byPlain = collect(plain, 'echo.*');
      const byOther = collect(other, 'echo.*');
      await Promise.all([svc, plain, other].map((t) => t.flush()));
      svc.publish('echo.svc', enc('from service'));
      plain.publish('echo.plain', enc('from plain'));
      await until(() => byOther.length === 2 && byPlain.length === 2 && bySvc.length === 1);
      await Promise.all([svc, plain].map((t) => t.flush()));
      expect(bySvc.map((m) => m.subject)).toEqual(['echo.plain']);
      expect(byPlain.map((m) => m.subject).sort()).toEqual(['echo.plain', 'echo.svc']);
      expect(byOther.map((m) => m.subject).sort()).toEqual(['echo.plain', 'echo.svc']);
    });

  it('a handler that throws (or rejects) is logged and the subscription goes on', async () => {
    const t = await transport();
    const got: string[] = [];
    t.subscribe('rt.faulty', (m) => {
      const s = dec(m.data);
      got.push(s);
      if (s === 'boom') throw new Error('handler bug');
    });
    t.subscribe('rt.faulty', async (m) => {
      if (dec(m.data) === 'boom') throw new Error('async handler bug');
    });
    await t.flush();
    const before = log.entries.length;
    for (const s of ['a', 'boom', 'b']) t.publish('rt.faulty', enc(s));
    await until(() => got.length === 3);
    expect(got).toEqual(['a', 'boom', 'b']);
    await until(() => log.entries.length >= before + 2);
    const errs = log.entries.slice(before).filter((e) => e.level === 'error');
    expect(errs.map((e) => (e.obj as { err: Error }).err.message).sort()).toEqual([
      'async handler bug',
      'handler bug',
    ]);
    expect(t.status().connected).toBe(true);
  });

  it('unsubscribe stops delivery', async () => {
    const t = await transport();
    const got: TransportMessage[] = [];
    const sub = t.subscribe('rt.unsub', (m) => got.push(m));
    await t.flush();
    t.publish('rt.unsub', enc('1'));
    await until(() => got.length === 1);
    sub.unsubscribe();
    sub.unsubscribe();
    t.publish('rt.unsub', enc('2'));
    await t.flush();
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toHaveLength(1);
  });
});

describe('request / reply', () => {
  it('replies with data and headers; respond() is false without a reply subject', async () => {
    const [client, server] = [await transport(), await transport()];
    const plain: boolean[] = [];
    server.subscribe('svc.echo', (m) => {
      const ok = server.respond(m, enc(`echo:${dec(m.data)}`), { 'X-Synod-Code': 'OK' });
      plain.push(ok);
    });
    await server.flush();
    const r = await client.request('svc.echo', enc('hi'), {
      timeoutMs: 2000,
      headers: { traceparent: 't' },
    });
    expect(dec(r.data)).toBe('echo:hi');
    expect(r.headers['x-synod-code']).toBe('OK');
    client.publish('svc.echo', enc('no reply wanted'));
    await until(() => plain.length === 2);
    expect(plain).toEqual([true, false]);
  });

  it('times out with TransportTimeoutError TIMEOUT when the responder stays silent', async () => {
    const [client, server] = [await transport(), await transport()];
    server.subscribe('svc.silent', () => undefined);
    await server.flush();
    const t0 = Date.now();
    const err = await client
      .request('svc.silent', enc('?'), { timeoutMs: 150 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportTimeoutError);
    expect((err as TransportTimeoutError).code).toBe('TIMEOUT');
    expect((err as Error).message).toBe('no reply on svc.silent within 150 ms');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('fails fast with TransportTimeoutError NO_RESPONDERS when nobody listens', async () => {
    const client = await transport();
    const t0 = Date.now();
    const err = await client
      .request('svc.nobody', enc('?'), { timeoutMs: 5000 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportTimeoutError);
    expect((err as TransportTimeoutError).code).toBe('NO_RESPONDERS');
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('requestMany gathers replies until maxReplies or maxWaitMs; none is []', async () => {
    const [client, ...servers] = await Promise.all([1, 2, 3, 4].map(() => transport()));
    servers.forEach((s, i) => s.subscribe('svc.vote', (m) => s.respond(m, enc(`v${i}`))));
    await Promise.all(servers.map((s) => s.flush()));
    const c = client as NatsTransport;
    const two = await c.requestMany('svc.vote', enc('?'), { maxWaitMs: 2000, maxReplies: 2 });
    expect(two).toHaveLength(2);
    const t0 = Date.now();
    const all = await c.requestMany('svc.vote', enc('?'), { maxWaitMs: 200 });
    expect(all.map((m) => dec(m.data)).sort()).toEqual(['v0', 'v1', 'v2']);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(await c.requestMany('svc.none', enc('?'), { maxWaitMs: 2000 })).toEqual([]);
  });
});

describe('connection', () => {
  it('rides out a NATS server restart: reconnects, subscriptions resume', async () => {
    const own = await startNats();
    const events: NatsStatusEvent[] = [];
    const opts = { servers: own.url, logger: log, reconnectTimeWaitMs: 50 };
    const a = await connectNats({ ...opts, onStatus: (e) => events.push(e) });
    const b = await connectNats(opts);
    open.push(a, b);
    const got = collect(b, 'rs.x');
    await b.flush();
    a.publish('rs.x', enc('before'));
    await until(() => got.length === 1);

    await own.kill('SIGKILL');
    await until(() => !a.status().connected, 5000, 'disconnect');
    await own.restart();
    await until(() => a.status().connected && b.status().reconnects >= 1, 10_000, 'reconnect');
    await b.flush(); // the restored subscription has reached the new server process
    a.publish('rs.x', enc('after'));
    await until(() => got.length >= 2, 5000, 'message after restart');
    expect(dec(got[got.length - 1]?.data as Uint8Array)).toBe('after');
    expect(a.status()).toMatchObject({ connected: true, reconnects: 1, closed: false });
    expect(a.status().server).toContain(String(own.port));
    const types = events.map((e) => e.type);
    expect(types).toContain('disconnect');
    expect(types.indexOf('reconnect')).toBeGreaterThan(types.indexOf('disconnect'));
    expect(log.entries.some((e) => e.msg === 'nats reconnected')).toBe(true);
    await Promise.all([a.close(), b.close()]);
    await own.stop();
  });

  it('a dead port fails fast with NatsConnectError naming the URL and the fix', async () => {
    const port = await freePort();
    const t0 = Date.now();
    const err = await connectNats({ servers: `nats://127.0.0.1:${port}`, logger: log }).catch(
      (e: unknown) => e,
    );
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(err).toBeInstanceOf(NatsConnectError);
    const e = err as NatsConnectError;
    expect(e.code).toBe('UNREACHABLE');
    expect(e.servers).toEqual([`nats://127.0.0.1:${port}`]);
    expect(e.message).toBe(
      `cannot connect to NATS at nats://127.0.0.1:${port}: connection refused; ` +
        'is nats-server running there, and is NATS_URL (or the servers option) right?',
    );
  });

  it('no URL and a malformed URL are BAD_URL', async () => {
    const none = await connectNats({ servers: ' , ' }).catch((e: unknown) => e);
    expect((none as NatsConnectError).code).toBe('BAD_URL');
    expect((none as Error).message).toMatch(/set NATS_URL/);
    const bad = await connectNats({ servers: 'nats://:::bad' }).catch((e: unknown) => e);
    expect((bad as NatsConnectError).code).toBe('BAD_URL');
  });

  it('a password in the URL never reaches the error', async () => {
    const port = await freePort();
    const err = await connectNats({
      servers: `nats://svc:Hunter2Pw@127.0.0.1:${port}`, logger: log,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NatsConnectError);
    const e = err as NatsConnectError;
    expect(e.message).toContain(`nats://svc:***@127.0.0.1:${port}`);
    expect(`${e.message} ${JSON.stringify(e.servers)}`).not.toContain('Hunter2Pw');
  });

  it('credentials: the right token connects, a wrong one is AUTHORIZATION', async () => {
    const secured = await startNats({ config: 'authorization { token: "s3cret" }\n' });
    try {
      const ok = await connectNats({ servers: secured.url, token: 's3cret', logger: log });
      open.push(ok);
      expect(ok.status().connected).toBe(true);
      const err = await connectNats({ servers: secured.url, token: 'nope', logger: log }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(NatsConnectError);
      expect((err as NatsConnectError).code).toBe('AUTHORIZATION');
      expect((err as Error).message).toMatch(/refused the credentials.*user\/pass or token/);
      await ok.close();
    } finally {
      await secured.stop();
    }
  });

  it('close() flushes what was published, is idempotent, and reports closed', async () => {
    const [a, b] = [await transport(), await transport()];
    const got = collect(b, 'cl.x');
    await b.flush();
    for (let i = 0; i < 20; i++) a.publish('cl.x', enc(String(i)));
    await Promise.all([a.close(), a.close()]);
    await a.close();
    expect(a.status()).toMatchObject({ connected: false, closed: true });
    await until(() => got.length === 20);
  });

  it('close() while the server is gone gives up draining after closeTimeoutMs', async () => {
    const own = await startNats();
    const t = await connectNats({ servers: own.url, logger: log, closeTimeoutMs: 200 });
    await own.kill('SIGKILL');
    await until(() => !t.status().connected, 5000, 'disconnect');
    const t0 = Date.now();
    await t.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(t.status().closed).toBe(true);
    await own.stop();
  });
});
