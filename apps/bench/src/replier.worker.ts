/**
 * One replier of the hand-made phase 2 (`--substrate`): what an acceptor is reduced to. It
 * takes each accept from NATS, writes it to its own Redis with the acceptor's atomic Lua
 * persist (`appendfsync always`: on disk before the reply), then acks to the leader. No
 * protocol, no codec validation, no coalescing: a floor, not a competitor.
 *
 * Environment: NATS_URL, REDIS_URL, BENCH_REPLIER_ID, BENCH_PREFIX.
 */
import type { Value } from '@synod/protocol';
import { silentLogger } from '@synod/runtime';
import { RedisAcceptorStore } from '@synod/store-redis';
import { connectNats } from '@synod/transport-nats';

interface Accept {
  readonly leader: string;
  readonly slot: number;
  readonly ballot: { round: number; proposer: string; incarnation: number };
  readonly value: Value;
}

function env(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`${name} is not set`);
  return v;
}

async function main(): Promise<void> {
  const id = env('BENCH_REPLIER_ID');
  const prefix = env('BENCH_PREFIX');
  const store = new RedisAcceptorStore({
    url: env('REDIS_URL'), cluster: 'bench', acceptorId: id, init: true,
  });
  await store.load();
  // One promise up front, so that every later write is an accepted entry under it.
  await store.persist({ promised: { round: 1, proposer: 'bench', incarnation: 1 }, accepted: [] });
  const bus = await connectNats({
    servers: env('NATS_URL'), name: `bench-${id}`, logger: silentLogger,
  });
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  bus.subscribe(`${prefix}.accept`, (m) => {
    const a = JSON.parse(dec.decode(m.data)) as Accept;
    const entry = { slot: a.slot, ballot: a.ballot, value: a.value };
    store.persist({ promised: null, accepted: [entry] })
      .then(() => bus.publish(`${prefix}.ack.${a.leader}`,
        enc.encode(JSON.stringify({ slot: a.slot, from: id }))),
      (e: unknown) => process.stderr.write(`replier ${id}: ${String(e)}\n`));
  });
  await bus.flush();
  process.stdout.write(`replier ${id} ready\n`);
  const stop = (): void => {
    void bus.close().then(() => store.close()).then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`replier: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
