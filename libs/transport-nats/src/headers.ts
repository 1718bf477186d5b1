import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import type { Headers } from '@synod/runtime';

const EMPTY: Headers = Object.freeze(Object.create(null) as Record<string, string>);

/**
 * NATS headers as the port's {@link Headers}: keys lower-cased, whatever case the sender used
 * (`MsgHdrs.get()` is case-sensitive and answers `""` for a missing key, so it is never used).
 * Values of keys that differ only by case, or repeat, are joined with `, ` as HTTP does. The
 * record has no prototype, so a lookup of `constructor` or `__proto__` finds nothing.
 */
export function fromNatsHeaders(h: MsgHdrs | undefined): Headers {
  if (h === undefined) return EMPTY;
  const out = Object.create(null) as Record<string, string>;
  let any = false;
  for (const [key, values] of h) {
    const k = key.toLowerCase();
    const v = values.join(', ');
    out[k] = out[k] === undefined ? v : `${out[k]}, ${v}`;
    any = true;
  }
  return any ? out : EMPTY;
}

/** The port's {@link Headers} as NATS headers, keys lower-cased; undefined when empty. */
export function toNatsHeaders(h: Headers | undefined): MsgHdrs | undefined {
  if (h === undefined) return undefined;
  let out: MsgHdrs | undefined;
  for (const [k, v] of Object.entries(h)) {
    out ??= natsHeaders();
    out.set(k.toLowerCase(), v);
  }
  return out;
}
