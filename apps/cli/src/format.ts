import type { ClusterStatus, LogEntry, Proposed, ReadReply, ServiceStatus } from '@synod/client';
import { type Ballot, describeBallot } from '@synod/protocol';

/**
 * A payload as one terminal-safe token: as is when it is printable, else JSON-quoted so that
 * newlines and control characters cannot forge extra lines.
 */
export function showPayload(s: string): string {
  return /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(s) ? JSON.stringify(s) : s;
}

/** Lines of one decided slot: one per command (`slot 12  [c-1#1] hello`), or the no-op. */
export function entryLines(e: LogEntry): string[] {
  const head = `slot ${e.slot}`;
  if (e.value.kind === 'noop') return [`${head}  (no-op)`];
  const dups = new Set(e.dups ?? []);
  return e.value.cmds.map((c, i) =>
    `${head}  [${c.clientId}#${c.seq}] ${showPayload(c.payload)}` +
    (dups.has(i) ? '  (duplicate of an earlier slot: skipped)' : ''));
}

/** One JSON line: the entry as the learner gave it. */
export function entryJson(e: LogEntry): string {
  return JSON.stringify({ slot: e.slot, value: e.value, ...(e.dups ? { dups: e.dups } : {}) });
}

/**
 * `chosen slot=12 request=c-…#1 (3.2 ms)`: the request id (`clientId#seq`) is what
 * `synod trace` takes, and with `--client-id` and `--seq` what retries the command.
 */
export function proposedLine(p: Proposed, ms: number): string {
  return `chosen slot=${p.slot} request=${p.clientId}#${p.seq} (${ms.toFixed(1)} ms)`;
}

/** The JSON form of a chosen proposal. */
export function proposedJson(p: Proposed, ms: number): string {
  return JSON.stringify({ status: 'chosen', slot: p.slot, clientId: p.clientId, seq: p.seq,
    requestId: `${p.clientId}#${p.seq}`, ms: Math.round(ms * 10) / 10 });
}

/** Human lines of a range read: its entries, then where that learner stands. */
export function rangeLines(r: ReadReply, fromSlot: number): string[] {
  const lines = r.entries.flatMap(entryLines);
  const n = r.entries.length;
  const what = n === 0 ? `no decided slot from ${fromSlot}` : `${n} slot${n === 1 ? '' : 's'}`;
  lines.push(`(${what}; learner ${r.learner} has delivered every slot below ${r.nextSlot})`);
  return lines;
}

function isBallot(x: unknown): x is Ballot {
  return typeof x === 'object' && x !== null && 'round' in x && 'proposer' in x &&
    'incarnation' in x;
}

const ballotText = (x: unknown): string => (isBallot(x) ? describeBallot(x) : '-');
const num = (x: unknown): string => (typeof x === 'number' ? String(x) : '?');

/** Why an acceptor does not vote, as its status says; null when it votes or says nothing. */
function refusalOf(s: ServiceStatus): string | null {
  return s.role === 'acceptor' && s['voting'] !== true && typeof s['refusal'] === 'string' &&
    s['refusal'] !== '' ? s['refusal'] : null;
}

/** The state, ballot and slot columns of one service. */
function columns(s: ServiceStatus): [string, string, string] {
  switch (s.role) {
    case 'proposer': {
      const state = typeof s['state'] === 'string' ? s['state'] : '?';
      const leader = typeof s['leader'] === 'string' && state !== 'leader'
        ? ` (leader ${s['leader']})` : '';
      const compact = typeof s['compactBelow'] === 'number' && s['compactBelow'] > 0
        ? `, compacts below ${s['compactBelow']}` : '';
      return [`${state}${leader}`, ballotText(s['ballot']),
        `first unknown ${num(s['firstUnknown'])}, pending ${num(s['pending'])}, ` +
        `in flight ${num(s['inflight'])}${compact}`];
    }
    case 'acceptor': {
      // The reason (often a few hundred characters) goes under the table: see refusalNotes.
      const code = /^([A-Z][A-Z0-9_]*):/.exec(refusalOf(s) ?? '')?.[1];
      const state = s['voting'] === true ? 'voting'
        : `NOT VOTING${code === undefined ? '' : ` (${code})`}`;
      const floor = typeof s['floor'] === 'number' && s['floor'] > 0
        ? `, floor ${s['floor']}` : '';
      return [state, ballotText(s['promised']), `accepted ${num(s['acceptedSlots'])}${floor}`];
    }
    case 'learner': {
      // How full its Redis is, when it has a maxmemory (docs/operations.md#learner-storage).
      const st = typeof s['storage'] === 'object' && s['storage'] !== null
        ? s['storage'] as Record<string, unknown> : {};
      const share = typeof st['usedShare'] === 'number'
        ? `${Math.round(st['usedShare'] * 100)}%` : null;
      const state = share !== null && st['level'] === 'critical' ? `learning, STORE ${share} FULL`
        : share !== null && st['level'] === 'warn' ? `learning, store ${share} full` : 'learning';
      return [state, '-', `next ${num(s['nextSlot'])}, highest known ` +
        `${num(s['highestKnown'])}${share === null ? '' : `, store ${share} of maxmemory`}`];
    }
  }
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) =>
    r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}

/** The status table and its summary line. */
export function statusLines(st: ClusterStatus, expectedAcceptors?: number): string[] {
  const rows = [['ROLE', 'ID', 'STATE', 'BALLOT', 'SLOTS'],
    ...st.services.map((s) => [s.role, s.id, ...columns(s)])];
  const answering = st.acceptorsAnswering.length;
  const total = expectedAcceptors === undefined ? '' : `/${expectedAcceptors}`;
  const summary = `leader ${st.leader ?? 'none'} · acceptors answering ${answering}${total} ` +
    `(${st.voting.length} voting) · last chosen slot ${st.lastChosenSlot ?? 'none'}` +
    (st.learnersAnswering === 0 ? ' · no learner answered'
      : st.learnedUpTo !== st.lastChosenSlot ? ` · learners have up to ${st.learnedUpTo ?? 'none'}`
        : '');
  // Each refusal on its own line under the table, so that the table stays narrow.
  const notes = st.services.flatMap((s) => {
    const why = refusalOf(s);
    return why === null ? [] : [`${s.id} does not vote: ${why}`];
  });
  for (const d of st.duplicates) {
    notes.push(`WARNING: more than one process answers as ${d.replace('/', ' ')}: node ids must ` +
      'be unique in a cluster (two clusters of one name on one NATS?); the table shows one');
  }
  return [...table(rows), ...(notes.length > 0 ? ['', ...notes] : []), '', summary];
}

/** The JSON form of the status: one object. */
export function statusJson(st: ClusterStatus, expectedAcceptors?: number): string {
  return JSON.stringify({
    leader: st.leader, acceptorsAnswering: st.acceptorsAnswering,
    ...(expectedAcceptors === undefined ? {} : { acceptorsExpected: expectedAcceptors }),
    voting: st.voting, lastChosenSlot: st.lastChosenSlot, learnedUpTo: st.learnedUpTo,
    ...(st.duplicates.length === 0 ? {} : { duplicates: st.duplicates }),
    services: st.services,
  });
}

/** Quotes a word for a POSIX shell when it needs it. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}
