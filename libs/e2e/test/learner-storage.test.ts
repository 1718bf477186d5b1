import { execFileSync } from 'node:child_process';
import type { SynodClient } from '@synod/client';
import type { LocalCluster } from '@synod/testing';
import { client, eventually, proposeAll, startCluster, values } from './harness.js';

/**
 * A learner keeps the whole log in its Redis, so a Redis with maxmemory fills at the pace of
 * the log. The learner reads how full it is (SYNOD_STORAGE_CHECK_MS) and says so before Redis
 * refuses its writes: /status, /metrics and a log line with the fix, at the warning share
 * (SYNOD_STORAGE_WARN_PERCENT) and at 95%.
 */

function redisCli(port: number, ...args: string[]): string {
  return execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();
}

describe("a learner watches how full its Redis is", () => {
  let cluster: LocalCluster;
  let cl: SynodClient;
  let port: number;

  const usedMemory = (): number =>
    Number(/used_memory:(\d+)/.exec(redisCli(port, 'INFO', 'memory'))?.[1]);
  const storage = async (): Promise<Record<string, unknown>> =>
    (JSON.parse((await cluster.health('l1', '/status')).body) as
      { storage: Record<string, unknown> }).storage;
  const logLines = (): string[] => (cluster.node('l1').proc?.output(2000) ?? '').split('\n');

  beforeAll(async () => {
    cluster = await startCluster({
      acceptors: 3, proposers: 1, learners: 1,
      roleEnv: { learner: { SYNOD_STORAGE_CHECK_MS: '200', SYNOD_STORAGE_WARN_PERCENT: '80' } },
    });
    port = cluster.node('l1').redis?.port ?? 0;
    expect(port).toBeGreaterThan(0);
    cl = await client(cluster);
  });
  afterAll(async () => {
    await cl?.close();
    await cluster?.stop();
  });

  test('unbounded Redis: level unbounded, slots and bytes in /status and /metrics', async () => {
    const outcomes = await proposeAll(cl, values('s', 20), 4);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    await eventually(async () => Number((await storage())['slots']) >= 1, 10_000,
      'the learner to report its stored slots');
    const s = await storage();
    expect(s['level']).toBe('unbounded');
    expect(s['maxBytes']).toBe(0);
    expect(Number(s['usedBytes'])).toBeGreaterThan(100_000);
    const metrics = (await cluster.health('l1', '/metrics')).body;
    expect(metrics).toMatch(/synod_learner_store_used_bytes\{[^}]*\} [1-9]/);
    expect(metrics).toMatch(/synod_learner_store_max_bytes\{[^}]*\} 0/);
    expect(metrics).toMatch(/synod_learner_log_slots\{[^}]*\} [1-9]/);
  });

  test('past 80% of maxmemory a warning naming the fix, past 95% an error, and back', async () => {
    // From the learner's own reading: redis-cli's INFO would count its own client's buffers.
    const learnerUsed = async (): Promise<number> => Number((await storage())['usedBytes']);
    redisCli(port, 'CONFIG', 'SET', 'maxmemory', String(Math.round((await learnerUsed()) / 0.85)));
    await eventually(async () => (await storage())['level'] === 'warn', 10_000, 'level warn');
    const warned = logLines().find((l) => l.includes('"level":"warn"') && l.includes('maxmemory'));
    expect(warned).toMatch(/Redis is 8\d% full/);
    expect(warned).toMatch(/raise maxmemory/);
    expect(Number((await storage())['usedShare'])).toBeGreaterThanOrEqual(0.8);

    redisCli(port, 'CONFIG', 'SET', 'maxmemory', String(Math.round((await learnerUsed()) / 0.975)));
    await eventually(async () => (await storage())['level'] === 'critical', 10_000,
      'level critical');
    expect(logLines().some((l) => l.includes('"level":"error"') && l.includes('maxmemory')))
      .toBe(true);

    redisCli(port, 'CONFIG', 'SET', 'maxmemory', String(usedMemory() * 10));
    await eventually(async () => (await storage())['level'] === 'ok', 10_000, 'level ok');
    expect(logLines().some((l) => l.includes('back under 80% of maxmemory'))).toBe(true);
    // Proposals went on all along: the watch only reads.
    expect((await proposeAll(cl, values('t', 5), 2)).every((o) => o.ok)).toBe(true);
  });
});
