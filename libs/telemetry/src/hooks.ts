import { context, type TextMapPropagator, type Tracer } from '@opentelemetry/api';
import {
  type CoreEvent,
  describeBallot,
  type Message,
  type Ready,
  type Role,
} from '@synod/protocol';
import type { DriverHooks, Headers, TransportMessage } from '@synod/runtime';
import type { SynodMetrics } from './metrics.js';
import { AcceptorTracing } from './trace-acceptor.js';
import type { RoleTracing, TracingDeps } from './trace-base.js';
import { LearnerTracing } from './trace-learner.js';
import { ProposerTracing } from './trace-proposer.js';

/** What {@link Telemetry.driverHooks} needs to know about the driver it observes. */
export interface DriverTelemetrySpec {
  readonly role: Role;
  readonly nodeId: string;
  readonly cluster: string;
  /** The leader this service believes in, read after each Ready to count leader changes. */
  readonly leader?: () => string | null;
  /**
   * The application's own hooks. They run after telemetry's; `onEvents` is called inside the
   * span context of each event, so the log lines it writes carry that trace's ids.
   */
  readonly app?: DriverHooks;
}

/** The SDK parts the hooks are built from; null parts are off. */
export interface HookParts {
  readonly tracer: Tracer | null;
  readonly propagator: TextMapPropagator | null;
  readonly metrics: SynodMetrics | null;
}

/** A fresh tracing object for one role. */
function roleTracing(deps: TracingDeps): RoleTracing {
  switch (deps.role) {
    case 'acceptor':
      return new AcceptorTracing(deps);
    case 'proposer':
      return new ProposerTracing(deps);
    case 'learner':
      return new LearnerTracing(deps);
    default:
      throw new Error(`no tracing for role ${String(deps.role)}`);
  }
}

/** Counts what a Ready's events say, and phase latencies (proposer). */
class EventMetrics {
  private readonly phase1Started = new Map<string, number>();
  private readonly phase2Started = new Map<number, number>();
  private leader: string | null = null;

  constructor(
    private readonly m: SynodMetrics,
    private readonly role: Role,
    private readonly readLeader: (() => string | null) | undefined,
  ) {
    this.leader = readLeader?.() ?? null;
  }

  onEvents(events: readonly CoreEvent[]): void {
    const now = performance.now();
    for (const e of events) this.onEvent(e, now);
    if (this.readLeader !== undefined) {
      const leader = this.readLeader();
      if (leader !== this.leader) {
        if (leader !== null) this.m.leaderChanges.add(1);
        this.leader = leader;
      }
    }
  }

  onCommitted(n: number): void {
    if (this.role === 'learner') this.m.decisions.add(n);
  }

  private onEvent(e: CoreEvent, now: number): void {
    const m = this.m;
    switch (e.kind) {
      case 'promised':
        m.votes.add(1, { kind: 'promise' });
        return;
      case 'accepted':
        m.votes.add(1, { kind: 'accept' });
        return;
      case 'nacked':
        m.nacksSent.add(1, { reason: e.slot === null ? 'stale-prepare' : 'stale-accept' });
        return;
      case 'phase1-started':
        m.roundsStarted.add(1);
        if (this.phase1Started.size > 64) this.phase1Started.clear();
        this.phase1Started.set(describeBallot(e.ballot), now);
        return;
      case 'leader-elected': {
        m.roundsWon.add(1);
        const t0 = this.phase1Started.get(describeBallot(e.ballot));
        if (t0 !== undefined) m.phaseSeconds.record((now - t0) / 1000, { phase: '1' });
        this.phase1Started.clear();
        return;
      }
      case 'preempted':
        m.roundsPreempted.add(1);
        this.phase2Started.clear();
        return;
      case 'proposed':
        if (this.phase2Started.size > 100_000) this.phase2Started.clear();
        this.phase2Started.set(e.slot, now);
        return;
      case 'chosen': {
        if (this.role !== 'proposer') return;
        m.decisions.add(1);
        const t0 = this.phase2Started.get(e.slot);
        if (t0 !== undefined) {
          this.phase2Started.delete(e.slot);
          m.phaseSeconds.record((now - t0) / 1000, { phase: '2' });
        }
        return;
      }
      case 'rejected':
        m.rejected.add(1, { reason: `core:${e.reason}` });
        return;
      case 'catchup-requested':
        return;
      default:
        return;
    }
  }
}

/**
 * Builds the driver hooks of one service from the parts that are on. With tracing and metrics
 * both off it returns the application's hooks untouched: the driver then pays nothing at all.
 * With tracing off, no hook that exists only for spans (`outboundHeaders`, `onPersistStart`)
 * is defined.
 */
export function buildDriverHooks(parts: HookParts, spec: DriverTelemetrySpec): DriverHooks {
  const app = spec.app ?? {};
  const metrics = parts.metrics;
  const tracing = parts.tracer !== null && parts.propagator !== null
    ? roleTracing({ tracer: parts.tracer, propagator: parts.propagator, role: spec.role,
      nodeId: spec.nodeId, cluster: spec.cluster })
    : null;
  if (metrics === null && tracing === null) return app;
  const events = metrics === null ? null : new EventMetrics(metrics, spec.role, spec.leader);
  const hooks: DriverHooks = {
    onRejected: (reason, subject, detail) => {
      metrics?.rejected.add(1, { reason });
      app.onRejected?.(reason, subject, detail);
    },
    onInbound: (m: Message, t: TransportMessage) => {
      metrics?.received.add(1, { type: m.type });
      if (metrics !== null && m.type === 'nack' && spec.role === 'proposer') {
        const reason = m.slot === null ? 'stale-prepare' : 'stale-accept';
        metrics.nacksReceived.add(1, { reason });
      }
      tracing?.onInbound(m, t);
      app.onInbound?.(m, t);
    },
    onSent: (m: Message, subject: string) => {
      metrics?.sent.add(1, { type: m.type });
      tracing?.onSent(m, subject);
      app.onSent?.(m, subject);
    },
    onPersisted: (ms: number) => {
      metrics?.persistSeconds.record(ms / 1000);
      app.onPersisted?.(ms);
    },
    onReady: (r: Ready<unknown>) => {
      if (r.events.length > 0) events?.onEvents(r.events);
      tracing?.onReady(r);
      app.onReady?.(r);
    },
    onReadyDone: (r: Ready<unknown>) => {
      if (r.committed.length > 0) events?.onCommitted(r.committed.length);
      tracing?.onReadyDone(r);
      app.onReadyDone?.(r);
    },
  };
  if (tracing !== null) {
    hooks.outboundHeaders = (m: Message): Headers | undefined => {
      const own = tracing.outboundHeaders(m);
      const theirs = app.outboundHeaders?.(m);
      return own === undefined ? theirs : theirs === undefined ? own : { ...theirs, ...own };
    };
    hooks.onPersistStart = (r: Ready<unknown>) => {
      const done = tracing.onPersistStart(r);
      const appDone = app.onPersistStart?.(r);
      if (appDone === undefined) return done;
      return (e?: unknown) => {
        done?.(e);
        appDone(e);
      };
    };
  } else if (app.outboundHeaders !== undefined || app.onPersistStart !== undefined) {
    if (app.outboundHeaders !== undefined) hooks.outboundHeaders = app.outboundHeaders;
    if (app.onPersistStart !== undefined) hooks.onPersistStart = app.onPersistStart;
  }
  const appEvents = app.onEvents;
  if (appEvents !== undefined) {
    hooks.onEvents = tracing === null ? appEvents : (evs) => {
      for (const e of evs) {
        const ctx = tracing.contextOf(e);
        if (ctx === undefined) appEvents([e]);
        else context.with(ctx, () => appEvents([e]));
      }
    };
  }
  return hooks;
}
