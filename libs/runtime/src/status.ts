import type { Subscription, Transport } from './ports.js';

/** The subject on which every service answers status requests (scatter-gather). */
export function statusSubject(cluster: string): string {
  return `synod.${cluster}.status`;
}

/** One service's answer to a status request. */
export interface ServiceStatus {
  readonly role: 'acceptor' | 'proposer' | 'learner';
  readonly id: string;
  readonly [field: string]: unknown;
}

const encoder = new TextEncoder();

/** Answers every request on the cluster's status subject with `status()` as JSON. */
export function serveStatus(
  transport: Transport,
  cluster: string,
  status: () => ServiceStatus,
): Subscription {
  return transport.subscribe(statusSubject(cluster), (m) => {
    transport.respond(m, encoder.encode(JSON.stringify(status())));
  });
}
