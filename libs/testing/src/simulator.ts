import {
  type AcceptedEntry,
  AcceptorCore,
  type Ballot,
  BROADCAST_AUDIENCE,
  type Command,
  describeMessage,
  describeValue,
  LearnerCore,
  type Message,
  messageSlot,
  messageTarget,
  MSG_TYPES,
  type MsgCatchup,
  type MsgResponse,
  PlantedBug,
  ProposerCore,
  Sfc32,
  type Value,
  wireBudgetBytes,
} from '@synod/protocol';
import { encodeElectionCommand } from '@synod/election';
import { SafetyChecker, type Violation } from './checker.js';
import { ElectionChecker } from './election-checker.js';
import { TimedHeap } from './heap.js';
import { type SwarmOptions, swarmFor } from './swarm.js';
import { TraceHash, type TraceSink } from './trace.js';

type Kind = 'acceptor' | 'proposer' | 'learner' | 'client';

interface BaseNode {
  readonly id: string;
  readonly idx: number;
  readonly kind: Kind;
  downUntil: number;
  pausedUntil: number;
  readonly period: number;
  readonly phase: number;
}
interface AcceptorNode extends BaseNode {
  readonly kind: 'acceptor';
  core: AcceptorCore | null;
  promised: Ballot | null;
  readonly accepted: Map<number, AcceptedEntry>;
  /** Every slot below it is compacted away (durable, like the rest). */
  floor: number;
}
interface ProposerNode extends BaseNode {
  readonly kind: 'proposer';
  core: ProposerCore | null;
  incarnation: number;
}
interface LearnerNode extends BaseNode {
  readonly kind: 'learner';
  core: LearnerCore | null;
  readonly log: Value[];
  readonly persisted: Map<number, Value>;
}
interface ClientNode extends BaseNode {
  readonly kind: 'client';
  nextSeq: number;
  issued: number;
  budget: number;
  current: { cmd: Command; sentAt: number; election?: ElectionOp } | null;
  /** Per group, the slot of this client's last acknowledged campaign: its token if granted. */
  readonly tokens: Map<string, number>;
}

/** What an election command of a simulated client was about. */
interface ElectionOp {
  readonly op: 'campaign' | 'renew' | 'resign';
  readonly group: string;
}

/** Simulated milliseconds per tick: proposers' clocks (the stamps on the log) advance by it. */
export const MS_PER_TICK = 10;

/** Simulated wall-clock time at tick 0. */
const EPOCH_MS = 1_700_000_000_000;
type SimNode = AcceptorNode | ProposerNode | LearnerNode | ClientNode;

interface Envelope {
  readonly at: number;
  readonly order: number;
  readonly from: number;
  readonly to: number;
  readonly msg: Message;
}

/** How one seed's run ended. */
export interface SeedResult {
  readonly seed: number;
  readonly options: SwarmOptions;
  readonly violations: readonly Violation[];
  /** A decision reached every learner within `livenessTicks` of healing. */
  readonly live: boolean;
  /** Ticks from healing until that decision reached every learner, when it did. */
  readonly recoveryTicks: number | null;
  readonly ticks: number;
  /** Messages delivered. */
  readonly steps: number;
  /** Of them, requests a proposer stepped as one arrival with others (`requestBursts`). */
  readonly burstSteps: number;
  /** Accepts sent to one acceptor of a thrifty quorum (`thrifty`), counted as sent. */
  readonly thriftyAccepts: number;
  /** Stale duplicates scheduled (`staleDupRate`). */
  readonly staleDups: number;
  /**
   * Messages dropped because their JSON passed the simulated wire limit (`wireBytes`), as a
   * driver drops what it cannot encode. The cores' byte bounds should keep it at 0.
   */
  readonly unsendable: number;
  /** Decided slots leaders recovered from the acceptors for catch-ups (decision 010). */
  readonly recoveredSlots: number;
  /** Slots chosen (judged from acceptors' states). */
  readonly decisions: number;
  /** Commands acknowledged to clients. */
  readonly acks: number;
  readonly traceHash: string;
}

/** Options of one run beyond its swarm. */
export interface RunOptions {
  readonly plantedBug?: PlantedBug | null;
  /** Receives every event (for `--trace-out`); tracing costs time, so it is off by default. */
  readonly trace?: TraceSink;
  /** Overrides parts of the seed's swarm (for scenario tests). */
  readonly overrides?: Partial<SwarmOptions>;
}

const TYPE_CODE = new Map<string, number>(MSG_TYPES.map((t, i) => [t, i]));

/**
 * A deterministic cluster of real cores over an in-memory network, driven by one seed. All
 * randomness comes from seeded generators and all time is ticks, so a seed replays exactly.
 */
export class Simulation {
  readonly options: SwarmOptions;
  readonly checker: SafetyChecker;
  /** Judges the election state machine over every learner's log at the end of {@link run}. */
  readonly election: ElectionChecker;
  private readonly rng: Sfc32;
  /** Each proposer's wall-clock offset from simulated time, in ms (bounded by clockSkewMs). */
  private readonly clockOffsets = new Map<string, number>();
  private readonly hash = new TraceHash();
  private readonly heap = new TimedHeap<Envelope>();
  private readonly nodes: SimNode[] = [];
  private readonly byId = new Map<string, SimNode>();
  private readonly acceptorIds: string[] = [];
  private readonly blocked = new Set<number>();
  private readonly bug: PlantedBug | undefined;
  private readonly trace: TraceSink | undefined;
  private now = 0;
  private order = 0;
  private faults = true;
  private steps = 0;
  private burstSteps = 0;
  private thriftyAccepts = 0;
  private unsendable = 0;
  private staleDups = 0;
  /** Slots recovered for catch-ups by proposer cores that have since crashed. */
  private recoveredBefore = 0;
  /** Draws of `leaderMinorityPartitionShare` (its own stream: seeds without it run as before). */
  private readonly partitionRng: Sfc32;
  /** Partitions do not heal before this tick (`leaderMinorityPartitionShare`). */
  private holdPartitionsUntil = 0;
  private acks = 0;
  private probe: { client: ClientNode; seq: number; slot: number | null } | null = null;

  constructor(readonly seed: number, opts: RunOptions = {}) {
    this.options = { ...swarmFor(seed, opts.plantedBug ?? null), ...opts.overrides };
    this.bug = this.options.plantedBug ?? undefined;
    this.trace = opts.trace;
    this.rng = new Sfc32(seed);
    this.partitionRng = new Sfc32((seed ^ 0x70a2) >>> 0);
    this.checker = new SafetyChecker(this.options.acceptors);
    this.election = new ElectionChecker((kind, detail) => {
      this.checker.violations.push({ kind, tick: this.now, detail });
    }, this.bug);
    this.build();
  }

  /** Runs the safety phase, heals, runs the liveness phase and judges. */
  run(): SeedResult {
    const o = this.options;
    let live = false;
    let recoveryTicks: number | null = null;
    try {
      for (; this.now < o.safetyTicks; this.now++) this.stepTick();
      this.heal();
      const healedAt = this.now;
      for (; this.now < healedAt + o.livenessTicks; this.now++) {
        this.stepTick();
        if (this.probeDone()) {
          live = true;
          recoveryTicks = this.now - healedAt;
          break;
        }
      }
      for (const n of this.nodes) {
        if (n.kind === 'learner') {
          this.checker.checkApplied(n.id, n.log);
          this.election.checkLog(n.id, n.log);
        }
      }
    } catch (e) {
      this.checker.setTime(this.now);
      this.checker.violations.push({
        kind: 'invariant', tick: this.now,
        detail: e instanceof Error ? e.stack ?? e.message : String(e),
      });
    }
    this.hash.mix(this.now, this.steps, this.checker.chosen.size, this.acks);
    return {
      seed: this.seed,
      options: o,
      violations: this.checker.violations,
      live,
      recoveryTicks,
      ticks: this.now,
      steps: this.steps,
      burstSteps: this.burstSteps,
      thriftyAccepts: this.thriftyAccepts,
      unsendable: this.unsendable,
      staleDups: this.staleDups,
      recoveredSlots: this.recoveredBefore + this.nodes.reduce((sum, n) =>
        sum + (n.kind === 'proposer' ? n.core?.recoveredSlots ?? 0 : 0), 0),
      decisions: this.checker.chosen.size,
      acks: this.acks,
      traceHash: this.hash.hex,
    };
  }

  // ---- scripting, for scenario tests -------------------------------------------------------

  /** Advances `ticks` ticks (faults as the swarm says; use {@link CALM} to script them). */
  runFor(ticks: number): void {
    const end = this.now + ticks;
    for (; this.now < end; this.now++) this.stepTick();
  }

  /** Runs until `cond` holds or `maxTicks` pass; returns whether it held. */
  runUntil(cond: () => boolean, maxTicks: number): boolean {
    const end = this.now + maxTicks;
    for (; this.now < end; this.now++) {
      if (cond()) return true;
      this.stepTick();
    }
    return cond();
  }

  /** The current tick. */
  get tick(): number {
    return this.now;
  }

  /** Crashes a node until {@link restartNode}: volatile state is lost, durable state kept. */
  crashNode(id: string): void {
    const n = this.node(id);
    this.crash(n);
    n.downUntil = Number.MAX_SAFE_INTEGER;
  }

  /** Restarts a crashed node from its durable state. */
  restartNode(id: string): void {
    this.restart(this.node(id));
  }

  /** Cuts a node off: `both` directions, only what it receives (`in`) or sends (`out`). */
  isolate(id: string, direction: 'both' | 'in' | 'out' = 'both'): void {
    const n = this.node(id);
    for (const o of this.nodes) {
      if (o === n) continue;
      if (direction !== 'in') this.blocked.add(n.idx * 4096 + o.idx);
      if (direction !== 'out') this.blocked.add(o.idx * 4096 + n.idx);
    }
  }

  /** Removes every partition. */
  healPartitions(): void {
    this.blocked.clear();
  }

  /** Client `c<clientNo>` submits a command; it retries on timeout like every client. */
  propose(clientNo: number, payload: string, proposer?: string): Command {
    const c = this.node(`c${clientNo}`);
    if (c.kind !== 'client') throw new Error(`c${clientNo} is not a client`);
    const cmd = { clientId: c.id, seq: c.nextSeq++, payload };
    this.submit(c, cmd, proposer);
    return cmd;
  }

  /** True when client `c<clientNo>` has no request outstanding. */
  clientIdle(clientNo: number): boolean {
    const c = this.node(`c${clientNo}`);
    return c.kind === 'client' && c.current === null;
  }

  /** Proposers that believe they lead. */
  leaders(): string[] {
    return this.nodes.flatMap((n) =>
      (n.kind === 'proposer' && n.core?.role === 'leader' ? [n.id] : []));
  }

  /** A live proposer's core (for assertions). */
  proposer(id: string): ProposerCore {
    const n = this.node(id);
    if (n.kind !== 'proposer' || n.core === null) throw new Error(`${id} is not a live proposer`);
    return n.core;
  }

  /** An acceptor's durable state. */
  acceptorDurable(id: string): {
    promised: Ballot | null; accepted: ReadonlyMap<number, AcceptedEntry>; floor: number;
  } {
    const n = this.node(id);
    if (n.kind !== 'acceptor') throw new Error(`${id} is not an acceptor`);
    return { promised: n.promised, accepted: n.accepted, floor: n.floor };
  }

  private node(id: string): SimNode {
    const n = this.byId.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** The delivered log of each learner (for tests). */
  learnerLogs(): Value[][] {
    return this.nodes.flatMap((n) => (n.kind === 'learner' ? [n.log] : []));
  }

  // ---- construction -----------------------------------------------------------------------

  private build(): void {
    const o = this.options;
    const add = <N extends SimNode>(n: N): N => {
      this.nodes.push(n);
      this.byId.set(n.id, n);
      return n;
    };
    const timer = (): { period: number; phase: number } => {
      const period = 1 + this.rng.nextInt(o.maxTickPeriod);
      return { period, phase: this.rng.nextInt(period) };
    };
    const base = (id: string, kind: Kind): BaseNode => ({
      id, idx: this.nodes.length, kind, downUntil: 0, pausedUntil: 0, ...timer(),
    });
    for (let i = 1; i <= o.acceptors; i++) this.acceptorIds.push(`a${i}`);
    for (const id of this.acceptorIds) {
      const n = add<AcceptorNode>({
        ...base(id, 'acceptor'), kind: 'acceptor', core: null, promised: null, accepted: new Map(),
        floor: 0,
      });
      n.core = this.newAcceptor(n);
    }
    // Clocks draw from their own generator, so that they do not shift the run's other draws.
    const clocks = new Sfc32((this.seed ^ 0x0c10c4) >>> 0);
    for (let i = 1; i <= o.proposers; i++) {
      const n = add<ProposerNode>({
        ...base(`p${i}`, 'proposer'), kind: 'proposer', core: null, incarnation: 0,
      });
      const skew = o.clockSkewMs;
      this.clockOffsets.set(n.id, skew === 0 ? 0 : clocks.nextInt(2 * skew + 1) - skew);
      n.core = this.newProposer(n);
    }
    for (let i = 1; i <= o.learners; i++) {
      const n = add<LearnerNode>({
        ...base(`l${i}`, 'learner'), kind: 'learner', core: null, log: [], persisted: new Map(),
      });
      n.core = this.newLearner(n);
    }
    for (let i = 1; i <= o.clients + 1; i++) {
      add<ClientNode>({
        ...base(`c${i}`, 'client'), kind: 'client', nextSeq: 1, issued: 0,
        budget: i <= o.clients ? o.commandsPerClient : 0, current: null, tokens: new Map(),
      });
    }
  }

  private newAcceptor(n: AcceptorNode): AcceptorCore {
    const cfg = {
      id: n.id, maxPromiseEntries: this.options.maxPromiseEntries, ...this.wireBudget('promise'),
      ...(this.bug === undefined ? {} : { plantedBug: this.bug }),
    };
    return new AcceptorCore(cfg, {
      promised: n.promised, accepted: [...n.accepted.values()], floor: n.floor,
    });
  }

  /** The cores' byte budget under the simulated wire limit (ids of up to 64 characters). */
  private wireBudget(what: 'value' | 'promise'): Partial<Record<'maxValueBytes' |
    'maxPromiseBytes', number>> {
    const wire = this.options.wireBytes;
    if (wire === 0) return {};
    const bytes = wireBudgetBytes(wire, 64);
    return what === 'value' ? { maxValueBytes: bytes } : { maxPromiseBytes: bytes };
  }

  private newProposer(n: ProposerNode): ProposerCore {
    const o = this.options;
    return new ProposerCore({
      id: n.id,
      acceptors: this.acceptorIds,
      rng: new Sfc32((this.seed * 31 + n.idx * 1009 + n.incarnation * 7919) >>> 0),
      incarnation: n.incarnation,
      electionTicks: o.electionTicks,
      heartbeatTicks: o.heartbeatTicks,
      retryTicks: o.retryTicks,
      maxBatch: o.maxBatch,
      ...this.wireBudget('value'),
      maxInflight: o.maxInflight,
      maxPending: 256,
      retainVotes: o.retainVotes,
      retainDecidedCommands: o.retainDecidedCommands,
      learnerTimeoutTicks: o.learnerTimeoutTicks,
      thrifty: o.thrifty,
      thriftyTimeoutTicks: o.thriftyTimeoutTicks,
      ...(this.bug === undefined ? {} : { plantedBug: this.bug }),
    });
  }

  private newLearner(n: LearnerNode): LearnerCore {
    const decisions = [...n.persisted]
      .filter(([slot]) => slot >= n.log.length)
      .map(([slot, value]) => ({ slot, value }));
    return new LearnerCore({
      id: n.id,
      acceptors: this.acceptorIds,
      catchupTicks: this.options.retryTicks,
      progressTicks: 2 * this.options.heartbeatTicks,
      ...(this.bug === undefined ? {} : { plantedBug: this.bug }),
    }, { nextSlot: n.log.length, decisions });
  }

  // ---- the clock --------------------------------------------------------------------------

  private stepTick(): void {
    this.checker.setTime(this.now);
    if (this.faults) this.injectFaults();
    for (const n of this.nodes) if (n.downUntil > 0 && n.downUntil <= this.now) this.restart(n);
    for (const n of this.nodes) {
      // A proposer's wall clock runs on while it is paused; the core reads none of its own.
      if (n.kind === 'proposer' && n.core !== null) n.core.setTime(this.clockOf(n));
    }
    for (let e = this.heap.peek(); e !== undefined && e.at <= this.now; e = this.heap.peek()) {
      this.heap.pop();
      const burst = this.burstAfter(e);
      if (burst === null) this.deliver(e);
      else this.deliverBurst(burst);
    }
    for (const n of this.nodes) {
      if (n.downUntil > 0 || n.pausedUntil > this.now) continue;
      if ((this.now + n.phase) % n.period !== 0) continue;
      if (n.kind === 'client') this.tickClient(n);
      else if (n.core !== null) {
        n.core.tick();
        this.processReady(n);
      }
    }
  }

  private injectFaults(): void {
    const o = this.options;
    const r = this.rng;
    for (const n of this.nodes) {
      if (n.kind === 'client' || n.downUntil > 0) continue;
      const rate = n.kind === 'acceptor' ? o.acceptorCrashRate
        : n.kind === 'proposer' ? o.proposerCrashRate : o.learnerCrashRate;
      if (r.chance(rate)) this.crash(n);
      else if (r.chance(o.pauseRate)) {
        n.pausedUntil = this.now + 5 + r.nextInt(60);
        this.emit('pause', { node: n.id, until: n.pausedUntil });
      }
    }
    if (r.chance(o.partitionRate)) this.partition();
    if (this.blocked.size > 0 && this.now >= this.holdPartitionsUntil && r.chance(o.healRate)) {
      this.blocked.clear();
      this.emit('heal-partitions', {});
    }
  }

  private partition(): void {
    const r = this.rng;
    const servers = this.nodes.filter((n) => n.kind !== 'client');
    const share = this.options.leaderMinorityPartitionShare;
    if (share > 0 && this.blocked.size === 0 && this.partitionRng.chance(share) &&
      this.partitionLeaderMinority(servers)) {
      return;
    }
    if (r.chance(0.5)) {
      const side = new Set(servers.filter(() => r.chance(0.5)).map((n) => n.idx));
      for (const a of servers) {
        for (const b of servers) {
          if (side.has(a.idx) !== side.has(b.idx)) this.blocked.add(a.idx * 4096 + b.idx);
        }
      }
      this.emit('partition', { kind: 'symmetric', side: [...side].map((i) => this.nodes[i]?.id) });
    } else {
      const k = 1 + r.nextInt(3);
      const pairs: string[] = [];
      for (let i = 0; i < k; i++) {
        const a = servers[r.nextInt(servers.length)] as SimNode;
        const b = servers[r.nextInt(servers.length)] as SimNode;
        if (a === b) continue;
        this.blocked.add(a.idx * 4096 + b.idx);
        pairs.push(`${a.id}>${b.id}`);
      }
      this.emit('partition', { kind: 'asymmetric', pairs });
    }
  }

  /**
   * A symmetric partition of a leader, a minority of the acceptors and some learners from the
   * rest; false (nothing done) when no proposer leads.
   */
  private partitionLeaderMinority(servers: readonly SimNode[]): boolean {
    const r = this.partitionRng;
    const leaders = servers.filter((n) => n.kind === 'proposer' && n.core?.role === 'leader');
    if (leaders.length === 0) return false;
    const side = new Set([(leaders[r.nextInt(leaders.length)] as SimNode).idx]);
    const acceptors = servers.filter((n) => n.kind === 'acceptor');
    const k = 1 + r.nextInt(Math.floor((acceptors.length - 1) / 2));
    for (let i = 0; i < k; i++) {
      const [a] = acceptors.splice(r.nextInt(acceptors.length), 1);
      if (a !== undefined) side.add(a.idx);
    }
    // Half the time every learner: none of them can then answer the others' catch-ups.
    const allLearners = r.chance(0.5);
    for (const n of servers) {
      if (n.kind === 'learner' && (allLearners || r.chance(0.5))) side.add(n.idx);
    }
    // Long enough for the majority to elect a leader and decide in the minority's slots.
    this.holdPartitionsUntil = this.now + 3 * this.options.electionTicks + r.nextInt(100);
    for (const a of servers) {
      for (const b of servers) {
        if (side.has(a.idx) !== side.has(b.idx)) this.blocked.add(a.idx * 4096 + b.idx);
      }
    }
    this.emit('partition', {
      kind: 'leader-minority', side: [...side].map((i) => this.nodes[i]?.id),
    });
    return true;
  }

  /** Ends the faults: links heal, nodes restart and resume, the network stops losing. */
  private heal(): void {
    this.faults = false;
    this.blocked.clear();
    for (const n of this.nodes) {
      n.pausedUntil = 0;
      if (n.downUntil > 0) this.restart(n);
    }
    this.emit('heal', {});
    // A minority of acceptors may die for good now (their own rng: the run's stream is kept).
    const dead = this.options.deadAcceptorsAfterHeal;
    if (dead > 0) {
      const pickRng = new Sfc32((this.seed ^ 0x0dead0) >>> 0);
      const live = this.nodes.filter((n) => n.kind === 'acceptor');
      for (let i = 0; i < dead && live.length > 0; i++) {
        const [n] = live.splice(pickRng.nextInt(live.length), 1);
        if (n === undefined) break;
        n.core = null;
        n.downUntil = Number.MAX_SAFE_INTEGER;
        this.hash.mix(this.now, 901, n.idx);
        this.emit('crash', { node: n.id, permanent: true });
      }
    }
    const client = this.nodes.find((n): n is ClientNode => n.kind === 'client' && n.budget === 0);
    if (client !== undefined) {
      client.budget = 1;
      this.probe = { client, seq: client.nextSeq, slot: null };
    }
  }

  /** The longest delivered log of any learner: every slot below it is durably held. */
  private learnedFloor(): number {
    let max = 0;
    for (const n of this.nodes) if (n.kind === 'learner') max = Math.max(max, n.log.length);
    return max;
  }

  private probeDone(): boolean {
    const p = this.probe;
    if (p === null || p.slot === null) return false;
    for (const n of this.nodes) {
      if (n.kind === 'learner' && n.log.length <= p.slot) return false;
    }
    return true;
  }

  // ---- crashes ----------------------------------------------------------------------------

  private crash(n: SimNode): void {
    if (n.kind === 'client') return;
    if (n.kind === 'proposer') this.recoveredBefore += n.core?.recoveredSlots ?? 0;
    n.core = null;
    n.downUntil = this.now + 10 + this.rng.nextInt(150);
    this.hash.mix(this.now, 900, n.idx);
    this.emit('crash', { node: n.id });
  }

  private restart(n: SimNode): void {
    n.downUntil = 0;
    switch (n.kind) {
      case 'acceptor':
        this.checker.onAcceptorRestart(n.id, n.promised, n.accepted, n.floor);
        n.core = this.newAcceptor(n);
        break;
      case 'proposer':
        n.incarnation++;
        n.core = this.newProposer(n);
        break;
      case 'learner':
        n.core = this.newLearner(n);
        break;
      case 'client':
        break;
    }
    this.hash.mix(this.now, 901, n.idx);
    this.emit('restart', { node: n.id });
  }

  // ---- the network ------------------------------------------------------------------------

  private send(from: SimNode, m: Message): void {
    if (this.options.wireBytes > 0 && this.tooLarge(m)) {
      // What a driver does with a message it cannot encode: count it and drop it.
      this.unsendable++;
      this.hash.mix(this.now, 903, from.idx, TYPE_CODE.get(m.type) ?? -1);
      if (this.trace !== undefined) {
        this.emit('drop', { why: 'unsendable', from: from.id, msg: describeMessage(m) });
      }
      return;
    }
    const target = messageTarget(m);
    if (m.type === 'chosen') {
      // Judged when sent, not when acted on: a wrong `chosen` that its receiver happens to
      // ignore (it already knew the slot) is still a bug that another interleaving exposes.
      this.checker.onDecisionClaim(from.id, m.slot, m.value, 'sent chosen');
    }
    if (m.type === 'accept' && target !== null) this.thriftyAccepts++;
    if (target !== null) {
      const to = this.byId.get(target);
      if (to !== undefined) this.transmit(from, to, m);
      return;
    }
    const roles = BROADCAST_AUDIENCE[m.type];
    for (const to of this.nodes) {
      if (to !== from && (roles as readonly string[]).includes(to.kind) &&
        (m.type !== 'accepted' || this.hearsVotes(to))) this.transmit(from, to, m);
    }
  }

  /** The message's JSON (with the codec's `"v":1,` envelope) passes the simulated wire. */
  private tooLarge(m: Message): boolean {
    switch (m.type) {
      case 'accept':
      case 'accepted':
      case 'chosen':
      case 'promise':
      case 'request':
        return Buffer.byteLength(JSON.stringify(m), 'utf8') + 6 > this.options.wireBytes;
      default:
        return false;
    }
  }

  /**
   * Whether a node is subscribed to broadcast votes, as the services decide: learners by
   * configuration, proposers unless they follow a known leader (a down node's subscription
   * is gone with it; what it would have heard is dropped at delivery anyway).
   */
  private hearsVotes(n: SimNode): boolean {
    if (n.kind === 'learner') return this.options.learnersHearVotes;
    if (n.kind !== 'proposer' || this.options.followersHearVotes || n.core === null) return true;
    return !(n.core.role === 'follower' && n.core.leader !== null);
  }

  private transmit(from: SimNode, to: SimNode, m: Message): void {
    const o = this.options;
    const r = this.rng;
    if (this.faults) {
      if (this.blocked.has(from.idx * 4096 + to.idx)) {
        this.drop(from, to, m, 'partition');
        return;
      }
      if (r.chance(o.dropRate)) {
        this.drop(from, to, m, 'loss');
        return;
      }
    }
    const copies = this.faults && r.chance(o.dupRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const at = this.now + o.delayMin + r.nextInt(o.delayMax - o.delayMin + 1);
      this.heap.push({ at, order: this.order++, from: from.idx, to: to.idx, msg: m });
    }
    if (this.faults && o.staleDupRate > 0 && r.chance(o.staleDupRate)) {
      const at = this.now + 20 + r.nextInt(581);
      this.heap.push({ at, order: this.order++, from: from.idx, to: to.idx, msg: m });
      this.staleDups++;
    }
  }

  private drop(from: SimNode, to: SimNode, m: Message, why: string): void {
    this.hash.mix(this.now, 902, from.idx, to.idx, TYPE_CODE.get(m.type) ?? -1);
    if (this.trace !== undefined) {
      this.emit('drop', {
        why, from: from.id, to: to.id, msg: describeMessage(m), ...msgFields(m),
      });
    }
  }

  private deliver(e: Envelope): void {
    const to = this.nodes[e.to] as SimNode;
    const from = this.nodes[e.from] as SimNode;
    if (to.downUntil > 0) {
      this.drop(from, to, e.msg, 'down');
      return;
    }
    if (to.pausedUntil > this.now) {
      this.heap.push({ ...e, at: to.pausedUntil, order: this.order++ });
      return;
    }
    this.steps++;
    const code = TYPE_CODE.get(e.msg.type) ?? -1;
    this.hash.mix(this.now, code, e.from, e.to, messageSlot(e.msg) ?? -1);
    if (this.trace !== undefined) {
      this.emit('deliver', {
        from: from.id, to: to.id, msg: describeMessage(e.msg), ...msgFields(e.msg),
      });
    }
    if (to.kind === 'client') {
      if (e.msg.type === 'response') this.onClientResponse(to, e.msg);
      return;
    }
    if (to.core === null) return;
    if (to.kind === 'learner' && e.msg.type === 'catchup') this.serveCatchup(to, e.msg);
    to.core.step(e.msg);
    this.processReady(to);
  }

  /**
   * With `requestBursts`: `e` and the requests right after it in delivery order that reach the
   * same proposer at this instant, when there are any; else null.
   */
  private burstAfter(e: Envelope): Envelope[] | null {
    if (!this.options.requestBursts || e.msg.type !== 'request') return null;
    if (this.nodes[e.to]?.kind !== 'proposer') return null;
    const out = [e];
    for (let n = this.heap.peek(); n !== undefined && n.at <= this.now && n.to === e.to &&
      n.msg.type === 'request'; n = this.heap.peek()) {
      this.heap.pop();
      out.push(n);
    }
    return out.length > 1 ? out : null;
  }

  /** Delivers requests to one proposer as one arrival: each as `deliver` would, then stepMany. */
  private deliverBurst(es: readonly Envelope[]): void {
    const to = this.nodes[(es[0] as Envelope).to] as ProposerNode;
    const msgs: Message[] = [];
    for (const e of es) {
      const from = this.nodes[e.from] as SimNode;
      if (to.downUntil > 0) {
        this.drop(from, to, e.msg, 'down');
        continue;
      }
      if (to.pausedUntil > this.now) {
        this.heap.push({ ...e, at: to.pausedUntil, order: this.order++ });
        continue;
      }
      this.steps++;
      this.hash.mix(this.now, TYPE_CODE.get(e.msg.type) ?? -1, e.from, e.to,
        messageSlot(e.msg) ?? -1);
      if (this.trace !== undefined) {
        this.emit('deliver', {
          from: from.id, to: to.id, msg: describeMessage(e.msg), ...msgFields(e.msg),
        });
      }
      msgs.push(e.msg);
    }
    if (msgs.length === 0 || to.core === null) return;
    if (msgs.length > 1) this.burstSteps += msgs.length;
    to.core.stepMany(msgs);
    this.processReady(to);
  }

  /**
   * A learner's driver answers a catch-up from its durable delivered log, as the learner
   * service does from Redis: addressed `chosen` at ballot round 0 (the log keeps no ballots).
   */
  private serveCatchup(n: LearnerNode, m: MsgCatchup): void {
    if (m.from === n.id) return;
    const hi = Math.min(m.toSlot, m.fromSlot + 255, n.log.length - 1);
    const ballot = { round: 0, proposer: n.id, incarnation: 0 };
    for (let slot = m.fromSlot; slot <= hi; slot++) {
      this.send(n, {
        type: 'chosen', from: n.id, to: m.from, ballot, slot, value: n.log[slot] as Value,
      });
    }
  }

  // ---- Ready handling: persist, then send, then apply ------------------------------------

  private processReady(n: AcceptorNode | ProposerNode | LearnerNode): void {
    switch (n.kind) {
      case 'acceptor':
        this.readyAcceptor(n);
        return;
      case 'proposer': {
        const core = n.core as ProposerCore;
        const r = core.ready();
        for (const d of r.committed) this.checker.onDecisionClaim(n.id, d.slot, d.value, 'decided');
        for (const m of r.messages) this.send(n, m);
        core.advance();
        return;
      }
      case 'learner':
        this.readyLearner(n);
        return;
    }
  }

  private readyAcceptor(n: AcceptorNode): void {
    const core = n.core as AcceptorCore;
    if (!core.hasReady()) return;
    const r = core.ready();
    if (r.persist !== null) {
      this.checker.onAcceptorState(n.id, r.persist.promised, r.persist.accepted);
      if (r.persist.compact !== undefined) {
        this.checker.onCompacted(n.id, r.persist.compact.floor, this.learnedFloor());
      }
      if (this.trace !== undefined) {
        this.emit('acceptor-state', {
          node: n.id, promised: r.persist.promised, accepted: r.persist.accepted.map((a) => ({
            slot: a.slot, ballot: a.ballot, value: describeValue(a.value),
          })),
        });
      }
    }
    const persist = (): void => {
      if (r.persist === null) return;
      if (r.persist.promised !== null) n.promised = r.persist.promised;
      for (const e of r.persist.accepted) n.accepted.set(e.slot, e);
      const c = r.persist.compact;
      if (c !== undefined) {
        for (const s of c.dropped) n.accepted.delete(s);
        n.floor = c.floor;
      }
    };
    const sendAll = (): void => {
      for (const m of r.messages) {
        if (m.type === 'promise') this.checker.onAcceptorSent(n.id, m.ballot, null);
        else if (m.type === 'accepted') this.checker.onAcceptorSent(n.id, m.ballot, m.slot);
        this.send(n, m);
      }
    };
    const crashNow = this.faults && this.rng.chance(this.options.crashMidReadyRate);
    if (this.bug === PlantedBug.ReplyBeforePersist) {
      sendAll();
      if (crashNow) {
        this.crash(n);
        return;
      }
      persist();
    } else {
      persist();
      if (crashNow) {
        this.crash(n);
        return;
      }
      sendAll();
    }
    core.advance();
  }

  private readyLearner(n: LearnerNode): void {
    const core = n.core as LearnerCore;
    if (!core.hasReady()) return;
    const r = core.ready();
    if (r.persist !== null) for (const d of r.persist.decisions) n.persisted.set(d.slot, d.value);
    for (const m of r.messages) this.send(n, m);
    for (const d of r.committed) {
      if (d.slot !== n.log.length) throw new Error(`${n.id} delivered slot ${d.slot} out of order`);
      n.log.push(d.value);
      n.persisted.delete(d.slot);
      this.checker.onLearned(n.id, d.slot, d.value);
      this.hash.mix(this.now, 903, n.idx, d.slot);
      if (this.trace !== undefined) {
        this.emit('learn', { node: n.id, slot: d.slot, value: describeValue(d.value) });
      }
    }
    core.advance();
  }

  // ---- clients ----------------------------------------------------------------------------

  /** A proposer's wall clock: simulated time plus its offset. */
  private clockOf(n: ProposerNode): number {
    return EPOCH_MS + this.now * MS_PER_TICK + (this.clockOffsets.get(n.id) ?? 0);
  }

  /** A client command's payload: its name, padded when the seed asks for large payloads. */
  private payload(c: ClientNode): string {
    const name = `${c.id}/op${c.issued}`;
    const o = this.options;
    if (o.payloadPad === 0) return name;
    const ch = o.payloadPadBytes === 6 ? '\u0001' : o.payloadPadBytes === 2 ? 'é' : 'x';
    return name + ch.repeat(o.payloadPad);
  }

  private tickClient(c: ClientNode): void {
    const timeout = 4 * this.options.electionTicks;
    if (c.current === null) {
      if (c.issued < c.budget && this.rng.chance(0.5)) {
        c.issued++;
        if (this.rng.chance(this.options.electionRate)) {
          this.submitElection(c);
          return;
        }
        const cmd = { clientId: c.id, seq: c.nextSeq++, payload: this.payload(c) };
        this.submit(c, cmd);
      }
      return;
    }
    if (this.now - c.current.sentAt >= timeout) {
      let cmd = c.current.cmd;
      if (this.bug === PlantedBug.RetryWithoutRequestId) {
        cmd = { ...cmd, seq: c.nextSeq++ };
        if (this.probe?.client === c) this.probe.seq = cmd.seq;
      }
      this.submit(c, cmd, undefined, c.current.election);
    }
  }

  /**
   * An election command, as an application would send one: campaign for a group it does not
   * hold; otherwise mostly renew with the token it believes it holds (the slot of its last
   * campaign, whether or not that campaign was granted), sometimes resign or campaign again.
   */
  private submitElection(c: ClientNode): void {
    const r = this.rng;
    const group = `g${1 + r.nextInt(this.options.electionGroups)}`;
    const token = c.tokens.get(group);
    const ttlMs = this.options.leaseTtlMs;
    const roll = r.nextFloat();
    const base = { group, candidate: c.id };
    const op = token === undefined || roll >= 0.9 ? 'campaign' : roll < 0.75 ? 'renew' : 'resign';
    const payload = encodeElectionCommand(op === 'campaign' ? { op, ...base, ttlMs }
      : op === 'renew' ? { op, ...base, token: token ?? 0, ttlMs }
        : { op, ...base, token: token ?? 0 });
    this.submit(c, { clientId: c.id, seq: c.nextSeq++, payload }, undefined, { op, group });
  }

  private submit(c: ClientNode, cmd: Command, to?: string, election?: ElectionOp): void {
    this.checker.onProposed(cmd);
    c.current = election === undefined ? { cmd, sentAt: this.now }
      : { cmd, sentAt: this.now, election };
    const proposers = this.nodes.filter((n) => n.kind === 'proposer');
    const target = (to !== undefined ? this.byId.get(to) : undefined) ??
      (proposers[this.rng.nextInt(proposers.length)] as SimNode);
    this.transmit(c, target, { type: 'request', from: c.id, cmd });
  }

  private onClientResponse(c: ClientNode, m: MsgResponse): void {
    const cur = c.current;
    if (cur === null || m.seq !== cur.cmd.seq) return;
    switch (m.outcome.status) {
      case 'chosen':
        this.checker.onAcknowledged(cur.cmd, m.outcome.slot);
        this.acks++;
        c.current = null;
        if (cur.election?.op === 'campaign') c.tokens.set(cur.election.group, m.outcome.slot);
        if (cur.election?.op === 'resign') c.tokens.delete(cur.election.group);
        if (this.probe?.client === c && this.probe.seq === cur.cmd.seq) {
          this.probe.slot = m.outcome.slot;
        }
        return;
      case 'redirect':
        if (m.outcome.leader !== null) this.submit(c, cur.cmd, m.outcome.leader, cur.election);
        return;
      case 'overloaded':
        return;
      case 'conflict':
        this.checker.onConflict(cur.cmd, m.outcome.slot);
        c.current = null;
        return;
    }
  }

  private emit(ev: string, fields: Record<string, unknown>): void {
    if (this.trace !== undefined) this.trace({ t: this.now, ev, ...fields });
  }
}

function msgFields(m: Message): Record<string, unknown> {
  const f: Record<string, unknown> = { type: m.type };
  const slot = messageSlot(m);
  if (slot !== null) f['slot'] = slot;
  if ('ballot' in m) f['ballot'] = m.ballot;
  if ('value' in m) f['value'] = describeValue(m.value);
  return f;
}

/**
 * Swarm overrides that switch every random fault off, so a scenario test scripts its faults
 * (and keeps the seed's delays and timer skew). Clients issue nothing on their own.
 */
export const CALM: Partial<SwarmOptions> = {
  dropRate: 0, dupRate: 0, partitionRate: 0, acceptorCrashRate: 0, proposerCrashRate: 0,
  learnerCrashRate: 0, crashMidReadyRate: 0, pauseRate: 0, commandsPerClient: 0,
};

/** Runs one seed to completion. */
export function runSeed(seed: number, opts: RunOptions = {}): SeedResult {
  return new Simulation(seed, opts).run();
}
