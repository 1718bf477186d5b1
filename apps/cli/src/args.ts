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

/** `read --limit`: the most slots of one range read. */
export const MAX_READ_LIMIT = 1000;
/** `elect --ttl`: the shortest and the longest lease, in milliseconds. */
export const MIN_TTL_MS = 100;
export const MAX_TTL_MS = 86_400_000;

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
  elect: ['as', 'ttl'],
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

/** Parses an integer option of at least `min` (and at most `max`, when given). */
export function parseUint(raw: string, what: string, command: Command | null, min = 0,
  max?: number): number {
  const n = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || (max !== undefined && n > max)) {
    const range = max === undefined ? `>= ${min}` : `${min}..${max}`;
    throw new UsageError(`${what} must be an integer ${range}, got '${raw}'`, command);
  }
  return n;
}

/** `--limit` and the other options that take a value (`--limit -3` is its value, `-3`). */
const VALUE_OPTIONS = new Set(Object.entries(OPTIONS)
  .filter(([, o]) => o.type === 'string').map(([name]) => `--${name}`));

/**
 * Words that look like negative numbers (`-1`, `-3.5`) are arguments, never options: the value
 * of the option before them (`--limit -3` reads as `--limit=-3`, for the option's own range
 * message), else a positional (`synod read -1`, `synod propose -1`), which `parseArgs` would
 * refuse as an unknown option. Positionals are passed through a placeholder, restored after.
 */
function negativesAsArguments(argv: readonly string[]):
  { args: string[]; restore: (s: string) => string } {
  const held: string[] = [];
  const args: string[] = [];
  let i = 0;
  for (; i < argv.length && argv[i] !== '--'; i++) {
    const a = argv[i] as string;
    const prev = args[args.length - 1];
    if (!/^-[0-9.]/.test(a)) args.push(a);
    else if (prev !== undefined && VALUE_OPTIONS.has(prev)) args[args.length - 1] = `${prev}=${a}`;
    else args.push(`\u0000${held.push(a) - 1}`);
  }
  args.push(...argv.slice(i));
  const restore = (s: string): string => {
    const m = /^\u0000([0-9]+)$/.exec(s);
    return m === null ? s : held[Number(m[1])] ?? s;
  };
  return { args, restore };
}

/** Parses `synod [global options] <command> [args] [options]`; throws {@link UsageError}. */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  let parsed;
  const { args: words, restore } = negativesAsArguments(argv);
  try {
    parsed = parseArgs({ args: words, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    const first = argv.find((a) => !a.startsWith('-'));
    throw new UsageError((e as Error).message.split('\n')[0] ?? 'bad arguments',
      first !== undefined && isCommand(first) ? first : null);
  }
  const [name, ...args] = parsed.positionals.map(restore);
  if (name !== undefined && !isCommand(name)) {
    throw new UsageError(`unknown command '${name}'`);
  }
  const command = name ?? null;
  const v = parsed.values;
  if (command !== null) {
    const allowed = new Set<string>([...GLOBAL, ...PER_COMMAND[command]]);
    for (const key of Object.keys(v)) {
      if (key === 'client-id' && command === 'elect') {
        throw new UsageError('--client-id does not apply to \'elect\': election commands ' +
          'travel under a fresh random client id of each run (docs/election.md), so only this ' +
          'process can renew or resign the terms it wins; leave --client-id out', command);
      }
      if (!allowed.has(key)) {
        throw new UsageError(`option --${key} does not apply to '${command}'`, command);
      }
    }
  }
  const num = (raw: string | undefined, what: string, min: number, max?: number):
    number | undefined => raw === undefined ? undefined : parseUint(raw, what, command, min, max);
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
  const numbers: [keyof CommandLine, string | undefined, string, number, number?][] = [
    ['timeoutMs', v.timeout, '--timeout', 1], ['seq', v.seq, '--seq', 1],
    ['from', v.from, '--from', 0], ['limit', v.limit, '--limit', 1, MAX_READ_LIMIT],
    ['waitMs', v.wait, '--wait', 1], ['ttlMs', v.ttl, '--ttl', MIN_TTL_MS, MAX_TTL_MS],
  ];
  for (const [key, raw, what, min, max] of numbers) {
    const n = num(raw, what, min, max);
    if (n !== undefined) (out as Record<string, unknown>)[key] = n;
  }
  return out;
}
