import { type Limits, resolveLimits, valueBudgetBytes } from '@synod/codec';

/**
 * What a driver's wire limits allow a core to put in one message: pass these to the cores it
 * drives, so that every message they emit can be encoded (a message that cannot is dropped by
 * {@link CoreDriver}, and a value or a promise that never fits is retried forever).
 */
export interface WireBudget {
  /** A proposer's `maxValueBytes`: the byte budget of one slot's value. */
  readonly maxValueBytes: number;
  /** An acceptor's `maxPromiseBytes`: the byte budget of one promise's report. */
  readonly maxPromiseBytes: number;
  /** The ceiling of a proposer's `maxBatch`: most commands in one value. */
  readonly maxCommandsPerValue: number;
  /** The ceiling of an acceptor's `maxPromiseEntries`: most votes in one promise. */
  readonly maxAcceptedEntries: number;
}

/**
 * The {@link WireBudget} of `limits` (the defaults when absent, as for a driver without
 * `limits`). Throws a `RangeError` when the limits cannot carry one command of
 * `maxPayloadBytes` in a message (see `valueBudgetBytes`).
 */
export function wireBudget(limits?: Partial<Limits>): WireBudget {
  const lim = resolveLimits(limits);
  const bytes = valueBudgetBytes(lim);
  return {
    maxValueBytes: bytes,
    maxPromiseBytes: bytes,
    maxCommandsPerValue: lim.maxCommandsPerValue,
    maxAcceptedEntries: lim.maxAcceptedEntries,
  };
}
