import { parseArgs } from 'node:util';

/** A command line that cannot be run as written (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** The command whose help to point at, if known. */
  readonly command: Command | null;
  constructor(message: string, command: Command | null = null) {
    super(message);
    this.command = command;
  }
}

/** The commands of `synod`. */
export const COMMANDS = ['propose', 'read', 'watch', 'status', 'trace', 'elect', 'help'] as const;
export type Command = (typeof COMMANDS)[number];

const OPTIONS = {
  nats: { type: 'string' },
  cluster: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  'client-id': { type: 'string' },
  seq: { type: 'string' },
  from: { type: 'string' },
  limit: { type: 'string' },
  wait: { type: 'string' },
  file: { type: 'string' },
  as: { type: 'string' },
  ttl: { type: 'string' },
} as const;
type OptionName = keyof typeof OPTIONS;

const GLOBAL: readonly OptionName[] = ['nats', 'cluster', 'timeout', 'json', 'help'];
const PER_COMMAND: Readonly<Record<Command, readonly OptionName[]>> = {
  propose: ['client-id', 'seq'],
  read: ['from', 'limit'],
  watch: ['from'],
  status: ['wait'],
  trace: ['file', 'wait'],
  elect: ['as', 'ttl', 'client-id'],
  help: [],
};

/** A parsed command line. Numbers are validated; string options are passed on as given. */
export interface CommandLine {
  /** null when no command was given (print the overview). */
  readonly command: Command | null;
  readonly args: readonly string[];
  readonly help: boolean;
  readonly json: boolean;
  readonly nats?: string;
  readonly cluster?: string;
  readonly timeoutMs?: number;
  readonly clientId?: string;
  readonly seq?: number;
  readonly from?: number;
  readonly limit?: number;
  readonly waitMs?: number;
  /** `trace --file`: the NDJSON span file to read. */
  readonly file?: string;
  /** `elect --as`: the candidate id. */
  readonly as?: string;
  /** `elect --ttl`: the lease in milliseconds. */
  readonly ttlMs?: number;
}

function isCommand(s: string): s is Command {
  return (COMMANDS as readonly string[]).includes(s);
}

/** Parses a non-negative integer option (or a positive one with `min: 1`). */
export function parseUint(raw: string, what: string, command: Command | null, min = 0): number {
  const n = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${what} must be an integer >= ${min}, got '${raw}'`, command);
  }
  return n;
}

/** Parses `synod [global options] <command> [args] [options]`; throws {@link UsageError}. */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    const first = argv.find((a) => !a.startsWith('-'));
    throw new UsageError((e as Error).message.split('\n')[0] ?? 'bad arguments',
      first !== undefined && isCommand(first) ? first : null);
  }
  const [name, ...args] = parsed.positionals;
  if (name !== undefined && !isCommand(name)) {
    throw new UsageError(`unknown command '${name}'`);
  }
  const command = name ?? null;
  const v = parsed.values;
  if (command !== null) {
    const allowed = new Set<string>([...GLOBAL, ...PER_COMMAND[command]]);
    for (const key of Object.keys(v)) {
      if (!allowed.has(key)) {
        throw new UsageError(`option --${key} does not apply to '${command}'`, command);
      }
    }
  }
  const num = (raw: string | undefined, what: string, min = 0): number | undefined =>
    raw === undefined ? undefined : parseUint(raw, what, command, min);
  const out: { -readonly [K in keyof CommandLine]: CommandLine[K] } = {
    command, args, help: v.help === true, json: v.json === true,
  };
  if (v.nats !== undefined) out.nats = v.nats;
  if (v.file !== undefined) out.file = v.file;
  if (v.as !== undefined) out.as = v.as;
  if (v.cluster !== undefined) out.cluster = v.cluster;
  if (v['client-id'] !== undefined) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(v['client-id'])) {
      throw new UsageError('--client-id must be 1 to 64 characters of [A-Za-z0-9_-]', command);
    }
    out.clientId = v['client-id'];
  }
  const numbers: [keyof CommandLine, string | undefined, string, number][] = [
    ['timeoutMs', v.timeout, '--timeout', 1], ['seq', v.seq, '--seq', 1],
    ['from', v.from, '--from', 0], ['limit', v.limit, '--limit', 1],
    ['waitMs', v.wait, '--wait', 1], ['ttlMs', v.ttl, '--ttl', 1],
  ];
  for (const [key, raw, what, min] of numbers) {
    const n = num(raw, what, min);
    if (n !== undefined) (out as Record<string, unknown>)[key] = n;
  }
  return out;
}
