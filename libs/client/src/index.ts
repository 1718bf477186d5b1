/**
 * @synod/client: talk to a Synod cluster. Propose values with retries that can never be chosen
 * twice (a retry reuses the command's `(clientId, seq)`), read and watch the decided log from
 * learners, and gather every service's status. Operating errors are typed ({@link SynodError}
 * and its subclasses, each with a stable `code`).
 */
export {
  type ConnectOptions,
  type ProposeOptions,
  randomClientId,
  type ReadOptions,
  type StatusOptions,
  SynodClient,
  type SynodClientOptions,
} from './client.js';
export { ATTEMPT_TIMEOUT_MS, type Proposed } from './propose.js';
export { SEQ_WINDOW } from './seq-window.js';
export {
  type ClusterStatus,
  parseServiceStatus,
  ROLE_ORDER,
  summarizeStatus,
} from './status.js';
export { type WatchOptions } from './watch.js';
export { type ViewStart } from './election-view.js';
export {
  DEFAULT_TTL_MS,
  type ElectOptions,
  type HolderChange,
  Leadership,
  type ObserveOptions,
  type Renewal,
} from './election.js';
export {
  type CommandId,
  SynodAbortedError,
  SynodConnectError,
  SynodError,
  SynodErrorCode,
  type LeaseLostReason,
  SynodLeaseLostError,
  SynodOutcomeUnknownError,
  SynodOverloadedError,
  SynodProtocolError,
  SynodRejectedError,
  SynodConflictError,
  SynodStaleSeqError,
  SynodTimeoutError,
  SynodUnavailableError,
} from './errors.js';
// Re-exported so that callers need not depend on the wire and runtime libs for the types.
export type { LogEntry, ReadReply } from '@synod/codec';
export type { ServiceStatus } from '@synod/runtime';
