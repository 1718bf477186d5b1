import {
  type Attributes,
  type Context,
  isSpanContextValid,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import type { CoreEvent, Message, Ready, Role } from '@synod/protocol';
import type { Headers, TransportMessage } from '@synod/runtime';
import { hrNow } from './clock.js';
import { Attr, publishSpanName } from './names.js';

/** Reads lower-cased transport headers (NATS headers arrive lower-cased from the adapter). */
export const headerGetter: TextMapGetter<Headers> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key.toLowerCase()],
};

/** Writes headers with lower-case keys, as the transport port expects them. */
export const headerSetter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key.toLowerCase()] = value;
  },
};

/** What every role's tracing is built from. */
export interface TracingDeps {
  readonly tracer: Tracer;
  readonly propagator: TextMapPropagator;
  readonly role: Role;
  readonly nodeId: string;
  readonly cluster: string;
}

/** The part of the driver's hooks that tracing implements, per role. */
export interface RoleTracing {
  onInbound(m: Message, t: TransportMessage): void;
  onReady(r: Ready<unknown>): void;
  onPersistStart(r: Ready<unknown>): ((error?: unknown) => void) | undefined;
  outboundHeaders(m: Message): Headers | undefined;
  onSent(m: Message, subject: string): void;
  onReadyDone(r: Ready<unknown>): void;
  /** The span context an event belongs to (for the logs the application writes about it). */
  contextOf(e: CoreEvent): Context | undefined;
}

/**
 * What the three roles' tracing share: extracting a message's context, the attributes of this
 * node, PRODUCER spans around sends with their context injected into the headers.
 */
export abstract class TracingBase implements RoleTracing {
  protected readonly tracer: Tracer;
  protected readonly base: Attributes;
  private readonly propagator: TextMapPropagator;
  private producer: Span | null = null;
  private readonly eventContexts = new WeakMap<CoreEvent, Context>();

  constructor(deps: TracingDeps) {
    this.tracer = deps.tracer;
    this.propagator = deps.propagator;
    // The cluster is a resource attribute (`synod.cluster`): not repeated on every span.
    this.base = { [Attr.Role]: deps.role, [Attr.NodeId]: deps.nodeId };
  }

  abstract onInbound(m: Message, t: TransportMessage): void;
  abstract onReady(r: Ready<unknown>): void;
  abstract outboundHeaders(m: Message): Headers | undefined;

  onPersistStart(_r: Ready<unknown>): ((error?: unknown) => void) | undefined {
    return undefined;
  }

  onSent(_m: Message, subject: string): void {
    this.finishPublish(subject);
  }

  onReadyDone(_r: Ready<unknown>): void {}

  contextOf(e: CoreEvent): Context | undefined {
    return this.eventContexts.get(e);
  }

  /** Remembers which span an event belongs to, for {@link contextOf}. */
  protected noteEvent(e: CoreEvent, span: Span | undefined): void {
    if (span !== undefined) this.eventContexts.set(e, trace.setSpan(ROOT_CONTEXT, span));
  }

  /** The context a delivery carries, or undefined when it carries none (or a broken one). */
  protected extract(t: TransportMessage): Context | undefined {
    if (t.headers['traceparent'] === undefined) return undefined;
    const ctx = this.propagator.extract(ROOT_CONTEXT, t.headers, headerGetter);
    const sc = trace.getSpanContext(ctx);
    return sc !== undefined && isSpanContextValid(sc) ? ctx : undefined;
  }

  /** Attributes of a message as received or sent over NATS. */
  protected messaging(op: 'process' | 'send', subject: string, m: Message): Attributes {
    return {
      ...this.base,
      [Attr.MessagingSystem]: 'nats',
      [Attr.MessagingDestination]: subject,
      [Attr.MessagingOperationType]: op,
      [Attr.MessagingOperationName]: op === 'send' ? 'publish' : 'process',
      [Attr.MessageType]: m.type,
      [Attr.Peer]: m.from,
    };
  }

  /**
   * Starts the PRODUCER span of `m` as a child of `parent` and returns the headers carrying its
   * context; {@link finishPublish} ends it once the message left.
   */
  protected publish(m: Message, parent: Span | undefined, attrs?: Attributes): Headers | undefined {
    if (this.producer !== null) {
      // The previous message was never sent (unroutable): close its span as such.
      this.producer.setStatus({ code: SpanStatusCode.ERROR, message: 'not sent' });
      this.producer.end(hrNow());
      this.producer = null;
    }
    if (parent === undefined || !parent.isRecording()) return undefined;
    const ctx = trace.setSpan(ROOT_CONTEXT, parent);
    const span = this.tracer.startSpan(publishSpanName(m.type), {
      kind: SpanKind.PRODUCER,
      startTime: hrNow(),
      attributes: {
        ...this.base, [Attr.MessagingSystem]: 'nats', [Attr.MessagingOperationType]: 'send',
        [Attr.MessagingOperationName]: 'publish', [Attr.MessageType]: m.type, ...attrs,
      },
    }, ctx);
    this.producer = span;
    const headers: Record<string, string> = {};
    this.propagator.inject(trace.setSpan(ROOT_CONTEXT, span), headers, headerSetter);
    return headers;
  }

  /** Ends the PRODUCER span of the message just sent, naming where it went. */
  protected finishPublish(subject: string): void {
    const span = this.producer;
    if (span === null) return;
    this.producer = null;
    span.setAttribute(Attr.MessagingDestination, subject);
    span.end(hrNow());
  }
}
