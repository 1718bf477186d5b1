import { ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { describeBallot, type Message, type Ready } from '@synod/protocol';
import type { Headers, TransportMessage } from '@synod/runtime';
import { hrNow } from './clock.js';
import { Attr, Outcome, SpanName } from './names.js';
import { SpanTable } from './span-table.js';
import { TracingBase } from './trace-base.js';

/**
 * Which handled message a reply answers: a promise or a nack of a prepare answers
 * `(proposer, ballot)`, an accepted or a nack of an accept answers `(slot, ballot)`. Addressed
 * `accepted` answer catch-ups, which are not traced.
 */
function replyKey(m: Message): string | undefined {
  switch (m.type) {
    case 'promise':
      return `p|${m.to}|${describeBallot(m.ballot)}`;
    case 'nack':
      return m.slot === null
        ? `p|${m.to}|${describeBallot(m.ballot)}` : `a|${m.slot}|${describeBallot(m.ballot)}`;
    case 'accepted':
      return m.to === undefined ? `a|${m.slot}|${describeBallot(m.ballot)}` : undefined;
    default:
      return undefined;
  }
}

const OUTCOME_OF_REPLY: Readonly<Record<string, string>> = {
  promise: Outcome.Promised,
  nack: Outcome.Nacked,
  accepted: Outcome.Accepted,
};

/**
 * An acceptor's spans. Each traced prepare or accept gets a CONSUMER span (`acceptor.prepare`,
 * `acceptor.accept`) that lasts until its reply has left; the Redis write of the Ready that
 * holds the reply is a child `redis.persist` span, which ends when the write is durable and so
 * before the reply's `publish` span starts. Untraced messages (no `traceparent`) make no span:
 * the proposer or the client heads a trace, acceptors only continue it.
 */
export class AcceptorTracing extends TracingBase {
  private readonly handling = new SpanTable<string>(10_000, 60_000);

  onInbound(m: Message, t: TransportMessage): void {
    if (m.type !== 'prepare' && m.type !== 'accept') return;
    const parent = this.extract(t);
    if (parent === undefined) return;
    const isPrepare = m.type === 'prepare';
    const ballot = describeBallot(m.ballot);
    const name = isPrepare ? SpanName.AcceptorPrepare : SpanName.AcceptorAccept;
    const span = this.tracer.startSpan(name, {
      kind: SpanKind.CONSUMER,
      startTime: hrNow(),
      attributes: {
        ...this.messaging('process', t.subject, m),
        [Attr.Ballot]: ballot, [Attr.BallotRound]: m.ballot.round,
        ...(isPrepare ? { [Attr.FromSlot]: m.fromSlot } : { [Attr.Slot]: m.slot }),
      },
    }, parent);
    this.handling.set(isPrepare ? `p|${m.from}|${ballot}` : `a|${m.slot}|${ballot}`, span);
  }

  onReady(r: Ready<unknown>): void {
    if (this.handling.size === 0) return;
    for (const m of r.messages) {
      const key = replyKey(m);
      const span = key === undefined ? undefined : this.handling.get(key);
      if (span === undefined) continue;
      span.setAttribute(Attr.Outcome, OUTCOME_OF_REPLY[m.type] ?? m.type);
      if (m.type === 'nack') span.setAttribute(Attr.PreemptedBy, describeBallot(m.promised));
    }
  }

  override onPersistStart(r: Ready<unknown>): ((error?: unknown) => void) | undefined {
    if (this.handling.size === 0) return undefined;
    const writes: Span[] = [];
    const seen = new Set<Span>();
    for (const m of r.messages) {
      const key = replyKey(m);
      const parent = key === undefined ? undefined : this.handling.get(key);
      if (parent === undefined || seen.has(parent) || !parent.isRecording()) continue;
      seen.add(parent);
      writes.push(this.tracer.startSpan(SpanName.Persist, {
        kind: SpanKind.CLIENT,
        startTime: hrNow(),
        attributes: {
          ...this.base, [Attr.DbSystem]: 'redis', [Attr.DbOperation]: 'persist',
          ...(m.type === 'accepted' ? { [Attr.Slot]: m.slot } : {}),
        },
      }, trace.setSpan(ROOT_CONTEXT, parent)));
    }
    if (writes.length === 0) return undefined;
    return (error?: unknown) => {
      for (const w of writes) {
        if (error !== undefined) {
          w.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
          w.setAttribute(Attr.ErrorType, error instanceof Error ? error.name : 'Error');
        }
        w.end(hrNow());
      }
    };
  }

  outboundHeaders(m: Message): Headers | undefined {
    // Nothing traced in flight (tracing on, this round not sampled): no key to build.
    if (this.handling.size === 0) return this.publish(m, undefined);
    const key = replyKey(m);
    return this.publish(m, key === undefined ? undefined : this.handling.get(key));
  }

  override onSent(m: Message, subject: string): void {
    this.finishPublish(subject);
    if (this.handling.size === 0) return;
    const key = replyKey(m);
    if (key !== undefined) this.handling.take(key)?.end(hrNow());
  }
}
