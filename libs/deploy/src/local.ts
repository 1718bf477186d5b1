import { randomBytes } from 'node:crypto';
import type { Role } from '@synod/protocol';
import { redisUserName, type StoreRole } from '@synod/store-redis';
import { natsPrincipals, natsUser, type NodePools, renderNatsAuth } from './nats-auth.js';
import { fillRedisAcl } from './redis-acl.js';

/** A user name and its password. */
export interface Login {
  readonly user: string;
  readonly password: string;
}

/**
 * Security for a cluster of processes on this machine (the e2e tests): the generated NATS
 * users with fresh random passwords written into the configuration, and a Redis ACL per
 * acceptor and learner made from the same templates that compose and Kubernetes use.
 */
export interface LocalSecurity {
  /** nats-server configuration text: the `authorization` block of {@link renderNatsAuth}. */
  readonly natsConfig: string;
  /**
   * The NATS login of a node: acceptor `a1` logs in as `acceptor-a1`, proposer `p1` as
   * `proposer-p1`, learner `l1` as `learner-l1`, every client as `client` (its id is ignored).
   * Throws for a service id outside the pools: it has no user.
   */
  natsLogin(role: Role, id: string): Login;
  /** The ACL file of a node's Redis, and the login its store uses there. */
  redisAcl(role: StoreRole, id: string): Login & { readonly acl: string };
}

/** Options of {@link localSecurity}. */
export interface LocalSecurityOptions extends NodePools {
  readonly cluster: string;
  /** Extra NATS users as config text (tests add an observer allowed everything). */
  readonly extraNatsUsers?: readonly string[];
}

/** A random password of letters and digits (what the ACL and URL rules allow). */
export function randomPassword(): string {
  return `pw${randomBytes(16).toString('hex')}`;
}

/** Fresh passwords for every principal of the cluster; see {@link LocalSecurity}. */
export function localSecurity(o: LocalSecurityOptions): LocalSecurity {
  const natsPasswords = new Map<string, string>();
  for (const p of natsPrincipals(o)) natsPasswords.set(p.user, randomPassword());
  const natsConfig = renderNatsAuth({
    cluster: o.cluster,
    acceptors: o.acceptors,
    proposers: o.proposers,
    learners: o.learners,
    password: (user) => JSON.stringify(natsPasswords.get(user)),
    ...(o.extraNatsUsers === undefined ? {} : { extraUsers: o.extraNatsUsers }),
  });
  const redisPasswords = new Map<string, string>();
  return {
    natsConfig,
    natsLogin(role, id) {
      const user = natsUser(role, id);
      const password = natsPasswords.get(user);
      if (password === undefined) throw new Error(`no NATS user ${user} in this cluster`);
      return { user, password };
    },
    redisAcl(role, id) {
      const user = redisUserName(role, id);
      let password = redisPasswords.get(user);
      if (password === undefined) {
        password = randomPassword();
        redisPasswords.set(user, password);
      }
      return { user, password, acl: fillRedisAcl(role, o.cluster, id, password) };
    },
  };
}
