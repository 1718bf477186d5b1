/**
 * @synod/transport-nats: the NATS adapter of the runtime's `Transport` port, and the only
 * place in the repository that imports `@nats-io/*`.
 */
export {
  connectNats,
  type NatsConnectOptions,
  type NatsTlsOptions,
  connectService,
  type ServiceNatsConfig,
} from './connect.js';
export { NatsConnectError, NatsConnectErrorCode } from './errors.js';
export { type NatsConnectionStatus, type NatsStatusEvent } from './status.js';
export { NatsTransport } from './transport.js';
