/**
 * Test helpers for the pure cores: message builders, a Ready drain, a leader-election shortcut
 * and a tiny synchronous network. Nothing here is clever; tests should read like the paper.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  type AcceptedEntry,
  type AcceptorConfig,
  AcceptorCore,
  type AcceptorDurableState,
  type AcceptorPersist,
  type Ballot,
  BROADCAST_AUDIENCE,
  type Command,
  type Message,
  type MsgAccept,
  type MsgAccepted,
  type MsgChosen,
  type MsgHeartbeat,
  type MsgNack,
  type MsgPrepare,
  type MsgPromise,
  type MsgRequest,
  LearnerCore,
  type LearnerPersist,
  type ProposerConfig,
  ProposerCore,
  type Ready,
  type Role,
  Sfc32,
  type Value,
} from '../src/index.js';

/**
 * A cheap assertion for hot property loops (jest's expect is too slow for 10,000 runs of
 * dozens of checks); fast-check reports the thrown message with the seed and path.
 */
export function must(cond: boolean, what: () => string): asserts cond {
  if (!cond) throw new Error(what());
}

/** Deep equality for property checks; the message shows both sides. */
export function mustEqual(got: unknown, want: unknown, what: string): void {
  if (!isDeepStrictEqual(got, want)) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

/** Seed for every fast-check property; override with FC_SEED=<n> (and FC_PATH) to replay. */
export const FC_SEED = Number(process.env['FC_SEED'] ?? 20_240_613);

/** fast-check parameters: 10,000 runs, fixed seed (fast-check prints seed and path on failure). */
export function fcParams(numRuns = 10_000): { numRuns: number; seed: number; path?: string } {
  const path = process.env['FC_PATH'];
  return path === undefined ? { numRuns, seed: FC_SEED } : { numRuns, seed: FC_SEED, path };
}

export const ACCEPTORS3: readonly string[] = ['a1', 'a2', 'a3'];
export const ACCEPTORS5: readonly string[] = ['a1', 'a2', 'a3', 'a4', 'a5'];

export function bal(round: number, proposer: string, incarnation = 0): Ballot {
  return { round, proposer, incarnation };
}

export function cmd(clientId: string, seq: number, payload = `${clientId}.${seq}`): Command {
  return { clientId, seq, payload };
}

/** A value holding the given commands. */
export function cmds(...cs: Command[]): Value {
  return { kind: 'cmds', cmds: cs };
}

/** A one-command value named `name` (client `name`, seq 1): handy as "value v". */
export function val(name: string): Value {
  return cmds(cmd(name, 1, name));
}

export function prepare(from: string, ballot: Ballot, fromSlot = 0): MsgPrepare {
  return { type: 'prepare', from, ballot, fromSlot };
}

export function accept(from: string, ballot: Ballot, slot: number, value: Value): MsgAccept {
  return { type: 'accept', from, ballot, slot, value };
}

export function promise(
  from: string, to: string, ballot: Ballot, accepted: readonly AcceptedEntry[], fromSlot = 0,
): MsgPromise {
  return { type: 'promise', from, to, ballot, fromSlot, accepted };
}

export function acceptedMsg(from: string, ballot: Ballot, slot: number, value: Value): MsgAccepted {
  return { type: 'accepted', from, ballot, slot, value };
}

export function chosenMsg(from: string, ballot: Ballot, slot: number, value: Value): MsgChosen {
  return { type: 'chosen', from, ballot, slot, value };
}

export function heartbeat(from: string, ballot: Ballot, chosenUpTo = 0): MsgHeartbeat {
  return { type: 'heartbeat', from, ballot, chosenUpTo };
}

export function nack(
  from: string, to: string, ballot: Ballot, promised: Ballot, slot: number | null,
): MsgNack {
  return { type: 'nack', from, to, ballot, promised, slot };
}

export function request(from: string, c: Command, to?: string): MsgRequest {
  return to === undefined
    ? { type: 'request', from, cmd: c }
    : { type: 'request', from, to, cmd: c };
}

export function entry(slot: number, ballot: Ballot, value: Value): AcceptedEntry {
  return { slot, ballot, value };
}

interface Core<P> {
  ready(): Ready<P>;
  advance(): void;
}

/** Takes a core's Ready (copied, so later steps cannot alias it) and acknowledges it. */
export function drain<P>(core: Core<P>): Ready<P> {
  const r = core.ready();
  const copy: Ready<P> = {
    persist: r.persist,
    messages: [...r.messages],
    committed: [...r.committed],
    events: [...r.events],
  };
  core.advance();
  return copy;
}

/** The messages of type `t`. */
export function ofType<T extends Message['type']>(
  ms: readonly Message[], t: T,
): Extract<Message, { type: T }>[] {
  return ms.filter((m): m is Extract<Message, { type: T }> => m.type === t);
}

/** Exactly one message of type `t`, or the test fails. */
export function only<T extends Message['type']>(
  ms: readonly Message[], t: T,
): Extract<Message, { type: T }> {
  const found = ofType(ms, t);
  if (found.length !== 1) {
    throw new Error(`expected one ${t}, got ${found.length}: ${JSON.stringify(ms)}`);
  }
  return found[0] as Extract<Message, { type: T }>;
}

/** A proposer with a seeded Sfc32 and the given overrides. */
export function newProposer(
  id: string,
  acceptors: readonly string[] = ACCEPTORS3,
  overrides: Partial<Omit<ProposerConfig, 'id' | 'acceptors'>> = {},
  seed = 1,
): ProposerCore {
  return new ProposerCore({ id, acceptors, rng: new Sfc32(seed), ...overrides });
}

/**
 * Runs phase 1 for `p` against the given acceptor cores (all of them answer) and returns what
 * `p` emitted after the quorum's promises (its accepts, heartbeat, events). The acceptors'
 * Readies are drained. The caller's own view of `p`'s earlier output is drained too.
 */
export function elect(p: ProposerCore, acceptors: readonly AcceptorCore[]): Ready<never> {
  p.campaign();
  const prep = only(drain(p).messages, 'prepare');
  for (const a of acceptors) {
    a.step(prep);
    for (const m of drain(a).messages) p.step(m);
  }
  return drain(p);
}

/**
 * Elects `p` with hand-made promises (no acceptor cores): every acceptor in `from` promises
 * with the given entries. Returns what `p` emitted after the promises.
 */
export function electWith(
  p: ProposerCore,
  from: readonly string[],
  entries: Readonly<Record<string, readonly AcceptedEntry[]>> = {},
): Ready<never> {
  p.campaign();
  const prep = only(drain(p).messages, 'prepare');
  for (const a of from) p.step(promise(a, p.id, prep.ballot, entries[a] ?? [], prep.fromSlot));
  return drain(p);
}

/**
 * Makes a follower `p` aware of `ballot` without giving it a leader hint (a stray nack does
 * that), so its next campaign goes above `ballot`.
 */
export function raiseSeen(p: ProposerCore, ballot: Ballot): void {
  p.step(nack('a1', p.id, p.ballot, ballot, null));
  p.advance();
}

/** Feeds an `accepted` vote for (slot, ballot, value) from each acceptor in `from` into `p`. */
export function votes(
  p: { step(m: Message): void }, from: readonly string[], ballot: Ballot, slot: number, v: Value,
): void {
  for (const a of from) p.step(acceptedMsg(a, ballot, slot, v));
}

/** An acceptor's durable store as a driver keeps it: each Ready's persist applied in order. */
export class FakeStore {
  promised: Ballot | null = null;
  readonly accepted = new Map<number, AcceptedEntry>();
  floor = 0;

  apply(p: AcceptorPersist | null): void {
    if (p === null) return;
    if (p.promised !== null) this.promised = p.promised;
    for (const e of p.accepted) this.accepted.set(e.slot, e);
    if (p.compact !== undefined) {
      for (const s of p.compact.dropped) this.accepted.delete(s);
      this.floor = Math.max(this.floor, p.compact.floor);
    }
  }

  state(): AcceptorDurableState {
    return { promised: this.promised, accepted: [...this.accepted.values()], floor: this.floor };
  }
}

type Node =
  | { readonly role: 'acceptor'; readonly core: AcceptorCore }
  | { readonly role: 'proposer'; readonly core: ProposerCore }
  | { readonly role: 'learner'; readonly core: LearnerCore };

/** An in-flight message and its destination. */
export interface Envelope {
  readonly to: string;
  readonly msg: Message;
}

/**
 * A tiny synchronous network: every node's Ready is drained into a pool of envelopes (one per
 * destination of a broadcast), and tests or properties pick which envelope to deliver next.
 * `history` records every message ever sent, for checkers; `toClients` what clients received.
 */
export class Net {
  readonly nodes = new Map<string, Node>();
  pool: Envelope[] = [];
  readonly history: Message[] = [];
  readonly toClients: Message[] = [];
  readonly committed = new Map<string, { slot: number; value: Value }[]>();
  readonly stores = new Map<string, FakeStore>();
  /**
   * Every decision as it is made (a learner's persisted decisions, a proposer's committed
   * ones), with `at`: the length of `history` then, so checkers can ask "was it chosen yet?".
   */
  readonly decisions: { node: string; slot: number; value: Value; at: number }[] = [];

  addAcceptor(core: AcceptorCore): this {
    this.nodes.set(core.id, { role: 'acceptor', core });
    this.stores.set(core.id, new FakeStore());
    return this;
  }

  /** Adds a proposer, or replaces one (a restart: its volatile state is gone). */
  addProposer(core: ProposerCore): this {
    this.nodes.set(core.id, { role: 'proposer', core });
    return this;
  }

  /** Crashes acceptor `id` and restarts it from what it persisted, with the same config. */
  restartAcceptor(id: string, config: Omit<AcceptorConfig, 'id'> = {}): void {
    const store = this.stores.get(id);
    if (store === undefined) throw new Error(`no acceptor ${id}`);
    const core = new AcceptorCore({ ...config, id }, store.state());
    this.nodes.set(id, { role: 'acceptor', core });
  }

  addLearner(core: LearnerCore): this {
    this.nodes.set(core.id, { role: 'learner', core });
    return this;
  }

  acceptor(id: string): AcceptorCore {
    const n = this.nodes.get(id);
    if (n?.role !== 'acceptor') throw new Error(`no acceptor ${id}`);
    return n.core;
  }

  proposer(id: string): ProposerCore {
    const n = this.nodes.get(id);
    if (n?.role !== 'proposer') throw new Error(`no proposer ${id}`);
    return n.core;
  }

  learner(id: string): LearnerCore {
    const n = this.nodes.get(id);
    if (n?.role !== 'learner') throw new Error(`no learner ${id}`);
    return n.core;
  }

  /** Drains every node's Ready into the pool, persisting acceptors' state first. */
  collect(): void {
    for (const [id, n] of this.nodes) {
      const r = drain(n.core as Core<unknown>);
      if (n.role === 'acceptor') this.stores.get(id)?.apply(r.persist as AcceptorPersist | null);
      const decided = n.role === 'learner'
        ? (r.persist as LearnerPersist | null)?.decisions ?? []
        : n.role === 'proposer' ? r.committed : [];
      for (const d of decided) this.decisions.push({ node: id, ...d, at: this.history.length });
      for (const d of r.committed) {
        let log = this.committed.get(id);
        if (log === undefined) {
          log = [];
          this.committed.set(id, log);
        }
        log.push(d);
      }
      for (const m of r.messages) this.send(m);
    }
  }

  private send(m: Message): void {
    this.history.push(m);
    const to = 'to' in m && m.to !== undefined ? m.to : null;
    if (to !== null) {
      if (this.nodes.has(to)) this.pool.push({ to, msg: m });
      else this.toClients.push(m);
      return;
    }
    const audience: readonly Role[] = BROADCAST_AUDIENCE[m.type];
    for (const [id, n] of this.nodes) {
      if (id !== m.from && audience.includes(n.role)) this.pool.push({ to: id, msg: m });
    }
  }

  /** Delivers one envelope to its node and collects the consequences. */
  deliver(e: Envelope): void {
    const n = this.nodes.get(e.to);
    if (n === undefined) throw new Error(`no node ${e.to}`);
    n.core.step(e.msg);
    this.collect();
  }

  /**
   * Delivers pooled envelopes in FIFO order until none is left (or `maxSteps`), dropping those
   * for which `drop` says so.
   */
  run(drop: (e: Envelope) => boolean = () => false, maxSteps = 100_000): void {
    this.collect();
    for (let i = 0; i < maxSteps && this.pool.length > 0; i++) {
      const e = this.pool.shift() as Envelope;
      if (!drop(e)) this.deliver(e);
    }
  }
}
