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

  test('a warning share outside (0, 1) is a RangeError', () => {
    for (const warnShare of [0, 1, -0.5, 1.5, Number.NaN]) {
      expect(() => new StorageWatch({ warnShare, repeatMs: 1, log: recorder() }))
        .toThrow(RangeError);
    }
  });
});
