import type { AcceptedEntry, Ballot, Value } from '@synod/protocol';
import { Redis } from 'ioredis';
import {
  RedisAcceptorStore,
  type RedisAcceptorStoreOptions,
  StoreError,
} from '../src/index.js';

/** A ballot; proposer `p1` and incarnation 1 unless given. */
export function ballot(round: number, proposer = 'p1', incarnation = 1): Ballot {
  return { round, proposer, incarnation };
}

/** A batch value of one command per payload, from client `c1`. */
export function cmds(...payloads: string[]): Value {
  return {
    kind: 'cmds',
    cmds: payloads.map((payload, i) => ({ clientId: 'c1', seq: i + 1, payload })),
  };
}

/** An accepted entry. */
export function entry(slot: number, b: Ballot, value: Value): AcceptedEntry {
  return { slot, ballot: b, value };
}

let counter = 0;
/** A cluster name no other test uses, so tests sharing one Redis never see each other. */
export function freshCluster(): string {
  counter++;
  return `t${process.pid}-${counter}`;
}

/** Runs `f` with a plain ioredis client (the test's own hands on Redis), then quits it. */
export async function withAdmin<T>(url: string, f: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  r.on('error', () => undefined);
  await r.connect();
  try {
    return await f(r);
  } finally {
    await r.quit();
  }
}

/** The StoreError a promise rejects with (fails the test if it resolves or throws another). */
export async function storeError(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof StoreError) return e;
    throw e;
  }
  throw new Error('expected a StoreError, but the call succeeded');
}

/**
 * Acceptor stores for a test file: `store(url)` opens one for acceptor `a2` of a fresh cluster
 * (unless `over` says otherwise); `closeAll()` (in afterAll) closes every one opened.
 */
export function acceptorStores(): {
  store: (url: string, over?: Partial<RedisAcceptorStoreOptions>) => RedisAcceptorStore;
  closeAll: () => Promise<void>;
} {
  const open: RedisAcceptorStore[] = [];
  return {
    store(url, over = {}) {
      const s = new RedisAcceptorStore({ url, cluster: freshCluster(), acceptorId: 'a2', ...over });
      open.push(s);
      return s;
    },
    async closeAll() {
      await Promise.all(open.map((s) => s.close()));
    },
  };
}
