import {
  type ElectionEvent,
  ElectionMachine,
  type Lease,
  parseElectionPayload,
} from '@synod/election';
import type { PlantedBug, Value } from '@synod/protocol';

/** The election properties a violation breaks. */
export type ElectionViolationKind =
  /** Two holders (or two tokens) of one group at one point of the log, a token that did not
   *  strictly increase, or two learners that computed different holders for one slot. */
  | 'election-fencing'
  /** A holder outlived its lease in log time (renewed, or still reported, past its expiry). */
  | 'election-lease';

/** What the checker saw, over every learner's log. */
export interface ElectionTally {
  grants: number;
  renewals: number;
  releases: number;
  expiries: number;
  /** Election commands that took effect or were refused. */
  commands: number;
}

interface Term {
  readonly token: number;
  readonly holder: string;
  expiresAt: number;
  open: boolean;
}

/**
 * Applies each learner's delivered log to the election state machine, as every application
 * does, and judges what the machine says against the log itself. It only observes: it keeps
 * its own view of each group's terms from the machine's events, computes log time from the
 * stamps on its own, and checks, at every slot of every learner's log:
 *
 * - **fencing**: a grant's token is above every earlier token of its group; a grant never
 *   happens while the group's previous term is live (not released, and log time below its
 *   expiry); the machine's holder of each group is exactly the checker's open term; every
 *   learner computes the same holders and tokens at the same slot;
 * - **lease**: a renewal happens only while its term is live, at log time below its expiry;
 *   a lease the machine still reports is live in log time; expiry = log time + ttl.
 */
export class ElectionChecker {
  readonly tally: ElectionTally = { grants: 0, renewals: 0, releases: 0, expiries: 0, commands: 0 };
  /** Per slot, the holders a learner computed: the first learner's answer, to compare. */
  private readonly holdersAt = new Map<number, { learner: string; holders: string }>();

  constructor(
    private readonly report: (kind: ElectionViolationKind, detail: string) => void,
    private readonly plantedBug: PlantedBug | undefined = undefined,
  ) {}

  /** Checks one learner's delivered log, from slot 0. */
  checkLog(learner: string, log: readonly Value[]): void {
    const bug = this.plantedBug;
    const m = new ElectionMachine(bug === undefined ? {} : { plantedBug: bug });
    const terms = new Map<string, Term>();
    let time = 0;
    for (let slot = 0; slot < log.length; slot++) {
      const v = log[slot] as Value;
      if (v.kind === 'cmds' && v.stamp !== undefined) time = Math.max(time, v.stamp);
      const applied = m.apply(slot, v);
      const where = `${learner} slot ${slot} (log time ${time})`;
      if (applied.at !== time) {
        this.report('election-lease', `${where}: the machine's log time is ${applied.at}`);
      }
      for (const e of applied.events) this.onEvent(e, terms, time, where);
      this.tally.commands += applied.results.filter((r) => r.command !== null).length;
      this.compareHolders(m.allLeases(), terms, time, where);
      this.compareLearners(learner, slot, m.allLeases());
    }
  }

  private onEvent(e: ElectionEvent, terms: Map<string, Term>, time: number, where: string): void {
    const l = e.lease;
    const t = terms.get(l.group);
    const name = `${l.group}: ${e.kind} ${l.holder} token ${l.token}`;
    switch (e.kind) {
      case 'granted':
        this.tally.grants++;
        if (t !== undefined && l.token <= t.token) {
          this.report('election-fencing', `${where} ${name}: not above the previous token ` +
            `${t.token} (${t.holder})`);
        }
        if (t?.open === true && time < t.expiresAt) {
          this.report('election-fencing', `${where} ${name} while ${t.holder} (token ` +
            `${t.token}) holds a lease until ${t.expiresAt}: two holders`);
        }
        this.checkExpiry(l, time, where, name);
        terms.set(l.group, {
          token: l.token, holder: l.holder, expiresAt: l.expiresAt, open: true,
        });
        return;
      case 'renewed':
        this.tally.renewals++;
        if (t === undefined || !t.open || t.token !== l.token) {
          this.report('election-lease', `${where} ${name}: no such live term`);
        } else if (time >= t.expiresAt) {
          this.report('election-lease', `${where} ${name}: renewed after its lease ran out at ` +
            `${t.expiresAt}`);
        }
        this.checkExpiry(l, time, where, name);
        if (t !== undefined) t.expiresAt = l.expiresAt;
        return;
      case 'released':
      case 'expired':
        if (e.kind === 'released') this.tally.releases++;
        else this.tally.expiries++;
        if (t === undefined || !t.open || t.token !== l.token) {
          this.report('election-fencing', `${where} ${name}: no such open term`);
        } else if (e.kind === 'expired' && time < t.expiresAt) {
          this.report('election-lease', `${where} ${name}: before its expiry ${t.expiresAt}`);
        }
        if (t !== undefined) t.open = false;
        return;
    }
  }

  /** A grant or renewal at log time `time` lasts exactly its ttl. */
  private checkExpiry(l: Lease, time: number, where: string, name: string): void {
    if (l.expiresAt !== time + l.ttlMs) {
      this.report('election-lease', `${where} ${name}: expires at ${l.expiresAt}, not ` +
        `${time} + ttl ${l.ttlMs}`);
    }
  }

  /** The machine's holders must be exactly the checker's open, unexpired terms. */
  private compareHolders(leases: readonly Lease[], terms: Map<string, Term>, time: number,
    where: string): void {
    const reported = new Map(leases.map((l) => [l.group, l]));
    for (const [group, t] of terms) {
      if (!t.open) continue;
      const l = reported.get(group);
      if (time >= t.expiresAt) {
        if (l !== undefined && l.token === t.token) {
          this.report('election-lease', `${where} ${group}: ${t.holder} (token ${t.token}) still ` +
            `holds after its lease ran out at ${t.expiresAt}`);
        }
      } else if (l === undefined || l.token !== t.token || l.holder !== t.holder) {
        this.report('election-fencing', `${where} ${group}: the machine says ` +
          `${l === undefined ? 'nobody' : `${l.holder} token ${l.token}`} holds, the log says ` +
          `${t.holder} token ${t.token}`);
      }
    }
    for (const l of leases) {
      const t = terms.get(l.group);
      if (t === undefined || !t.open) {
        this.report('election-fencing', `${where} ${l.group}: the machine reports ${l.holder} ` +
          `token ${l.token}, a term the log never granted or already ended`);
      }
    }
  }

  private compareLearners(learner: string, slot: number, leases: readonly Lease[]): void {
    const holders = leases.map((l) => `${l.group}=${l.holder}#${l.token}`).sort().join(',');
    const first = this.holdersAt.get(slot);
    if (first === undefined) {
      this.holdersAt.set(slot, { learner, holders });
    } else if (first.holders !== holders) {
      this.report('election-fencing', `slot ${slot}: ${first.learner} computes holders ` +
        `[${first.holders}], ${learner} computes [${holders}]`);
    }
  }
}

/** True when a payload is an election command (well-formed or not), not another app's. */
export function isElectionPayload(payload: string): boolean {
  return parseElectionPayload(payload).kind !== 'foreign';
}
