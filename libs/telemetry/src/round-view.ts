import { Attr, EventName, SpanName } from './names.js';
import { compareNs, diffMs, type StoredSpan } from './stored-span.js';

/** Which round to show: the one that decided a request (`clientId#seq`), or a slot's. */
export type RoundQuery = { readonly requestId: string } | { readonly slot: number };

/** What happens at one moment on a lane. */
export type ItemKind = 'send' | 'recv' | 'write' | 'quorum' | 'mark';

/** One thing on a lane: a message sent or received, a Redis write, the quorum moment. */
export interface LaneItem {
  readonly kind: ItemKind;
  /** Milliseconds from the start of the view. */
  readonly atMs: number;
  /** End of a Redis write, in milliseconds from the start of the view. */
  readonly endMs?: number;
  readonly label: string;
}

/** One service's line of the view. */
export interface Lane {
  /** The node id (`p1`, `a2`, a client id), or the service name. */
  readonly id: string;
  readonly service: string;
  readonly items: readonly LaneItem[];
}

/** A round, laid out for the terminal. */
export interface RoundView {
  readonly traceId: string;
  readonly slot: number | null;
  readonly ballot: string | null;
  readonly outcome: string | null;
  readonly requestIds: readonly string[];
  /** `cmds` or `noop` (the round span's `synod.value.kind`), null when not recorded. */
  readonly valueKind: string | null;
  /** Commands decided together in the slot (1 unless batched). */
  readonly batchSize: number;
  readonly lanes: readonly Lane[];
  readonly durationMs: number;
  /** When the proposer saw a quorum, from the start of the view. */
  readonly quorumMs: number | null;
  readonly spans: number;
}

const str = (s: StoredSpan, k: string): string | null => {
  const v = s.attributes[k];
  return typeof v === 'string' ? v : null;
};
const num = (s: StoredSpan, k: string): number | null => {
  const v = s.attributes[k];
  return typeof v === 'number' ? v : null;
};

/**
 * The round to show among `list`: the first whose outcome is `chosen`, by ballot round, then
 * start (a later leader that re-proposes a recovered value also ends `chosen`; the first is
 * the round that chose it), else the latest attempt.
 */
function pickRound(list: readonly StoredSpan[]): StoredSpan | null {
  const chosen = list.filter((s) => str(s, Attr.Outcome) === 'chosen');
  // By ballot round first: start times come from the clocks of different proposers.
  const round = (s: StoredSpan): number => num(s, Attr.BallotRound) ?? Number.MAX_SAFE_INTEGER;
  if (chosen.length > 0) {
    return [...chosen].sort((a, b) => round(a) - round(b) || compareNs(a.start, b.start))[0] ??
      null;
  }
  return [...list].sort((a, b) => compareNs(b.start, a.start))[0] ?? null;
}

function findRoundSpan(spans: readonly StoredSpan[], q: RoundQuery,
  byId: Map<string, StoredSpan>): StoredSpan | null {
  const rounds = spans.filter((s) => s.name === SpanName.Round);
  if ('slot' in q) return pickRound(rounds.filter((s) => num(s, Attr.Slot) === q.slot));
  const requests = spans.filter((s) => str(s, Attr.RequestId) === q.requestId);
  const ids = new Set(requests.map((s) => s.spanId));
  const mine = rounds.filter((r) => {
    if (r.links.some((l) => ids.has(l.spanId))) return true;
    for (let p = r.parentSpanId; p !== null;) {
      if (ids.has(p)) return true;
      p = byId.get(p)?.parentSpanId ?? null;
    }
    return false;
  });
  return pickRound(mine);
}

/** The spans that tell the story of `round`: its subtree, its ancestors, their replies. */
function storyOf(round: StoredSpan, trace: readonly StoredSpan[],
  byId: Map<string, StoredSpan>): StoredSpan[] {
  const children = new Map<string, StoredSpan[]>();
  for (const s of trace) {
    if (s.parentSpanId === null) continue;
    const list = children.get(s.parentSpanId) ?? [];
    list.push(s);
    children.set(s.parentSpanId, list);
  }
  const ancestors: StoredSpan[] = [];
  for (let p = round.parentSpanId; p !== null;) {
    const s = byId.get(p);
    if (s === undefined || s.traceId !== round.traceId) break;
    ancestors.push(s);
    p = s.parentSpanId;
  }
  // A request (or the client's call) heads the story when there is one: its whole subtree,
  // which holds the reply too. A no-op round's story is its own subtree.
  const heads = ancestors.filter((s) => s.name === SpanName.Request || s.name === SpanName.Propose);
  const top = heads[heads.length - 1] ?? round;
  const out = new Map<string, StoredSpan>();
  for (const a of ancestors) out.set(a.spanId, a);
  const stack = [top];
  while (stack.length > 0) {
    const s = stack.pop() as StoredSpan;
    out.set(s.spanId, s);
    for (const c of children.get(s.spanId) ?? []) {
      // Other phases of a leadership are not this round's story.
      if (c.name === SpanName.Round && c.spanId !== round.spanId && top === round) continue;
      stack.push(c);
    }
  }
  return [...out.values()];
}

function itemsOf(s: StoredSpan, at: (ns: string) => number): LaneItem[] {
  const out: LaneItem[] = [];
  const peer = (e: { attributes: Readonly<Record<string, unknown>> }): string => {
    const t = e.attributes[Attr.MessageType];
    const p = e.attributes[Attr.Peer];
    return `${typeof t === 'string' ? t : 'message'} from ${typeof p === 'string' ? p : '?'}`;
  };
  const slot = num(s, Attr.Slot);
  switch (s.name) {
    case SpanName.Propose:
      out.push({ kind: 'send', atMs: at(s.start),
        label: `propose ${str(s, Attr.RequestId) ?? ''}` });
      out.push({ kind: 'recv', atMs: at(s.end), label: `answer: ${str(s, Attr.Outcome) ?? '?'}` +
        (slot === null ? '' : ` slot ${slot}`) });
      break;
    case SpanName.Request:
      out.push({ kind: 'recv', atMs: at(s.start),
        label: `request ${str(s, Attr.RequestId) ?? ''} from ${str(s, Attr.Peer) ?? '?'}` });
      break;
    case SpanName.Phase1:
    case SpanName.Round:
      out.push({ kind: 'mark', atMs: at(s.start), label: s.name === SpanName.Round
        ? `round: slot ${slot ?? '?'} at ballot ${str(s, Attr.Ballot) ?? '?'}`
        : `phase 1 at ballot ${str(s, Attr.Ballot) ?? '?'}` });
      break;
    case SpanName.AcceptorAccept:
    case SpanName.AcceptorPrepare:
      out.push({ kind: 'recv', atMs: at(s.start), label: `${str(s, Attr.MessageType) ?? '?'} ` +
        `from ${str(s, Attr.Peer) ?? '?'} -> ${str(s, Attr.Outcome) ?? '?'}` });
      break;
    case SpanName.Persist:
      out.push({ kind: 'write', atMs: at(s.start), endMs: at(s.end),
        label: `redis write ${diffMs(s.start, s.end).toFixed(3)} ms` });
      break;
    case SpanName.Decide:
      break;
    default:
      if (s.kind === 'producer') {
        const dest = str(s, Attr.MessagingDestination);
        out.push({ kind: 'send', atMs: at(s.start), label: `${str(s, Attr.MessageType) ?? '?'}` +
          (dest === null ? '' : ` -> ${dest}`) });
      }
  }
  for (const e of s.events) {
    if (e.name === EventName.Received) out.push({ kind: 'recv', atMs: at(e.time), label: peer(e) });
    else if (e.name === EventName.Quorum) {
      const what = s.name === SpanName.Phase1 ? 'QUORUM of promises: leader'
        : s.name === SpanName.Decide ? `QUORUM: slot ${slot ?? '?'} decided`
          : `QUORUM: slot ${slot ?? '?'} chosen`;
      out.push({ kind: 'quorum', atMs: at(e.time), label: what });
    } else if (e.name === EventName.Delivered) {
      out.push({ kind: 'mark', atMs: at(e.time), label: `slot ${slot ?? '?'} delivered` });
    }
  }
  return out;
}

const ROLE_ORDER = ['client', 'proposer', 'acceptor', 'learner'];

function roleOf(s: StoredSpan): string {
  const r = str(s, Attr.Role);
  if (r !== null) return r;
  return s.name === SpanName.Propose ? 'client' : s.service;
}

/**
 * Finds the round a request was decided in (or a slot's round) among stored spans and lays it
 * out as lanes, one per service, with offsets in milliseconds from the first span; null when
 * no such round is among the spans.
 */
export function findRound(spans: readonly StoredSpan[], q: RoundQuery): RoundView | null {
  const byId = new Map<string, StoredSpan>();
  for (const s of spans) byId.set(s.spanId, s);
  const round = findRoundSpan(spans, q, byId);
  if (round === null) return null;
  const story = storyOf(round, spans.filter((s) => s.traceId === round.traceId), byId);
  const t0 = story.reduce((m, s) => (compareNs(s.start, m) < 0 ? s.start : m), round.start);
  const at = (ns: string): number => diffMs(t0, ns);
  const lanes = new Map<string, { id: string; service: string; role: string; items: LaneItem[] }>();
  for (const s of story) {
    const id = str(s, Attr.NodeId) ?? s.node ?? s.service;
    let lane = lanes.get(id);
    if (lane === undefined) {
      lane = { id, service: s.service, role: roleOf(s), items: [] };
      lanes.set(id, lane);
    }
    lane.items.push(...itemsOf(s, at));
  }
  const ordered = [...lanes.values()].sort((a, b) =>
    (ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role)) || a.id.localeCompare(b.id));
  for (const l of ordered) l.items.sort((a, b) => a.atMs - b.atMs);
  const end = story.reduce((m, s) => (compareNs(s.end, m) > 0 ? s.end : m), round.end);
  const quorum = round.events.find((e) => e.name === EventName.Quorum);
  const requestIds = [...new Set(story.map((s) => str(s, Attr.RequestId))
    .filter((x): x is string => x !== null))];
  return {
    traceId: round.traceId, slot: num(round, Attr.Slot), ballot: str(round, Attr.Ballot),
    outcome: str(round, Attr.Outcome), requestIds, valueKind: str(round, Attr.ValueKind),
    batchSize: num(round, Attr.BatchSize) ?? 0,
    lanes: ordered.map(({ id, service, items }) => ({ id, service, items })),
    durationMs: at(end), quorumMs: quorum === undefined ? null : at(quorum.time),
    spans: story.length,
  };
}

const GLYPH: Readonly<Record<ItemKind, string>> = {
  send: '>', recv: '<', write: '#', quorum: '*', mark: '|',
};
const RANK: Readonly<Record<string, number>> = { '*': 4, '#': 3, '>': 2, '<': 2, '|': 1, '.': 0 };

/**
 * The view as terminal lines: a header, a time chart with one row per lane (`>` sent,
 * `<` received, `#` Redis write, `*` the quorum moment, `|` a phase starting), then every item
 * of every lane with its offset in milliseconds.
 */
export function renderRound(v: RoundView, width = 64): string[] {
  const w = Math.max(16, width);
  const span = v.durationMs > 0 ? v.durationMs : 1;
  const col = (ms: number): number =>
    Math.min(w - 1, Math.max(0, Math.round((ms / span) * (w - 1))));
  const idWidth = Math.max(6, ...v.lanes.map((l) => l.id.length));
  const lines: string[] = [];
  const req = v.requestIds.length > 0 ? v.requestIds.join(', ')
    : v.valueKind === 'cmds' ? 'no client request in this round (a value recovered from an ' +
      'earlier ballot, proposed again)'
      : v.valueKind === 'noop' ? 'no client request (no-op)' : 'no client request';
  lines.push(`round of slot ${v.slot ?? '?'} at ballot ${v.ballot ?? '?'}: ` +
    `${v.outcome ?? 'unfinished'} · ${req}` +
    (v.batchSize > 1 ? ` · batch of ${v.batchSize} commands` : ''));
  lines.push(`trace ${v.traceId} · ${v.spans} spans · ${v.durationMs.toFixed(3)} ms` +
    (v.quorumMs === null ? '' : ` · quorum at +${v.quorumMs.toFixed(3)} ms`));
  lines.push('');
  const axisEnd = `+${v.durationMs.toFixed(2)} ms`;
  lines.push(`${''.padEnd(idWidth)}  +0 ms${axisEnd.padStart(w - 5)}`);
  for (const lane of v.lanes) {
    const row = Array.from({ length: w }, () => '.');
    const put = (c: number, g: string): void => {
      if ((RANK[g] ?? 0) >= (RANK[row[c] ?? '.'] ?? 0)) row[c] = g;
    };
    for (const it of lane.items) {
      if (it.kind === 'write' && it.endMs !== undefined) {
        for (let c = col(it.atMs); c <= col(it.endMs); c++) put(c, '#');
      } else put(col(it.atMs), GLYPH[it.kind]);
    }
    lines.push(`${lane.id.padEnd(idWidth)}  ${row.join('')}`);
  }
  lines.push(`${''.padEnd(idWidth)}  > sent  < received  # Redis write  * quorum  | start`);
  for (const lane of v.lanes) {
    lines.push('');
    lines.push(`${lane.id} (${lane.service})`);
    for (const it of lane.items) {
      const t = `+${it.atMs.toFixed(3)}`.padStart(9);
      const range = it.endMs === undefined ? '' : ` .. +${it.endMs.toFixed(3)}`;
      const mark = it.kind === 'quorum' ? '  <== quorum' : '';
      lines.push(`  ${t} ms  ${GLYPH[it.kind]} ${it.label}${range}${mark}`);
    }
  }
  return lines;
}
