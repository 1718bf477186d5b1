import { parsers, type VarSpec } from './config.js';

/** The environment variables every Synod service reads. */
export const commonConfig = {
  cluster: {
    name: 'SYNOD_CLUSTER', help: 'the cluster name, the second token of every subject',
    default: 'synod', parse: parsers.token, example: 'prod',
  } satisfies VarSpec<string>,
  nodeId: {
    name: 'SYNOD_NODE_ID', help: "this node's id, unique in the cluster",
    parse: parsers.token, example: 'a1',
  } satisfies VarSpec<string>,
  natsUrl: {
    name: 'NATS_URL', help: 'NATS server URL(s), comma-separated',
    default: 'nats://127.0.0.1:4222', parse: parsers.url(['nats', 'tls']),
    example: 'nats://nats:4222',
  } satisfies VarSpec<string>,
  natsUser: {
    name: 'NATS_USER', help: 'NATS user name (with NATS_PASSWORD)', default: '',
    parse: parsers.text, example: 'acceptor',
  } satisfies VarSpec<string>,
  natsPassword: {
    name: 'NATS_PASSWORD', help: 'NATS password', default: '', parse: parsers.text, secret: true,
    example: 's3cret',
  } satisfies VarSpec<string>,
  healthPort: {
    name: 'SYNOD_HEALTH_PORT',
    help: 'port of /healthz, /readyz, /status and /metrics (0: any free)',
    default: 8080, parse: parsers.int(0, 65535), example: '8080',
  } satisfies VarSpec<number>,
  logLevel: {
    name: 'SYNOD_LOG_LEVEL', help: 'log level: debug, info, warn or error', default: 'info',
    parse: (raw: string): string => {
      if (!['debug', 'info', 'warn', 'error'].includes(raw)) throw new Error('unknown level');
      return raw;
    },
    example: 'debug',
  } satisfies VarSpec<string>,
  tickMs: {
    name: 'SYNOD_TICK_MS', help: 'length of one protocol tick in milliseconds', default: 20,
    parse: parsers.int(1, 10_000), example: '20',
  } satisfies VarSpec<number>,
};

/** The acceptor set, needed by proposers and learners. */
export const acceptorsConfig = {
  name: 'SYNOD_ACCEPTORS', help: 'ids of every acceptor, comma-separated (quorum = majority)',
  parse: parsers.tokenList, example: 'a1,a2,a3',
} satisfies VarSpec<string[]>;
