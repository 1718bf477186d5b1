/**
 * Test-only fast-check arbitraries for valid messages (not exported from the lib). Sizes are
 * kept small so 10,000-run properties stay fast; boundaries (2^53 - 1, 64-character ids) are
 * mixed in on purpose.
 */
import fc from 'fast-check';
import {
  type AcceptedEntry,
  type Ballot,
  type Command,
  commandKey,
  type Message,
  type Outcome,
  type Value,
} from '@synod/protocol';
import type { ProposeBatch } from '../client-api.js';

/** Records with the ordinary prototype (fast-check also makes null-prototype ones). */
function rec<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

const TOKEN_CHARS = [
  ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-',
];

/** 1 to `max` characters of `[A-Za-z0-9_-]`, often short, sometimes exactly `max`. */
export function tokenArb(max: number): fc.Arbitrary<string> {
  const unit = fc.constantFrom(...TOKEN_CHARS);
  return fc.oneof(
    { weight: 8, arbitrary: fc.string({ unit, minLength: 1, maxLength: 8 }) },
    { weight: 1, arbitrary: fc.string({ unit, minLength: 1, maxLength: max }) },
    { weight: 1, arbitrary: fc.string({ unit, minLength: max, maxLength: max }) },
  );
}

/** A valid node id (cluster names follow the same rule). */
export const nodeIdArb = tokenArb(64);
/** A valid client id. */
export const clientIdArb = tokenArb(128);

/** A non-negative safe integer, biased towards small values and the 2^53 - 1 boundary. */
export const uintArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 6, arbitrary: fc.nat({ max: 1000 }) },
  { weight: 2, arbitrary: fc.maxSafeNat() },
  {
    weight: 1,
    arbitrary: fc.constantFrom(0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1, 2 ** 32),
  },
);

/** A valid ballot. */
export const ballotArb: fc.Arbitrary<Ballot> = rec({
  round: uintArb,
  proposer: nodeIdArb,
  incarnation: uintArb,
});

/** Well-formed Unicode text (no lone surrogates), including astral characters. */
export const payloadArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
);

/** A valid command. */
export const commandArb: fc.Arbitrary<Command> = rec({
  clientId: clientIdArb,
  seq: uintArb,
  payload: payloadArb,
});

/** A valid command as a client sends it (a request, a propose batch): seq at least 1. */
export const clientCommandArb: fc.Arbitrary<Command> = commandArb
  .map((c) => (c.seq === 0 ? { ...c, seq: 1 } : c));

/** A valid value: a no-op or a batch of 1 to 5 commands, with or without a leader stamp. */
export const valueArb: fc.Arbitrary<Value> = fc.oneof(
  fc.constant<Value>({ kind: 'noop' }),
  fc.tuple(fc.array(commandArb, { minLength: 1, maxLength: 5 }), fc.option(uintArb))
    .map(([cmds, stamp]): Value =>
      (stamp === null ? { kind: 'cmds', cmds } : { kind: 'cmds', cmds, stamp })),
);

/** A valid accepted entry. */
export const entryArb: fc.Arbitrary<AcceptedEntry> = rec({
  slot: uintArb,
  ballot: ballotArb,
  value: valueArb,
});

/** A valid outcome. */
export const outcomeArb: fc.Arbitrary<Outcome> = fc.oneof(
  rec({ status: fc.constant('chosen' as const), slot: uintArb }),
  rec({ status: fc.constant('redirect' as const), leader: fc.option(nodeIdArb) }),
  fc.constant<Outcome>({ status: 'overloaded' }),
  rec({ status: fc.constant('conflict' as const), slot: uintArb }),
);

const optTo = fc.option(nodeIdArb, { nil: undefined });

/** A catch-up range: fromSlot <= toSlot. */
const rangeArb = fc.tuple(uintArb, uintArb).map(([a, b]) => (a <= b ? [a, b] : [b, a]));

/** Every message type, valid. */
export const messageArb: fc.Arbitrary<Message> = fc.oneof(
  rec({ from: nodeIdArb, ballot: ballotArb, fromSlot: uintArb })
    .chain((r) => fc.option(uintArb, { nil: undefined }).map((recovery): Message => ({
      type: 'prepare', ...r, ...(recovery === undefined ? {} : { recovery }),
    }))),
  rec({
    from: nodeIdArb, to: nodeIdArb, ballot: ballotArb, fromSlot: uintArb,
    accepted: fc.array(entryArb, { maxLength: 4 }),
  }).chain((r) => fc.tuple(fc.option(uintArb, { nil: undefined }),
    fc.option(uintArb, { nil: undefined }), fc.option(uintArb, { nil: undefined }))
    .map(([upTo, floor, recovery]): Message => ({
      type: 'promise', ...r, ...(upTo === undefined ? {} : { upTo }),
      ...(floor === undefined ? {} : { floor }),
      ...(recovery === undefined ? {} : { recovery }),
    }))),
  rec({
    from: nodeIdArb, to: nodeIdArb, ballot: ballotArb, promised: ballotArb,
    slot: fc.option(uintArb),
  }).map((r): Message => ({ type: 'nack', ...r })),
  rec({ from: nodeIdArb, ballot: ballotArb, slot: uintArb, value: valueArb })
    .chain((r) => fc.tuple(optTo, fc.option(uintArb, { nil: undefined }))
      .map(([to, compactBelow]): Message => ({
        type: 'accept', from: r.from, ...(to === undefined ? {} : { to }), ballot: r.ballot,
        slot: r.slot, value: r.value, ...(compactBelow === undefined ? {} : { compactBelow }),
      }))),
  fc.tuple(fc.constantFrom('accepted' as const, 'chosen' as const), nodeIdArb, optTo, ballotArb,
    uintArb, valueArb)
    .map(([type, from, to, ballot, slot, value]): Message =>
      to === undefined
        ? { type, from, ballot, slot, value }
        : { type, from, to, ballot, slot, value }),
  rec({ from: nodeIdArb, ballot: ballotArb, chosenUpTo: uintArb })
    .chain((r) => fc.option(uintArb, { nil: undefined }).map((compactBelow): Message => ({
      type: 'heartbeat', ...r, ...(compactBelow === undefined ? {} : { compactBelow }),
    }))),
  rec({ from: nodeIdArb, nextSlot: uintArb }).map((r): Message => ({ type: 'progress', ...r })),
  fc.tuple(nodeIdArb, rangeArb)
    .map(([from, [fromSlot = 0, toSlot = 0]]): Message =>
      ({ type: 'catchup', from, fromSlot, toSlot })),
  fc.tuple(nodeIdArb, optTo, clientCommandArb)
    .map(([from, to, cmd]): Message =>
      to === undefined ? { type: 'request', from, cmd } : { type: 'request', from, to, cmd }),
  rec({
    from: nodeIdArb, to: nodeIdArb, clientId: clientIdArb, seq: uintArb, outcome: outcomeArb,
  }).map((r): Message => ({ type: 'response', ...r })),
);

const hex = (n: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });

/** A W3C `traceparent`: version, trace id, span id, flags (lowercase hex). */
export const traceparentArb: fc.Arbitrary<string> = fc.tuple(hex(2), hex(32), hex(16), hex(2))
  .map((p) => p.join('-'));

/** A valid propose batch: 1 to 8 commands with distinct `clientId#seq`, traces or not. */
export const proposeBatchArb: fc.Arbitrary<ProposeBatch> = fc
  .uniqueArray(clientCommandArb.filter((c) => c.clientId.length <= 64),
    { minLength: 1, maxLength: 8, selector: (c) => commandKey(c) })
  .chain((cmds) => fc.option(fc.array(fc.option(traceparentArb),
    { minLength: cmds.length, maxLength: cmds.length }), { nil: undefined })
    .map((traces): ProposeBatch => (traces === undefined ? { cmds } : { cmds, traces })));

/** A seed for this run: `SYNOD_SEED` when set (to replay), else a fresh one. */
export function runSeed(): number {
  const env = process.env['SYNOD_SEED'];
  if (env !== undefined && env !== '') return Number(env) | 0;
  return (Date.now() ^ (process.pid << 16)) | 0;
}

/**
 * `fc.assert` with a fixed seed; on failure the error names the seed and the environment
 * variable that replays it (fast-check adds the counterexample and its shrink path).
 */
export function assertSeeded<T>(
  prop: fc.IProperty<T>,
  seed: number,
  numRuns: number,
  label: string,
): void {
  try {
    fc.assert(prop, { seed, numRuns });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`${label} failed; replay with SYNOD_SEED=${seed}\n${msg}`, { cause: e });
  }
}
