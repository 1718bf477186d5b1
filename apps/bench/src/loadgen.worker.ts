/**
 * A load generator, run as its own process so that its CPU shows apart from the services' and
 * the parent's. It takes one {@link LoadCommand} over IPC, runs `concurrency` closed-loop
 * clients (each waits for its operation before starting the next) for the warm-up and then the
 * measured window, reports progress every second and ends with a {@link LoadResult}.
 */
import { SynodClient } from '@synod/client';
import { silentLogger, type Transport } from '@synod/runtime';
import { connectNats } from '@synod/transport-nats';
import { Histogram } from './histogram.js';
import type { LoadCommand, LoadMessage, LoadResult, Target } from './ipc.js';

/** One operation's outcome: the values it carried and the slot it got (-1 when none). */
interface Done {
  readonly values: number;
  readonly slot: number;
}

/** A connected system: one operation function per client, and how to let go. */
interface Driver {
  readonly ops: ReadonlyArray<() => Promise<Done>>;
  close(): Promise<void>;
}

const send = (m: LoadMessage): void => {
  process.send?.(m);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function payloadOf(size: number, salt: number): string {
  const base = `v${salt.toString(36)}-`;
  return base.padEnd(size, 'abcdefghijklmnopqrstuvwxyz0123456789').slice(0, size);
}

async function natsConnections(url: string, n: number): Promise<Transport[]> {
  const out: Transport[] = [];
  for (let i = 0; i < n; i++) {
    out.push(await connectNats({ servers: url, name: `bench-load-${i}`, logger: silentLogger }));
  }
  return out;
}

async function synodDriver(t: Extract<Target, { kind: 'synod' }>, c: LoadCommand):
  Promise<Driver> {
  const conns = await natsConnections(t.natsUrl, Math.min(c.connections, c.concurrency));
  const clients = Array.from({ length: c.concurrency }, (_, i) => new SynodClient(
    conns[i % conns.length] as Transport,
    {
      cluster: t.cluster, clientId: `bench-${process.pid}-${i}`, timeoutMs: c.timeoutMs,
      batching: t.batching,
    }));
  const ops = clients.map((client, i) => {
    const payload = payloadOf(c.valueSize, i);
    return async (): Promise<Done> => ({ values: 1, slot: (await client.propose(payload)).slot });
  });
  return {
    ops,
    async close() {
      for (const client of clients) await client.close();
      await Promise.all(conns.map((x) => x.close()));
    },
  };
}

async function etcdDriver(t: Extract<Target, { kind: 'etcd' }>, c: LoadCommand):
  Promise<Driver> {
  // Loaded here so that a run without --vs etcd never needs the gRPC stack.
  const { Etcd3 } = await import('etcd3');
  const n = Math.min(c.connections, c.concurrency);
  const conns = Array.from({ length: n }, () => new Etcd3({
    hosts: [...t.endpoints], dialTimeout: 5000,
    defaultCallOptions: () => ({ deadline: Date.now() + c.timeoutMs }),
  }));
  const ops = Array.from({ length: c.concurrency }, (_, i) => {
    const etcd = conns[i % n] as InstanceType<typeof Etcd3>;
    const key = `bench/${process.pid}/${i}`;
    const payload = payloadOf(c.valueSize, i);
    return async (): Promise<Done> => {
      await etcd.put(key).value(payload).exec();
      return { values: 1, slot: -1 };
    };
  });
  return {
    ops,
    async close() {
      for (const e of conns) e.close();
    },
  };
}

interface Round {
  acks: number;
  readonly resolve: () => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The hand-made phase 2: `ceil(concurrency / batch)` rounds in flight, each publishing one
 * accept of `batch` commands to the repliers and ending at the `quorum`-th ack.
 */
async function substrateDriver(t: Extract<Target, { kind: 'substrate' }>, c: LoadCommand):
  Promise<Driver> {
  const [conn] = await natsConnections(t.natsUrl, 1);
  const bus = conn as Transport;
  const leader = `l${process.pid}`;
  const rounds = new Map<number, Round>();
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const sub = bus.subscribe(`${t.prefix}.ack.${leader}`, (m) => {
    const { slot } = JSON.parse(dec.decode(m.data)) as { slot: number };
    const r = rounds.get(slot);
    if (r === undefined || ++r.acks < t.quorum) return;
    rounds.delete(slot);
    clearTimeout(r.timer);
    r.resolve();
  });
  await bus.flush();
  let nextSlot = 0;
  const ballot = { round: 1, proposer: 'bench', incarnation: 1 };
  const inflight = Math.max(1, Math.ceil(c.concurrency / t.batch));
  const ops = Array.from({ length: inflight }, (_, i) => {
    const payload = payloadOf(c.valueSize, i);
    let seq = 0;
    return (): Promise<Done> => new Promise<Done>((resolve, reject) => {
      const slot = nextSlot++;
      const cmds = Array.from({ length: t.batch },
        () => ({ clientId: `b${i}`, seq: seq++, payload }));
      const timer = setTimeout(() => {
        rounds.delete(slot);
        reject(Object.assign(new Error(`round ${slot} timed out`), { name: 'TimeoutError' }));
      }, c.timeoutMs);
      rounds.set(slot, { acks: 0, timer, resolve: () => resolve({ values: t.batch, slot }) });
      bus.publish(`${t.prefix}.accept`, enc.encode(JSON.stringify({
        leader, slot, ballot, value: { kind: 'cmds', cmds },
      })));
    });
  });
  return {
    ops,
    async close() {
      sub.unsubscribe();
      await bus.close();
    },
  };
}

/** The counters of one run, shared by its client loops. */
class Meter {
  readonly hist = new Histogram();
  measuring = false;
  stopped = false;
  values = 0;
  rounds = 0;
  minSlot = Number.POSITIVE_INFINITY;
  maxSlot = -1;
  readonly errors: Record<string, number> = {};
  warmHist = new Histogram();

  done(d: Done, ms: number): void {
    if (this.stopped) return;
    if (!this.measuring) {
      this.warmHist.record(ms);
      return;
    }
    this.hist.record(ms);
    this.values += d.values;
    this.rounds++;
    if (d.slot >= 0) {
      this.minSlot = Math.min(this.minSlot, d.slot);
      this.maxSlot = Math.max(this.maxSlot, d.slot);
    }
  }

  fail(e: unknown): void {
    if (this.stopped || !this.measuring) return;
    const name = e instanceof Error ? e.name : 'Error';
    this.errors[name] = (this.errors[name] ?? 0) + 1;
  }
}

async function clientLoop(op: () => Promise<Done>, m: Meter, c: LoadCommand): Promise<void> {
  let measured = 0;
  while (!m.stopped) {
    const t0 = performance.now();
    try {
      const d = await op();
      if (m.measuring) measured++;
      m.done(d, performance.now() - t0);
    } catch (e) {
      m.fail(e);
      await sleep(10);
    }
    if (c.maxOps > 0 && measured >= c.maxOps) return;
    if (c.gapMs > 0) await sleep(c.gapMs);
  }
}

async function connect(c: LoadCommand): Promise<Driver> {
  switch (c.target.kind) {
    case 'synod':
      return synodDriver(c.target, c);
    case 'etcd':
      return etcdDriver(c.target, c);
    case 'substrate':
      return substrateDriver(c.target, c);
  }
}

async function run(c: LoadCommand): Promise<LoadResult> {
  const driver = await connect(c);
  const m = new Meter();
  const started = performance.now();
  let measureFrom = started + c.warmupMs;
  const loops = driver.ops.map((op) => clientLoop(op, m, c));
  const allDone = Promise.all(loops);
  let finished = false;
  void allDone.then(() => (finished = true));
  const endBy = measureFrom + c.durationMs;
  // Bounded: the loop ends at the deadline at the latest (checked every 100 ms).
  let lastProgress = started;
  for (;;) {
    const next = m.measuring ? endBy : measureFrom;
    await sleep(Math.min(100, Math.max(1, next - performance.now())));
    const now = performance.now();
    if (!m.measuring && now >= measureFrom) {
      measureFrom = now;
      m.measuring = true;
      send({ type: 'measuring' });
    }
    if (now - lastProgress >= 1000) {
      lastProgress = now;
      const h = m.measuring ? m.hist : m.warmHist;
      send({ type: 'progress', phase: m.measuring ? 'measure' : 'warmup',
        elapsedMs: now - (m.measuring ? measureFrom : started), values: m.values,
        p50Ms: h.quantile(0.5) });
    }
    if ((m.measuring && now >= measureFrom + c.durationMs) || finished) break;
  }
  m.stopped = true;
  const windowMs = performance.now() - measureFrom;
  // Operations still in flight finish (or time out) before the connections close.
  await Promise.race([allDone, sleep(c.timeoutMs + 1000)]);
  await driver.close();
  const decisions = c.target.kind === 'synod'
    ? (m.maxSlot >= m.minSlot ? m.maxSlot - m.minSlot + 1 : 0)
    : m.rounds;
  return {
    type: 'result', windowMs, values: m.values, decisions,
    slots: m.maxSlot >= m.minSlot ? [m.minSlot, m.maxSlot] : null, histogram: m.hist.toData(),
    errors: m.errors,
  };
}

process.on('message', (msg: LoadCommand) => {
  if (msg.type !== 'run') return;
  run(msg).then(send, (e: unknown) => {
    send({ type: 'failure', message: e instanceof Error ? e.stack ?? e.message : String(e) });
  });
});
process.on('disconnect', () => process.exit(0));
// The bench ends a load generator with SIGTERM: exit normally, so that exit hooks (the CPU
// profiler's, with --profile loadgen) run.
process.on('SIGTERM', () => process.exit(0));
