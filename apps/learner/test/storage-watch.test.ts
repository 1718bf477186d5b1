import type { Logger } from '@synod/runtime';
import { type StorageSample, StorageWatch } from '../src/storage-watch.js';

interface Line {
  readonly level: string;
  readonly obj: object;
  readonly msg: string | undefined;
}

function recorder(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (obj: object, msg?: string): void => {
    lines.push({ level, obj, msg });
  };
  const log = {
    lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'),
    child: () => log,
  };
  return log;
}

const MiB = 1_048_576;
const HOUR = 3_600_000;
const sample = (usedMiB: number, maxMiB: number, at: number, slots = 1000): StorageSample =>
  ({ usedBytes: usedMiB * MiB, maxBytes: maxMiB * MiB, slots, at });

describe('StorageWatch', () => {
  test('below the warning share: ok, silent; the status has the figures', () => {
    const log = recorder();
    const w = new StorageWatch({ warnShare: 0.8, repeatMs: HOUR, log });
    expect(w.status()).toEqual({ level: 'unknown' });
    w.note(sample(100, 300, 0));
    expect(log.lines).toEqual([]);
    expect(w.status()).toMatchObject({
      level: 'ok', usedBytes: 100 * MiB, maxBytes: 300 * MiB, slots: 1000, usedShare: 0.333,
      checkedAt: new Date(0).toISOString(),
    });
    expect(w.status().growthBytesPerHour).toBeUndefined();
  });

  test('crossing the warning share warns once, with the pace and the fix; then every repeatMs',
    () => {
      const log = recorder();
      const w = new StorageWatch({ warnShare: 0.8, repeatMs: HOUR, log });
      w.note(sample(200, 300, 0));
      w.note(sample(230, 300, HOUR / 2));
      expect(log.lines).toEqual([]);
      w.note(sample(245, 300, HOUR)); // 82%, growing 45 MiB an hour: full in about 1.2 hours
      expect(log.lines).toHaveLength(1);
      const first = log.lines[0] as Line;
      expect(first.level).toBe('warn');
      expect(first.msg).toMatch(/82% full \(245\.0 MiB of maxmemory 300\.0 MiB, 1000 slots; full in about 1\.2 hours/);
      expect(first.msg).toMatch(/raise maxmemory/);
      expect(first.msg).toMatch(/docs\/operations\.md#learner-storage/);
      expect(w.status()).toMatchObject({
        level: 'warn', growthBytesPerHour: 45 * MiB, fullInHours: 1.2,
      });
      w.note(sample(246, 300, HOUR + 60_000));
      expect(log.lines).toHaveLength(1);
      w.note(sample(247, 300, 2 * HOUR));
      expect(log.lines).toHaveLength(2);
    });

  test('critical at 95% is an error at once; falling back under the share says so', () => {
    const log = recorder();
    const w = new StorageWatch({ warnShare: 0.8, repeatMs: HOUR, log });
    w.note(sample(250, 300, 0));
    w.note(sample(290, 300, 1000));
    expect(log.lines.map((l) => l.level)).toEqual(['warn', 'error']);
    expect(w.status().level).toBe('critical');
    w.note(sample(100, 300, 2000)); // maxmemory raised, or a restart
    expect(log.lines.map((l) => l.level)).toEqual(['warn', 'error', 'info']);
    expect(log.lines[2]?.msg).toMatch(/back under 80% of maxmemory/);
    expect(w.status().level).toBe('ok');
  });

  test('no maxmemory: unbounded, never warns, still reports growth', () => {
    const log = recorder();
    const w = new StorageWatch({ warnShare: 0.5, repeatMs: 1, log });
    w.note(sample(10, 0, 0));
    w.note(sample(4000, 0, 2 * HOUR));
    expect(log.lines).toEqual([]);
    const s = w.status();
    expect(s.level).toBe('unbounded');
    expect(s.usedShare).toBeUndefined();
    expect(s.fullInHours).toBeUndefined();
    expect(s.growthBytesPerHour).toBe(1995 * MiB);
  });

  test('growth is measured over about the last hour, not since the start', () => {
    const w = new StorageWatch({ warnShare: 0.9, repeatMs: HOUR, log: recorder() });
    w.note(sample(0, 1000, 0));
    for (let m = 1; m <= 180; m++) w.note(sample(m <= 120 ? m : 120, 1000, m * 60_000));
    // Flat for the last hour: no growth, so no time to full.
    expect(w.status().growthBytesPerHour).toBe(0);
    expect(w.status().fullInHours).toBeUndefined();
  });

  test('a failed reading is in the status and logged once per cause; a good one clears it',
    () => {
      const log = recorder();
      const w = new StorageWatch({ warnShare: 0.8, repeatMs: HOUR, log });
      w.failed(new Error('Redis at redis://127.0.0.1:1 did not answer'));
      w.failed(new Error('Redis at redis://127.0.0.1:1 did not answer'));
      expect(log.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
      expect(w.status()).toEqual({
        level: 'unknown', error: 'Redis at redis://127.0.0.1:1 did not answer',
      });
      w.note(sample(1, 300, 0));
      expect(w.status().error).toBeUndefined();
    });

  test('a reading hovering at the threshold logs once: a level is left 2 points below it', () => {
    const log = recorder();
    const w = new StorageWatch({ warnShare: 0.8, repeatMs: HOUR, log });
    for (let i = 0; i < 10; i++) w.note(sample(i % 2 === 0 ? 240.3 : 239.7, 300, i * 30_000));
    expect(log.lines.map((l) => l.level)).toEqual(['warn']);
    expect(w.status().level).toBe('warn');
    w.note(sample(234.5, 300, 400_000)); // 78.2%: still within the margin
    expect(w.status().level).toBe('warn');
    w.note(sample(233.5, 300, 430_000)); // 77.8%
    expect(w.status().level).toBe('ok');
    expect(log.lines.map((l) => l.level)).toEqual(['warn', 'info']);
    // Critical holds down to 93%, then it is a warning again (no new line: warn is lower).
    w.note(sample(286, 300, 460_000));
    w.note(sample(280, 300, 490_000)); // 93.3%
    expect(w.status().level).toBe('critical');
    w.note(sample(278, 300, 520_000)); // 92.7%
    expect(w.status().level).toBe('warn');
    expect(log.lines.map((l) => l.level)).toEqual(['warn', 'info', 'error']);
  });

  test('maxmemory removed while warning: unbounded, without a "back under" line', () => {
    const log = recorder();
    const w = new StorageWatch({ warnShare: 0.8, repeatMs: HOUR, log });
    w.note(sample(250, 300, 0));
    w.note(sample(250, 0, 1000));
    expect(w.status().level).toBe('unbounded');
    expect(log.lines.map((l) => l.level)).toEqual(['warn']);
  });

  test('failures are logged once per error code, whatever their messages', () => {
    const log = recorder();
    const w = new StorageWatch({ warnShare: 0.8, repeatMs: HOUR, log });
    const err = (msg: string, code: string): Error => Object.assign(new Error(msg), { code });
    w.failed(err('connection connecting', 'UNAVAILABLE'));
    w.failed(err('connection reconnecting; last error: ECONNREFUSED', 'UNAVAILABLE'));
    w.failed(err('INFO memory has no used_memory field', 'CORRUPT'));
    expect(log.lines.map((l) => l.level)).toEqual(['warn', 'warn']);
    expect(w.status().error).toBe('INFO memory has no used_memory field');
  });

  test('poll: one reading at a time; none after stop(), and a late answer is dropped', async () => {
    const log = recorder();
    const w = new StorageWatch({ warnShare: 0.8, repeatMs: HOUR, log });
    let calls = 0;
    let answer: (u: Omit<StorageSample, 'at'>) => void = () => undefined;
    const read = (): Promise<Omit<StorageSample, 'at'>> => {
      calls++;
      return new Promise((r) => {
        answer = r;
      });
    };
    w.poll(read, () => 5);
    w.poll(read, () => 5);
    w.poll(read, () => 5);
    expect(calls).toBe(1); // Redis stalls: no second reading queued behind the first
    answer({ usedBytes: MiB, maxBytes: 300 * MiB, slots: 3 });
    await new Promise((r) => setImmediate(r));
    expect(w.status())
      .toMatchObject({ level: 'ok', slots: 3, checkedAt: new Date(5).toISOString() });
    w.poll(read, () => 6);
    expect(calls).toBe(2);
    w.stop();
    answer({ usedBytes: 290 * MiB, maxBytes: 300 * MiB, slots: 4 });
    await new Promise((r) => setImmediate(r));
    w.poll(read, () => 7);
    expect(calls).toBe(2);
    expect(w.status().slots).toBe(3);
    expect(log.lines).toEqual([]);
  });

  test('a warning share outside (0, 0.95) is a RangeError', () => {
    for (const warnShare of [0, 0.95, 1, -0.5, 1.5, Number.NaN]) {
      expect(() => new StorageWatch({ warnShare, repeatMs: 1, log: recorder() }))
        .toThrow(RangeError);
    }
  });
});
