/** Small helpers for deadlines, jittered back-off and abortable waits. Internal to the lib. */

/** Resolves after `ms`, or early (with false) when `signal` aborts; true when it slept fully. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted === true) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Exponential back-off with "equal jitter": attempt 1 waits about `baseMs`, each further
 * attempt doubles it up to `capMs`, and the actual wait is uniform in [d/2, d] so that many
 * clients that failed together do not retry together.
 */
export function backoffMs(attempt: number, baseMs: number, capMs: number): number {
  const d = Math.min(capMs, baseMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return d / 2 + Math.random() * (d / 2);
}

/** The value `race` resolves with when the signal aborted first. */
export const ABORTED: unique symbol = Symbol('aborted');

/**
 * Waits for `p` or for `signal` to abort, whichever comes first. A promise left behind by an
 * abort is still observed, so its eventual rejection is never reported as unhandled.
 */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.resolve(ABORTED);
  }
  return new Promise<T | typeof ABORTED>((resolve, reject) => {
    const onAbort = (): void => {
      p.catch(() => undefined);
      resolve(ABORTED);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Combines signals: aborts when any of them does. */
export function anySignal(signals: readonly (AbortSignal | undefined)[]): AbortSignal {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  if (present.length === 1 && present[0] !== undefined) return present[0];
  return AbortSignal.any(present);
}

/** Throws a RangeError unless `n` is a non-negative safe integer (a slot, a seq). */
export function checkUint(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`${what} must be a non-negative safe integer, got ${String(n)}`);
  }
}

/**
 * Throws a RangeError unless `n` is a seq: a safe integer of at least 1. Seq 0 is refused: the
 * deduplicators that apply the log count every seq up to their floor, which starts at 0, as
 * seen, so a command with seq 0 would be chosen and never applied.
 */
export function checkSeq(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`${what} must be a safe integer of at least 1 (seqs start at 1: ` +
      `seq 0 counts as already seen when the log is applied), got ${String(n)}`);
  }
}

/** Throws a RangeError unless `ms` is a positive finite number of milliseconds. */
export function checkMs(ms: number, what: string): void {
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new RangeError(`${what} must be a positive number of milliseconds, got ${String(ms)}`);
  }
}
