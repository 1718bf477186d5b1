/**
 * @synod/election: leader election for applications on Synod's replicated log. A pure,
 * deterministic state machine (campaign, renew, resign, expiry in log time) that learners and
 * clients apply to the decided log in slot order, the payload schema of its commands, and the
 * check that a protected resource makes with fencing tokens. See docs/election.md.
 */
export {
  type CampaignCommand,
  describeElectionCommand,
  ELECTION_PREFIX,
  ELECTION_VERSION,
  type ElectionCommand,
  encodeElectionCommand,
  MALFORMED_REASONS,
  MalformedReason,
  MAX_TTL_MS,
  MIN_TTL_MS,
  NAME_PATTERN,
  type Parsed,
  parseElectionPayload,
  type RenewCommand,
  type ResignCommand,
} from './command.js';
export {
  type Applied,
  type CommandResult,
  type ElectionConfig,
  type ElectionEvent,
  ELECTION_SNAPSHOT_VERSION,
  ElectionMachine,
  type ElectionOutcome,
  type ElectionSnapshot,
  type ElectionStats,
  type Lease,
  type RefusedReason,
} from './machine.js';
export { FencingGuard } from './fencing.js';
