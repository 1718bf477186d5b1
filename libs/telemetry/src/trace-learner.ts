import {
  type Context,
  type HrTime,
  type Link,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import {
  describeBallot,
  type LearnerPersist,
  type Message,
  type Ready,
} from '@synod/protocol';
import type { Headers, TransportMessage } from '@synod/runtime';
import { hrNow } from './clock.js';
import { Attr, EventName, Outcome, SpanName } from './names.js';
import { TracingBase } from './trace-base.js';

interface Vote {
  readonly ctx: Context;
  readonly type: string;
  readonly from: string;
  readonly at: HrTime;
}

/** Most votes remembered per slot, and most slots with votes remembered. */
const MAX_VOTES = 16;
const MAX_SLOTS = 10_000;

/**
 * A learner's spans: `learner.decide` for each slot it decides from traced votes, starting at
 * the first vote heard (each vote an event with its time, the quorum moment the `quorum`
 * event), a child of the vote that completed the decision with links to the others; its Redis
 * write is a child `redis.persist` span; it ends when the slot is delivered in order.
 */
export class LearnerTracing extends TracingBase {
  private readonly votes = new Map<number, Vote[]>();
  private readonly decides = new Map<number, Span>();
  private delivered = 0;

  onInbound(m: Message, t: TransportMessage): void {
    if (m.type !== 'accepted' && m.type !== 'chosen') return;
    if (m.slot < this.delivered || this.decides.has(m.slot)) return;
    const ctx = this.extract(t);
    if (ctx === undefined) return;
    let list = this.votes.get(m.slot);
    if (list === undefined) {
      if (this.votes.size >= MAX_SLOTS) {
        const oldest = this.votes.keys().next();
        if (oldest.done !== true) this.votes.delete(oldest.value);
      }
      list = [];
      this.votes.set(m.slot, list);
    }
    if (list.length < MAX_VOTES) {
      list.push({ ctx, type: m.type, from: m.from, at: hrNow() });
    }
  }

  onReady(r: Ready<unknown>): void {
    for (const e of r.events) {
      if (e.kind !== 'chosen') continue;
      const votes = this.votes.get(e.slot);
      if (votes === undefined) continue;
      this.votes.delete(e.slot);
      const last = votes[votes.length - 1] as Vote;
      const first = votes[0] as Vote;
      const links: Link[] = votes.slice(0, -1).flatMap((v) => {
        const sc = trace.getSpanContext(v.ctx);
        return sc === undefined ? [] : [{ context: sc }];
      });
      const span = this.tracer.startSpan(SpanName.Decide, {
        kind: SpanKind.CONSUMER,
        startTime: first.at,
        links,
        attributes: {
          ...this.base, [Attr.MessagingSystem]: 'nats', [Attr.MessagingOperationType]: 'process',
          [Attr.Slot]: e.slot, [Attr.Ballot]: describeBallot(e.ballot),
          [Attr.BallotRound]: e.ballot.round, [Attr.Votes]: votes.length,
        },
      }, last.ctx);
      for (const v of votes) {
        span.addEvent(EventName.Received, { [Attr.MessageType]: v.type, [Attr.Peer]: v.from },
          v.at);
      }
      span.addEvent(EventName.Quorum, {}, hrNow());
      this.decides.set(e.slot, span);
      this.noteEvent(e, span);
    }
  }

  override onPersistStart(r: Ready<unknown>): ((error?: unknown) => void) | undefined {
    if (this.decides.size === 0 || r.persist === null) return undefined;
    const writes: Span[] = [];
    for (const d of (r.persist as LearnerPersist).decisions) {
      const parent = this.decides.get(d.slot);
      if (parent === undefined || !parent.isRecording()) continue;
      writes.push(this.tracer.startSpan(SpanName.Persist, {
        kind: SpanKind.CLIENT,
        startTime: hrNow(),
        attributes: {
          ...this.base, [Attr.DbSystem]: 'redis', [Attr.DbOperation]: 'persist',
          [Attr.Slot]: d.slot,
        },
      }, trace.setSpan(ROOT_CONTEXT, parent)));
    }
    if (writes.length === 0) return undefined;
    return (error?: unknown) => {
      for (const w of writes) {
        if (error !== undefined) {
          w.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
        }
        w.end(hrNow());
      }
    };
  }

  outboundHeaders(m: Message): Headers | undefined {
    return this.publish(m, undefined);
  }

  override onReadyDone(r: Ready<unknown>): void {
    for (const d of r.committed) {
      this.delivered = Math.max(this.delivered, d.slot + 1);
      const span = this.decides.get(d.slot);
      if (span === undefined) continue;
      this.decides.delete(d.slot);
      span.addEvent(EventName.Delivered, {}, hrNow());
      span.setAttribute(Attr.Outcome, Outcome.Chosen);
      span.end(hrNow());
    }
    if (this.decides.size > MAX_SLOTS) {
      for (const [slot, span] of this.decides) {
        span.setAttribute(Attr.Outcome, Outcome.Abandoned);
        span.end(hrNow());
        this.decides.delete(slot);
        if (this.decides.size <= MAX_SLOTS / 2) break;
      }
    }
  }
}
