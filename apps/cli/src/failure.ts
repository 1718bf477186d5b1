import {
  SynodAbortedError,
  SynodConnectError,
  SynodError,
  SynodOutcomeUnknownError,
  SynodOverloadedError,
  SynodTimeoutError,
  SynodUnavailableError,
} from '@synod/client';
import { UsageError } from './args.js';
import { shellQuote } from './format.js';

/** Exit codes of `synod`. */
export const ExitCode = {
  Ok: 0,
  Failure: 1,
  Usage: 2,
  Unavailable: 3,
  OutcomeUnknown: 4,
  Overloaded: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** What the failing command was doing, for the message. */
export interface FailureContext {
  readonly command: string;
  readonly natsUrl: string;
  readonly cluster: string;
  readonly timeoutMs: number;
}

/** An error as an exit code and one line that says what to do. */
export interface Failure {
  readonly exitCode: ExitCode;
  readonly code: string;
  readonly message: string;
  readonly retry?: { readonly clientId: string; readonly seq: number };
}

const RUNNING = 'is `npm start` running? (or point --nats/--cluster at your cluster)';

function retryHint(clientId: string, seq: number, payload?: string): string {
  const value = payload === undefined ? '<the same value>' : shellQuote(payload);
  return `retrying is safe: synod propose --client-id ${clientId} --seq ${seq} -- ${value}`;
}

/** Maps an error to the exit code and the message printed on stderr. */
export function describeFailure(e: unknown, ctx: FailureContext): Failure {
  const where = `on ${ctx.natsUrl} (cluster ${ctx.cluster})`;
  if (e instanceof UsageError) {
    return { exitCode: ExitCode.Usage, code: 'USAGE', message: e.message };
  }
  if (e instanceof SynodOutcomeUnknownError) {
    return {
      exitCode: ExitCode.OutcomeUnknown, code: e.code, retry: { clientId: e.clientId, seq: e.seq },
      message: `outcome unknown for ${e.clientId}#${e.seq}: no answer in ${ctx.timeoutMs} ms, ` +
        `the value may or may not be chosen; ${retryHint(e.clientId, e.seq, e.payload)}`,
    };
  }
  if (e instanceof SynodAbortedError) {
    if (e.outcomeUnknown && e.clientId !== undefined && e.seq !== undefined) {
      return {
        exitCode: ExitCode.OutcomeUnknown, code: 'OUTCOME_UNKNOWN',
        retry: { clientId: e.clientId, seq: e.seq },
        message: `interrupted: the value may or may not be chosen; ${retryHint(e.clientId, e.seq)}`,
      };
    }
    return { exitCode: ExitCode.Failure, code: e.code, message: 'interrupted' };
  }
  if (e instanceof SynodOverloadedError) {
    return { exitCode: ExitCode.Overloaded, code: e.code,
      message: `the proposers are overloaded; ${e.clientId}#${e.seq} was not proposed: ` +
        'retry later (or with a longer --timeout)' };
  }
  if (e instanceof SynodUnavailableError) {
    return { exitCode: ExitCode.Unavailable, code: e.code, message: unavailable(e, ctx, where) };
  }
  if (e instanceof SynodTimeoutError) {
    return { exitCode: ExitCode.Unavailable, code: e.code,
      message: `no learner answered ${where} within ${ctx.timeoutMs} ms: are the learners ` +
        'running? (--timeout MS waits longer)' };
  }
  if (e instanceof SynodError) {
    return { exitCode: ExitCode.Failure, code: e.code, message: e.message };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { exitCode: ExitCode.Failure, code: 'ERROR', message };
}

function unavailable(e: SynodUnavailableError, ctx: FailureContext, where: string): string {
  if (e instanceof SynodConnectError) {
    const at = `cannot connect to NATS at ${ctx.natsUrl}`;
    switch (e.reason) {
      case 'UNREACHABLE':
        return `${at} (nothing listens there): ${RUNNING}`;
      case 'AUTHORIZATION':
        return `${at}: the server refused the credentials: check NATS_USER and NATS_PASSWORD`;
      default:
        return e.message;
    }
  }
  switch (ctx.command) {
    case 'propose':
      return `no proposer answered ${where}; nothing was proposed: ${RUNNING}`;
    case 'status':
      return `no service answered ${where}: ${RUNNING}`;
    default:
      if (e.message.startsWith('learners could not')) return e.message;
      return `no learner answered ${where}: ${RUNNING}`;
  }
}
