import type { HrTime } from '@opentelemetry/api';

const ORIGIN_MS = performance.timeOrigin;
const ORIGIN_S = Math.floor(ORIGIN_MS / 1000);
const ORIGIN_NS = Math.round((ORIGIN_MS - ORIGIN_S * 1000) * 1e6);

/**
 * Now, as `[seconds, nanoseconds]` since the epoch, from the monotonic clock and one fixed
 * origin. Every span time Synod records comes from here: the SDK's default start time is
 * `Date.now()`, whole milliseconds with a per-span correction, which cannot order a Redis
 * write's end against the send that follows it a few microseconds later.
 */
export function hrNow(): HrTime {
  const ms = performance.now();
  const whole = Math.floor(ms);
  let s = ORIGIN_S + Math.floor(whole / 1000);
  let ns = ORIGIN_NS + (whole % 1000) * 1e6 + Math.round((ms - whole) * 1e6);
  if (ns >= 1e9) {
    s += Math.floor(ns / 1e9);
    ns %= 1e9;
  }
  return [s, ns];
}
