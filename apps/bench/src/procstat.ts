import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (sysconf(_SC_CLK_TCK), 100 on Linux). */
const CLK_TCK = 100;

/** One process as /proc shows it at one moment. */
export interface ProcSample {
  /** User plus system CPU time since the process started, in seconds. */
  readonly cpuS: number;
  /** Resident set size now, in MiB. */
  readonly rssMiB: number;
  /** The largest resident set size so far (VmHWM), in MiB. */
  readonly peakRssMiB: number;
}

/**
 * Reads CPU time and memory of `pid` from /proc, or returns null when the process is gone (or
 * this is not Linux). The command name in `stat` may hold spaces and parentheses, so fields
 * are counted from the last `)`.
 */
export function sampleProc(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command: state is field 3, utime 14 and stime 15 (1-based), so 11 and 12 here.
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return {
      cpuS: ticks / CLK_TCK,
      rssMiB: kib(status, 'VmRSS') / 1024,
      peakRssMiB: kib(status, 'VmHWM') / 1024,
    };
  } catch {
    return null;
  }
}

function kib(status: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return m === null ? 0 : Number(m[1]);
}

/** A process the bench watches: its role (for totals) and its id (for the per-process table). */
export interface Watched {
  readonly id: string;
  readonly role: string;
  readonly pid: number;
}

/** Per-process figures over one measured window. */
export interface ProcWindow {
  readonly id: string;
  readonly role: string;
  readonly pid: number;
  /** CPU seconds used during the window. */
  readonly cpuS: number;
  /** RSS at the end of the window and the peak since the process started, in MiB. */
  readonly rssMiB: number;
  readonly peakRssMiB: number;
}

/** Busy CPU seconds of the whole machine since boot (every state but idle and iowait). */
export function machineBusyS(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) +
      (steal ?? 0)) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** CPU snapshots at the start of a window, to subtract at its end. */
export class CpuWindow {
  private readonly start = new Map<number, number>();
  private readonly machineStart = machineBusyS();
  private readonly selfStart = process.cpuUsage();

  private readonly backgroundStart: number;

  /** `background`: processes of the bench that are not measured (other systems, idle). */
  constructor(private readonly procs: readonly Watched[],
    private readonly background: readonly Watched[] = []) {
    for (const p of procs) this.start.set(p.pid, sampleProc(p.pid)?.cpuS ?? 0);
    this.backgroundStart = this.backgroundS();
  }

  private backgroundS(): number {
    return this.background.reduce((s, p) => s + (sampleProc(p.pid)?.cpuS ?? 0), 0);
  }

  /**
   * CPU seconds the machine spent in the window on anything but the watched processes and
   * this one: other work on a shared machine, which the results cannot account for.
   */
  foreignS(watchedS: number): number {
    const self = process.cpuUsage(this.selfStart);
    const selfS = (self.user + self.system) / 1e6;
    const backgroundS = this.backgroundS() - this.backgroundStart;
    return Math.max(0, machineBusyS() - this.machineStart - watchedS - selfS - backgroundS);
  }

  /** The window's figures, per process. */
  finish(): ProcWindow[] {
    return this.procs.map((p) => {
      const s = sampleProc(p.pid);
      return {
        id: p.id, role: p.role, pid: p.pid,
        cpuS: s === null ? 0 : s.cpuS - (this.start.get(p.pid) ?? 0),
        rssMiB: s?.rssMiB ?? 0,
        peakRssMiB: s?.peakRssMiB ?? 0,
      };
    });
  }
}

/** CPU seconds per role, summed over its processes. */
export function cpuByRole(w: readonly ProcWindow[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of w) out[p.role] = (out[p.role] ?? 0) + p.cpuS;
  return out;
}
