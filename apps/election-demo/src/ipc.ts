/**
 * What an application instance and the demo's driver say to each other over the child
 * process's IPC channel. Writes to the protected resource travel this way too: the channel is
 * the instance's "network" to the resource, so a paused instance's write goes out when it
 * resumes, however late.
 */

/** Instance -> driver. `at` is the instance's wall clock (ms), for the timeline. */
export type FromInstance =
  | { readonly ev: 'ready'; readonly id: string; readonly at: number }
  | { readonly ev: 'campaigning'; readonly id: string; readonly at: number }
  | { readonly ev: 'elected'; readonly id: string; readonly at: number; readonly token: number;
    readonly validForMs: number }
  | { readonly ev: 'renewed'; readonly id: string; readonly at: number; readonly token: number;
    readonly validForMs: number }
  | { readonly ev: 'lost'; readonly id: string; readonly at: number; readonly token: number;
    readonly reason: string; readonly message: string }
  | { readonly ev: 'stalling'; readonly id: string; readonly at: number; readonly token: number }
  | { readonly ev: 'write'; readonly id: string; readonly at: number; readonly token: number;
    readonly n: number; readonly checkedAt: number }
  | { readonly ev: 'error'; readonly id: string; readonly at: number; readonly message: string };

/** Driver -> instance. */
export type ToInstance =
  /** Pause (SIGSTOP itself) after the next lease check, before that write: a GC pause. */
  | { readonly cmd: 'stall-before-write' }
  /** The resource's answer to a write. */
  | { readonly cmd: 'write-result'; readonly n: number; readonly accepted: boolean;
    readonly highest: number | null };

/** How to start an instance: `main.js instance <json>`. */
export interface InstanceArgs {
  readonly id: string;
  readonly group: string;
  readonly natsUrl: string;
  readonly cluster: string;
  readonly ttlMs: number;
  readonly writeEveryMs: number;
}
