/**
 * What a slot holds. A client command is identified by `(clientId, seq)`: a retried request
 * carries the same pair, which is how proposers and state machines recognise a retry.
 */
export interface Command {
  /** Stable id of the client that issued the command. */
  readonly clientId: string;
  /** Per-client sequence number; a retry reuses it. */
  readonly seq: number;
  /** Opaque application payload (UTF-8 text). */
  readonly payload: string;
}

/**
 * A slot's value: a no-op (used to fill gaps after a leader change) or a batch of commands.
 *
 * A batch may carry the `stamp` of the leader that proposed it: its wall clock in milliseconds
 * when it formed the batch, raised to the highest stamp it had seen decided or adopted. The
 * protocol never reads it; state machines on the log (leases, see `@synod/election`) take
 * their time from it, so that every learner computes the same result without a clock of its
 * own. A value re-proposed by a later leader (P2c) keeps its stamp: the stamp is part of it.
 */
export type Value =
  | { readonly kind: 'noop' }
  | { readonly kind: 'cmds'; readonly cmds: readonly Command[]; readonly stamp?: number };

/** The one no-op value. */
export const NOOP: Value = Object.freeze({ kind: 'noop' });

/** `clientId#seq`, the identity of a command. */
export function commandKey(c: { readonly clientId: string; readonly seq: number }): string {
  return `${c.clientId}#${c.seq}`;
}

/** Structural equality of two values (same commands in the same order, same stamp). */
export function valueEquals(a: Value, b: Value): boolean {
  if (a.kind === 'noop' || b.kind === 'noop') return a.kind === b.kind;
  if (a.cmds.length !== b.cmds.length || a.stamp !== b.stamp) return false;
  for (let i = 0; i < a.cmds.length; i++) {
    const x = a.cmds[i] as Command;
    const y = b.cmds[i] as Command;
    if (x.clientId !== y.clientId || x.seq !== y.seq || x.payload !== y.payload) return false;
  }
  return true;
}

/** Short human form: `noop` or `[c1#4,c2#9]` (the stamp, if any, is not shown). */
export function describeValue(v: Value): string {
  if (v.kind === 'noop') return 'noop';
  return `[${v.cmds.map(commandKey).join(',')}]`;
}
