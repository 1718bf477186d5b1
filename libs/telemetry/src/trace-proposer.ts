import {
  type Link,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  trace,
  TraceFlags,
} from '@opentelemetry/api';
import {
  type Ballot,
  commandKey,
  describeBallot,
  type Message,
  type Ready,
  type Value,
} from '@synod/protocol';
import type { Headers, TransportMessage } from '@synod/runtime';
import { hrNow } from './clock.js';
import { Attr, EventName, Outcome, SpanName } from './names.js';
import { SpanTable } from './span-table.js';
import { TracingBase } from './trace-base.js';

interface Phase1 {
  readonly span: Span;
  readonly ballot: string;
}

interface RoundSpan {
  readonly span: Span;
  readonly ballot: string;
}

/**
 * A proposer's spans: `proposer.request` (SERVER) for each client command from its arrival to
 * the answer; `proposer.phase1` for each ballot it campaigns with, from prepare to a quorum of
 * promises (outcome `won`) or a higher ballot (`preempted`); `proposer.round` for each slot it
 * proposes, from accept to chosen. A round is a child of its first command's request and links
 * to every command of its batch (and to the phase 1 that made this proposer leader); a round of
 * a no-op is a child of that phase 1. Votes that reach the proposer are events on the span they
 * answer, the quorum moment is the `quorum` event.
 */
export class ProposerTracing extends TracingBase {
  private readonly requests = new SpanTable<string>(100_000, 120_000);
  private readonly rounds = new Map<number, RoundSpan>();
  /** Rounds chosen in the Ready being carried out: they end once it is done. */
  private readonly closing = new Map<number, Span>();
  private phase1: Phase1 | null = null;
  private leadership: SpanContext | null = null;

  onInbound(m: Message, t: TransportMessage): void {
    switch (m.type) {
      case 'request':
        this.onRequest(m.cmd, m.from, t, m);
        return;
      case 'promise':
        if (this.phase1 !== null && this.phase1.span.isRecording() &&
          this.phase1.ballot === describeBallot(m.ballot)) {
          this.phase1.span.addEvent(EventName.Received, { [Attr.MessageType]: 'promise',
            [Attr.Peer]: m.from }, hrNow());
        }
        return;
      case 'nack': {
        const target = m.slot === null ? this.phase1 : this.rounds.get(m.slot);
        if (target === null || target === undefined || !target.span.isRecording()) return;
        target.span.addEvent(EventName.Received, { [Attr.MessageType]: 'nack',
          [Attr.Peer]: m.from, [Attr.PreemptedBy]: describeBallot(m.promised) }, hrNow());
        return;
      }
      case 'accepted': {
        const round = this.rounds.get(m.slot);
        if (round !== undefined && round.span.isRecording() &&
          round.ballot === describeBallot(m.ballot)) {
          round.span.addEvent(EventName.Received, { [Attr.MessageType]: 'accepted',
            [Attr.Peer]: m.from }, hrNow());
        }
        return;
      }
      default:
        return;
    }
  }

  onReady(r: Ready<unknown>): void {
    for (const e of r.events) {
      switch (e.kind) {
        case 'phase1-started':
          this.startPhase1(e.ballot, e.fromSlot);
          this.noteEvent(e, this.phase1?.span);
          break;
        case 'leader-elected':
          this.noteEvent(e, this.phase1?.span);
          this.won();
          break;
        case 'preempted':
          this.noteEvent(e, this.phase1?.span);
          this.preempted(e.by);
          break;
        case 'proposed':
          this.startRound(e.slot, e.ballot, e.value);
          this.noteEvent(e, this.rounds.get(e.slot)?.span);
          break;
        case 'chosen':
          this.noteEvent(e, this.rounds.get(e.slot)?.span);
          this.chosen(e.slot);
          break;
        default:
          break;
      }
    }
  }

  outboundHeaders(m: Message): Headers | undefined {
    switch (m.type) {
      case 'prepare':
        return this.publish(m, this.phase1?.span);
      case 'accept':
        return this.publish(m, this.rounds.get(m.slot)?.span, { [Attr.Slot]: m.slot });
      case 'chosen':
        return this.publish(m, m.to === undefined ? this.closing.get(m.slot) : undefined,
          { [Attr.Slot]: m.slot });
      case 'request':
        return this.publish(m, this.requests.get(commandKey(m.cmd)));
      case 'response':
        return this.publish(m, this.requests.get(commandKey(m)));
      default:
        return this.publish(m, undefined);
    }
  }

  override onSent(m: Message, subject: string): void {
    this.finishPublish(subject);
    if (m.type !== 'response') return;
    const span = this.requests.take(commandKey(m));
    if (span === undefined) return;
    span.setAttribute(Attr.Outcome, m.outcome.status === 'chosen' ? Outcome.Chosen
      : m.outcome.status === 'redirect' ? Outcome.Redirect
        : m.outcome.status === 'conflict' ? Outcome.Conflict : Outcome.Overloaded);
    if (m.outcome.status === 'chosen' || m.outcome.status === 'conflict') {
      span.setAttribute(Attr.Slot, m.outcome.slot);
    }
    span.end(hrNow());
  }

  override onReadyDone(_r: Ready<unknown>): void {
    if (this.closing.size === 0) return;
    // A chosen round ends once the Ready that chose it is done: its `chosen` went out under it.
    for (const span of this.closing.values()) span.end(hrNow());
    this.closing.clear();
  }

  private onRequest(cmd: { clientId: string; seq: number }, from: string, t: TransportMessage,
    m: Message): void {
    const key = commandKey(cmd);
    const open = this.requests.get(key);
    if (open !== undefined) {
      open.addEvent(EventName.Retry, { [Attr.Peer]: from }, hrNow());
      return;
    }
    const parent = this.extract(t) ?? ROOT_CONTEXT;
    this.requests.set(key, this.tracer.startSpan(SpanName.Request, {
      kind: SpanKind.SERVER,
      startTime: hrNow(),
      attributes: {
        ...this.messaging('process', t.subject, m),
        [Attr.RequestId]: key, [Attr.ClientId]: cmd.clientId,
      },
    }, parent));
  }

  private startPhase1(ballot: Ballot, fromSlot: number): void {
    if (this.phase1 !== null) {
      this.phase1.span.setAttribute(Attr.Outcome, Outcome.Superseded);
      this.phase1.span.end(hrNow());
    }
    const span = this.tracer.startSpan(SpanName.Phase1, {
      kind: SpanKind.INTERNAL,
      startTime: hrNow(),
      attributes: {
        ...this.base, [Attr.Ballot]: describeBallot(ballot), [Attr.BallotRound]: ballot.round,
        [Attr.FromSlot]: fromSlot,
      },
    }, ROOT_CONTEXT);
    this.phase1 = { span, ballot: describeBallot(ballot) };
  }

  private won(): void {
    const p = this.phase1;
    if (p === null) return;
    p.span.addEvent(EventName.Quorum, {}, hrNow());
    p.span.setAttribute(Attr.Outcome, Outcome.Won);
    p.span.end(hrNow());
    this.leadership = p.span.spanContext();
    this.phase1 = null;
  }

  private preempted(by: Ballot): void {
    const attrs = { [Attr.PreemptedBy]: describeBallot(by) };
    if (this.phase1 !== null) {
      this.phase1.span.setAttributes({ ...attrs, [Attr.Outcome]: Outcome.Preempted });
      this.phase1.span.end(hrNow());
      this.phase1 = null;
    }
    for (const r of this.rounds.values()) {
      r.span.setAttributes({ ...attrs, [Attr.Outcome]: Outcome.Preempted });
      r.span.end(hrNow());
    }
    this.rounds.clear();
    this.leadership = null;
  }

  private startRound(slot: number, ballot: Ballot, value: Value): void {
    const old = this.rounds.get(slot);
    if (old !== undefined) {
      old.span.setAttribute(Attr.Outcome, Outcome.Superseded);
      old.span.end(hrNow());
    }
    const members: Span[] = [];
    if (value.kind === 'cmds') {
      for (const c of value.cmds) {
        const s = this.requests.get(commandKey(c));
        if (s !== undefined) members.push(s);
      }
    }
    const links: Link[] = members.map((s) => ({ context: s.spanContext() }));
    if (this.leadership !== null) {
      links.push({ context: this.leadership, attributes: { 'synod.link': 'leadership' } });
    }
    const first = members[0];
    const head = first?.spanContext() ?? this.leadership;
    if (head !== null && (head.traceFlags & TraceFlags.SAMPLED) === 0 &&
      members.every((s) => !s.isRecording())) {
      // The round's trace was decided not sampled where it started: follow that decision
      // without asking the sampler again (and without building links and attributes).
      this.rounds.set(slot, { span: trace.wrapSpanContext(head), ballot: '' });
      return;
    }
    const parent = first !== undefined ? trace.setSpan(ROOT_CONTEXT, first)
      : this.leadership !== null ? trace.setSpanContext(ROOT_CONTEXT, this.leadership)
        : ROOT_CONTEXT;
    const span = this.tracer.startSpan(SpanName.Round, {
      kind: SpanKind.INTERNAL,
      startTime: hrNow(),
      links,
      attributes: {
        ...this.base, [Attr.Slot]: slot, [Attr.Ballot]: describeBallot(ballot),
        [Attr.BallotRound]: ballot.round, [Attr.ValueKind]: value.kind,
        [Attr.BatchSize]: value.kind === 'cmds' ? value.cmds.length : 0,
      },
    }, parent);
    // Every member but the first (whose trace the round is in) links back to the round, so
    // that each request's own trace leads to the round that decides it.
    const round = span.spanContext();
    for (const m of members.slice(1)) {
      if (m.isRecording()) m.addLink({ context: round, attributes: { 'synod.link': 'round' } });
    }
    this.rounds.set(slot, { span, ballot: describeBallot(ballot) });
  }

  private chosen(slot: number): void {
    const round = this.rounds.get(slot);
    if (round === undefined) return;
    round.span.addEvent(EventName.Quorum, {}, hrNow());
    round.span.setAttribute(Attr.Outcome, Outcome.Chosen);
    this.rounds.delete(slot);
    this.closing.set(slot, round.span);
  }
}
