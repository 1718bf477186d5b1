import { parseArgs } from 'node:util';

/** Everything `npm run bench` can be told. */
export interface BenchOptions {
  readonly concurrency: readonly number[];
  readonly durationS: number;
  readonly warmupS: number;
  readonly valueSize: number;
  readonly vs: readonly 'etcd'[];
  readonly substrate: boolean;
  readonly latency: boolean;
  readonly count: number;
  readonly gapMs: number;
  readonly smoke: boolean;
  readonly json: boolean;
  readonly proposers: number;
  readonly connections: number;
  readonly clientBatching: boolean;
  /** Analysis only: Redis without fsync (`--no-fsync`); not a durable figure. */
  readonly noFsync: boolean;
  readonly loadgens: number;
  readonly timeoutMs: number;
  readonly profile: readonly ('acceptor' | 'proposer' | 'learner' | 'loadgen')[];
  readonly env: Readonly<Record<string, string>>;
  readonly out: string | undefined;
  readonly help: boolean;
}

export const HELP = `npm run bench: Synod's throughput and latency on this machine, beside etcd

Starts a real Synod cluster (nats-server, 3 acceptors each with its own redis-server under
appendfsync always, proposers and a learner, every one its own process), drives it with N
concurrent closed-loop clients (SynodClient, in a separate load-generator process) for a
warm-up and then a measured window, at each concurrency level, and prints values/s and
decisions/s, latency p50/p99/p999, CPU seconds per role (from /proc) and peak RSS per
service. Results go to results/bench-<time>.json and .svg (latency against throughput).

Usage: npm run bench -- [options]

Options:
  --concurrency LIST   client counts, comma-separated (default 1,8,64)
  --duration S         measured seconds per level (default 10)
  --warmup S           warm-up seconds per level, not measured (default 3)
  --value-size B       bytes per value (default 128)
  --vs etcd            the same workload against a 3-member etcd on loopback (fsync on);
                       installs Debian's etcd-server with apt-get when root and missing
  --substrate          also measure the floor: NATS fan-out to 3 repliers that each do a
                       durable Redis Lua write, waiting for 2 of 3 (a hand-made phase 2),
                       at the same values in flight and the batch Synod reached
  --no-fsync           analysis only, NOT durable: Synod's Redis servers run with
                       appendfsync no (and the services accept it), to show what the
                       disk costs; Synod alone (refused with --vs and --substrate)
  --latency            idle decision latency: 1 client, --count sequential proposals with
                       --gap-ms between them; prints the median
  --count N            proposals in --latency mode (default 1000)
  --gap-ms MS          pause between proposals in --latency mode (default 0: each
                       proposal starts when the previous one was chosen)
  --smoke              short sanity run for the test suite (default 4 clients, 1 s warm-up,
                       3 s measured): exit 1 unless it produced sane
                       output (no timing assertions)
  --json               print the results as JSON on stdout (tables go to stderr)
  --proposers N        proposers in the Synod cluster (default 2)
  --connections N      NATS connections (or etcd channels) shared by the clients (default 4)
  --client-batching on|off
                       whether Synod clients sharing a connection send the proposals they
                       start in the same event-loop turn as one batch request (default on,
                       as SynodClient does; off: one request per proposal)
  --loadgens N         load-generator processes (default 1)
  --timeout-ms MS      deadline of one operation (default 10000)
  --profile ROLE       CPU-profile a role's processes (acceptor, proposer, learner, or
                       loadgen: Synod's load generators, the client side; repeatable)
                       and print a summary
  --env K=V            extra environment for every Synod service, e.g.
                       --env SYNOD_MAX_BATCH=64 (repeatable)
  --out DIR            where results go (default results/ at the repository root)
  -h, --help           this help

Examples:
  npm run bench
  npm run bench -- --vs etcd --substrate
  npm run bench -- --latency
  npm run bench -- --duration 600 --concurrency 64     # the 10-minute memory run`;

function int(
  name: string, raw: string | undefined, dflt: number, min: number, max: number,
): number {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new Error(`--${name} must be a number in ${min}..${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** Parses argv; throws an Error whose message says what is wrong. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      concurrency: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' },
      'value-size': { type: 'string' }, vs: { type: 'string', multiple: true },
      substrate: { type: 'boolean' }, latency: { type: 'boolean' }, count: { type: 'string' },
      'gap-ms': { type: 'string' }, smoke: { type: 'boolean' }, json: { type: 'boolean' },
      proposers: { type: 'string' }, connections: { type: 'string' },
      'client-batching': { type: 'string' }, 'no-fsync': { type: 'boolean' },
      loadgens: { type: 'string' }, 'timeout-ms': { type: 'string' },
      profile: { type: 'string', multiple: true }, env: { type: 'string', multiple: true },
      out: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  const latency = values.latency === true;
  // A smoke run is short unless told otherwise: 4 clients, 1 s of warm-up, 3 s measured.
  const smoke = values.smoke === true;
  const levels = values.concurrency ?? (smoke ? '4' : '1,8,64');
  const concurrency = latency ? [1] : levels.split(',').map((s) =>
    int('concurrency', s.trim(), 1, 1, 10_000));
  const vs = (values.vs ?? []).map((v): 'etcd' => {
    if (v !== 'etcd') throw new Error(`--vs knows only etcd, got ${JSON.stringify(v)}`);
    return v;
  });
  const profile = (values.profile ?? []).map((p) => {
    if (p !== 'acceptor' && p !== 'proposer' && p !== 'learner' && p !== 'loadgen') {
      throw new Error('--profile takes acceptor, proposer, learner or loadgen, got ' +
        JSON.stringify(p));
    }
    return p;
  });
  const cb = values['client-batching'] ?? 'on';
  if (cb !== 'on' && cb !== 'off') {
    throw new Error(`--client-batching takes on or off, got ${JSON.stringify(cb)}`);
  }
  const noFsync = values['no-fsync'] === true;
  if (noFsync && (vs.length > 0 || values.substrate === true)) {
    throw new Error('--no-fsync measures Synod alone: leave out --vs and --substrate (the ' +
      'comparisons are durable)');
  }
  const env: Record<string, string> = {};
  for (const kv of values.env ?? []) {
    const eq = kv.indexOf('=');
    if (eq < 1) throw new Error(`--env takes K=V, got ${JSON.stringify(kv)}`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return {
    concurrency,
    durationS: int('duration', values.duration, smoke ? 3 : 10, 0.5, 86_400),
    warmupS: int('warmup', values.warmup, smoke ? 1 : 3, 0, 3600),
    valueSize: int('value-size', values['value-size'], 128, 1, 60_000),
    vs, substrate: values.substrate === true, latency,
    count: int('count', values.count, 1000, 1, 1_000_000),
    gapMs: int('gap-ms', values['gap-ms'], 0, 0, 60_000),
    smoke: values.smoke === true, json: values.json === true,
    proposers: int('proposers', values.proposers, 2, 1, 9),
    connections: int('connections', values.connections, 4, 1, 1000),
    clientBatching: cb === 'on', noFsync,
    loadgens: int('loadgens', values.loadgens, 1, 1, 16),
    timeoutMs: int('timeout-ms', values['timeout-ms'], 10_000, 100, 600_000),
    profile, env, out: values.out, help: values.help === true,
  };
}
