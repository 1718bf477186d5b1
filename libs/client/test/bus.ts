// Test fixtures: a real nats-server, connections to it, and scripted services that answer with
// real codec-encoded messages (a proposer's responses, a learner's reads and log events).
import {
  decode,
  decodeProposeBatch,
  decodeReadRequest,
  encode,
  encodeApi,
  ERROR_HEADER,
  type LogEntry,
  logSubject,
  type ProposeBatch,
  proposeSubject,
  readSubject,
} from '@synod/codec';
import type { Command, MsgRequest, Outcome } from '@synod/protocol';
import {
  type Headers,
  silentLogger,
  statusSubject,
  type Subscription,
  type Transport,
  type TransportMessage,
} from '@synod/runtime';
import { type NatsServer, startNats } from '@synod/testing';
import { connectNats } from '@synod/transport-nats';

/** A nats-server for one test file, and every connection opened to it. */
export class Bus {
  private readonly opened: Transport[] = [];
  private constructor(readonly server: NatsServer) {}

  static async start(): Promise<Bus> {
    return new Bus(await startNats());
  }

  get url(): string {
    return this.server.url;
  }

  async connect(name = 'test'): Promise<Transport> {
    const t = await connectNats({ servers: this.url, name, logger: silentLogger });
    this.opened.push(t);
    return t;
  }

  async stop(): Promise<void> {
    await Promise.all(this.opened.map((t) => t.close().catch(() => undefined)));
    await this.server.stop();
  }
}

/** What a scripted proposer does with the n-th request (1-based) it receives. */
export type ProposerAction = Outcome | 'drop' | { readonly raw: Uint8Array };

/** A proposer played by the test: answers client requests on the reply subject. */
export interface ScriptedProposer {
  /** Every request received, in order. */
  readonly requests: Command[];
  stop(): void;
}

const enc = new TextEncoder();

/** Subscribes to `synod.<c>.request.*` (queue group as real proposers) and follows `script`. */
export function scriptedProposer(
  t: Transport,
  cluster: string,
  script: (req: MsgRequest, n: number) => ProposerAction,
  id = 'p1',
): ScriptedProposer {
  const requests: Command[] = [];
  const sub = t.subscribe(`synod.${cluster}.request.*`, (m) => {
    const req = decode(m.data);
    if (req.type !== 'request') throw new Error(`not a request: ${req.type}`);
    requests.push(req.cmd);
    const action = script(req, requests.length);
    if (action === 'drop') return;
    if ('raw' in action) {
      t.respond(m, action.raw);
      return;
    }
    t.respond(m, encode({
      type: 'response', from: id, to: req.from, clientId: req.cmd.clientId, seq: req.cmd.seq,
      outcome: action,
    }));
  }, { queue: `synod-${cluster}-proposers` });
  return { requests, stop: () => sub.unsubscribe() };
}

/**
 * What a scripted batch proposer does with the n-th batch (1-based): one outcome per command,
 * no answer, raw bytes, or an empty body with the error header (as a proposer refusing it).
 */
export type BatchAction =
  | readonly Outcome[]
  | 'drop'
  | { readonly raw: Uint8Array }
  | { readonly error: string };

/** A proposer played by the test on the batch subject. */
export interface ScriptedBatchProposer {
  /** Every batch received, in order (decoded: a batch that does not decode fails the test). */
  readonly batches: ProposeBatch[];
  /** The headers each batch came with. */
  readonly headers: Headers[];
  stop(): void;
}

/** Subscribes to `synod.<c>.propose` (queue group as real proposers) and follows `script`. */
export function scriptedBatchProposer(
  t: Transport,
  cluster: string,
  script: (batch: ProposeBatch, n: number) => BatchAction,
  opts: { readonly delayMs?: number } = {},
): ScriptedBatchProposer {
  const batches: ProposeBatch[] = [];
  const headers: Headers[] = [];
  const sub = t.subscribe(proposeSubject(cluster), (m) => {
    const b = decodeProposeBatch(m.data);
    batches.push(b);
    headers.push(m.headers);
    const action = script(b, batches.length);
    if (action === 'drop') return;
    const answer = (): void => {
      if ('raw' in action) t.respond(m, action.raw);
      else if ('error' in action) {
        t.respond(m, new Uint8Array(0), { [ERROR_HEADER]: action.error });
      } else t.respond(m, encodeApi({ outcomes: action }));
    };
    if (opts.delayMs === undefined) answer();
    else setTimeout(answer, opts.delayMs);
  }, { queue: `synod-${cluster}-proposers` });
  return { batches, headers, stop: () => sub.unsubscribe() };
}

/** A log entry holding one command. */
export function cmdEntry(slot: number, payload = `v${slot}`, clientId = 'c-x', seq = slot + 1):
  LogEntry {
  return { slot, value: { kind: 'cmds', cmds: [{ clientId, seq, payload }] } };
}

/** A learner played by the test: answers reads from `log` (delivered below `nextSlot()`). */
export function scriptedLearner(
  t: Transport,
  cluster: string,
  id: string,
  log: Map<number, LogEntry>,
  opts: { nextSlot?: () => number; error?: () => string | null; delayMs?: number } = {},
): { reads: { fromSlot: number; limit: number }[]; stop(): void } {
  const reads: { fromSlot: number; limit: number }[] = [];
  const sub: Subscription = t.subscribe(readSubject(cluster), (m: TransportMessage) => {
    const req = decodeReadRequest(m.data);
    reads.push(req);
    const code = opts.error?.() ?? null;
    if (code !== null) {
      const headers: Headers = { [ERROR_HEADER]: code };
      t.respond(m, enc.encode(JSON.stringify({ v: 1, error: { code, message: 'scripted' } })),
        headers);
      return;
    }
    const next = opts.nextSlot?.() ?? log.size;
    const entries: LogEntry[] = [];
    for (let s = req.fromSlot; s < Math.min(next, req.fromSlot + req.limit); s++) {
      const e = log.get(s);
      if (e !== undefined) entries.push(e);
    }
    const reply = encodeApi({ learner: id, nextSlot: next, entries });
    if (opts.delayMs === undefined) t.respond(m, reply);
    else setTimeout(() => t.respond(m, reply), opts.delayMs);
  }, { queue: `synod-${cluster}-learners` });
  return { reads, stop: () => sub.unsubscribe() };
}

/** Publishes a learner's log event. */
export function publishLog(t: Transport, cluster: string, learner: string, entries: LogEntry[]):
  void {
  t.publish(logSubject(cluster, learner), encodeApi({ learner, entries }));
}

/** Answers status requests with `doc` (a raw string is sent as is). */
export function scriptedStatus(t: Transport, cluster: string, doc: object | string): Subscription {
  return t.subscribe(statusSubject(cluster), (m) => {
    t.respond(m, enc.encode(typeof doc === 'string' ? doc : JSON.stringify(doc)));
  });
}

/** A cluster name unique to one test, so tests on one server never hear each other. */
let counter = 0;
export function freshCluster(): string {
  counter++;
  return `t${process.pid}x${counter}`;
}
