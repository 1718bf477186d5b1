/**
 * One replier of the hand-made phase 2 (`--substrate`): what an acceptor is reduced to. It
 * takes each accept from NATS, writes it to its own Redis with the acceptor's atomic Lua
 * persist (`appendfsync always`: on disk before the reply), then acks to the leader. No
 * protocol, no codec validation: a floor, not a competitor. Accepts that arrive while a
 * persist is in flight go together into the next one, as an acceptor's do: the store allows
 * one persist at a time (its write counter refuses a second one started before the first is
 * acknowledged, SYNOD_AHEAD), and an earlier version that started one per accept lost the
 * acks of every overlapping write (three loops of four stalled for the 10 s timeout).
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
  let queued: Accept[] = [];
  let writing = false;
  const drain = (): void => {
    if (writing || queued.length === 0) return;
    writing = true;
    const batch = queued;
    queued = [];
    store.persist({ promised: null,
      accepted: batch.map((a) => ({ slot: a.slot, ballot: a.ballot, value: a.value })) })
      .then(() => {
        for (const a of batch) {
          bus.publish(`${prefix}.ack.${a.leader}`,
            enc.encode(JSON.stringify({ slot: a.slot, from: id })));
        }
      }, (e: unknown) => process.stderr.write(`replier ${id}: ${String(e)}\n`))
      .finally(() => {
        writing = false;
        drain();
      });
  };
  bus.subscribe(`${prefix}.accept`, (m) => {
    queued.push(JSON.parse(dec.decode(m.data)) as Accept);
    drain();
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
