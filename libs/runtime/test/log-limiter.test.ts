import { LogLimiter } from '../src/index.js';

describe('LogLimiter', () => {
  test('logs the first `burst` of a key per window, counts the rest, and reports them once ' +
    'the window ends', () => {
    let now = 0;
    const l = new LogLimiter({ burst: 3, windowMs: 1000, now: () => now });
    const admitted = Array.from({ length: 10 }, () => l.admit('decode:BAD_JSON'));
    expect(admitted).toEqual([true, true, true, false, false, false, false, false, false, false]);
    // Another key has its own budget.
    expect(l.admit('decode:LIMIT')).toBe(true);
    now = 999;
    expect(l.flush()).toEqual([]);
    now = 1000;
    expect(l.flush()).toEqual([{ key: 'decode:BAD_JSON', suppressed: 7, windowMs: 1000 }]);
    // Reported once; a key that stayed within its burst is not reported at all.
    expect(l.flush()).toEqual([]);
    // A new window starts with a fresh burst.
    expect(l.admit('decode:BAD_JSON')).toBe(true);
  });

  test('an occurrence after the window ended starts a new one, and the old window is still ' +
    'reported', () => {
    let now = 0;
    const l = new LogLimiter({ burst: 1, windowMs: 100, now: () => now });
    l.admit('k');
    l.admit('k');
    l.admit('k');
    now = 150;
    expect(l.admit('k')).toBe(true);
    expect(l.admit('k')).toBe(false);
    expect(l.flush()).toEqual([{ key: 'k', suppressed: 2, windowMs: 100 }]);
    now = 250;
    expect(l.flush()).toEqual([{ key: 'k', suppressed: 1, windowMs: 100 }]);
  });

  test('burst 0 logs nothing one by one; bad settings are refused', () => {
    let now = 0;
    const l = new LogLimiter({ burst: 0, windowMs: 10, now: () => now });
    expect(l.admit('k')).toBe(false);
    now = 10;
    expect(l.flush()).toEqual([{ key: 'k', suppressed: 1, windowMs: 10 }]);
    expect(() => new LogLimiter({ burst: -1, windowMs: 10 })).toThrow(/burst/);
    expect(() => new LogLimiter({ burst: 1.5, windowMs: 10 })).toThrow(/burst/);
    expect(() => new LogLimiter({ burst: 1, windowMs: 0 })).toThrow(/windowMs/);
  });
});
