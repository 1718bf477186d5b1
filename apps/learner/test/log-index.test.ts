import { DEDUPE_MAX_CLIENTS, type Decision } from '@synod/protocol';
import { LogIndex } from '../src/log-index.js';

/** Slot `slot` holding `cmds`. */
const slot = (s: number, cmds: { clientId: string; seq: number }[]): Decision => ({
  slot: s, value: { kind: 'cmds', cmds: cmds.map((c) => ({ ...c, payload: 'p' })) },
});

/**
 * A log of `clients` one-command clients in batches of 256 (the load that ran the learner out
 * of memory), with copies of early and recent commands (as a retry that raced a leader change
 * lands) spread through it.
 */
function log(clients: number): Decision[] {
  const out: Decision[] = [];
  let next = 0;
  for (let s = 0; next < clients; s++) {
    const cmds = Array.from({ length: Math.min(256, clients - next) },
      (_, i) => ({ clientId: `c-${next + i}`, seq: 1 }));
    next += cmds.length;
    // A copy of a command from 2 slots back: always caught.
    if (s >= 2) cmds.push({ clientId: `c-${next - cmds.length - 300}`, seq: 1 });
    out.push(slot(s, cmds));
  }
  // A copy of the very first command, more than DEDUPE_MAX_CLIENTS clients later: forgotten.
  const last = { clientId: `c-${clients - 1}`, seq: 1 };
  out.push(slot(out.length, [{ clientId: 'c-0', seq: 1 }, last]));
  return out;
}

describe('LogIndex dups with a bounded deduplicator', () => {
  const decisions = log(DEDUPE_MAX_CLIENTS + 30_000);

  test('memory is bounded: at most DEDUPE_MAX_CLIENTS clients are held', () => {
    const idx = new LogIndex();
    for (const d of decisions) idx.add(d);
    expect(idx.dedupeStatus().clients).toBe(DEDUPE_MAX_CLIENTS);
    expect(idx.dedupeStatus().forgotten).toBeGreaterThan(30_000 - 1);
  });

  test('copies within the bound are marked; a copy of a long-forgotten client is not', () => {
    const idx = new LogIndex();
    for (const d of decisions) idx.add(d);
    for (const d of decisions.slice(2, -1)) {
      const n = d.value.kind === 'cmds' ? d.value.cmds.length : 0;
      expect(idx.entry(d).dups).toEqual([n - 1]);
    }
    // c-0 was forgotten (more than DEDUPE_MAX_CLIENTS clients since); the latest client was not.
    expect(idx.entry(decisions.at(-1) as Decision).dups).toEqual([1]);
  });

  test('every learner, and a rebuild after a restart, marks the same dups', () => {
    const a = new LogIndex();
    const b = new LogIndex();
    for (const d of decisions) a.add(d);
    for (const d of decisions) b.add(d);
    expect(decisions.map((d) => b.entry(d).dups)).toEqual(decisions.map((d) => a.entry(d).dups));
  });
});
