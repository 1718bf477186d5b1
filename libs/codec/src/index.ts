/**
 * @synod/codec: the wire form of Synod's messages. NATS subjects per message and per role,
 * JSON encoding with a version envelope, and a strict, hand-written decoder that returns a
 * freshly built, fully validated message or a typed {@link DecodeError}, whatever the bytes.
 * The protocol it carries is described in docs/protocol.md.
 */
export { PROTOCOL_VERSION } from './version.js';
export {
  DEFAULT_LIMITS,
  type Limits,
  MAX_NESTING_DEPTH,
  MAX_WIRE_INTEGER,
  maxCommandWireBytes,
  resolveLimits,
  TOKEN_PATTERN,
  valueBudgetBytes,
} from './limits.js';
export {
  DECODE_REASONS,
  DecodeError,
  DecodeReason,
  EncodeError,
  SUBJECT_ERROR_CODES,
  SubjectError,
  SubjectErrorCode,
} from './errors.js';
export {
  type CodecOptions,
  decode,
  type DecodeResult,
  encode,
  encodedSize,
  tryDecode,
} from './codec.js';
export { utf8Length, validateMessage } from './validate.js';
export {
  ADDRESSED_AUDIENCE,
  checkSubject,
  decodeDelivery,
  type DeliveryOptions,
  type DeliveryResult,
  isValidToken,
  type ParsedSubject,
  parseSubject,
  publicationsFor,
  type Route,
  ROUTES,
  SUBJECT_PREFIX,
  subjectFor,
  subscriptionsFor,
  TARGET_RULE,
  TargetRule,
  tryDecodeDelivery,
} from './subjects.js';
export {
  CLIENT_API_VERSION,
  decodeElectionSnapshotReply,
  decodeElectionSnapshotRequest,
  decodeLogEvent,
  decodeProposeBatch,
  decodeProposeBatchReply,
  decodeReadReply,
  decodeReadRequest,
  electionSnapshotSubject,
  type ElectionSnapshotReply,
  encodeApi,
  ERROR_HEADER,
  isTraceparent,
  leaderProposeSubject,
  type LogEntry,
  type LogEvent,
  logPattern,
  logSubject,
  MAX_PROPOSE_BATCH,
  MAX_READ_ENTRIES,
  type ProposeBatch,
  type ProposeBatchReply,
  proposeSubject,
  type ReadReply,
  type ReadRequest,
  readSubject,
} from './client-api.js';
