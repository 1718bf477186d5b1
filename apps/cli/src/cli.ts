import { type ConnectOptions, SynodClient } from '@synod/client';
import { COMMANDS, type Command, type CommandLine, parseCommandLine, UsageError } from './args.js';
import { type CommandIo, planCommand } from './commands.js';
import { readClusterFile, resolveSettings, type Settings } from './config.js';
import { describeFailure, ExitCode } from './failure.js';
import { helpText } from './help.js';
import { runTrace, startProposeTracing } from './trace.js';

/** Everything `synod` touches outside itself, so that tests can run it in-process. */
export interface CliIo extends CommandIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** The repository root, where `.synod/cluster.json` may be; null outside the repo. */
  readonly repoRoot: string | null;
  /** Connects the client; default {@link SynodClient.connect}. */
  readonly connect?: (o: ConnectOptions) => Promise<SynodClient>;
}

function usageFailure(io: CliIo, e: UsageError, json: boolean): number {
  const see = `see synod ${e.command === null ? '' : `${e.command} `}--help`;
  if (json) io.err(JSON.stringify({ error: { code: 'USAGE', message: e.message, exitCode: 2 } }));
  else io.err(`synod: ${e.message} (${see})`);
  return ExitCode.Usage;
}

/** Help requests, answered without connecting; null when the command line asks for none. */
function maybeHelp(cl: CommandLine, io: CliIo): number | null {
  if (cl.command === null) {
    if (cl.help) {
      io.out(helpText(null));
      return ExitCode.Ok;
    }
    io.err(helpText(null));
    return ExitCode.Usage;
  }
  if (cl.command === 'help') {
    const topic = cl.args[0];
    if (topic !== undefined && !(COMMANDS as readonly string[]).includes(topic)) {
      throw new UsageError(`no help on '${topic}': commands are ${COMMANDS.join(', ')}`, 'help');
    }
    io.out(helpText((topic as Command | undefined) ?? null));
    return ExitCode.Ok;
  }
  if (cl.help) {
    io.out(helpText(cl.command));
    return ExitCode.Ok;
  }
  return null;
}

/**
 * Runs one `synod` command line and resolves with its exit code. Output goes through `io`;
 * errors become one line on stderr (a JSON object with `--json`) and an exit code.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  let cl: CommandLine;
  let settings: Settings;
  let run;
  try {
    cl = parseCommandLine(argv);
    const help = maybeHelp(cl, io);
    if (help !== null) return help;
    const clusterFile = readClusterFile(io.cwd, io.repoRoot, io.env['SYNOD_DATA_DIR']);
    // `trace` reads the spans on disk: it needs no connection.
    if (cl.command === 'trace') return await runTrace(cl, io, clusterFile);
    settings = resolveSettings(cl, io.env, clusterFile);
    run = planCommand(cl);
  } catch (e) {
    if (e instanceof UsageError) return usageFailure(io, e, json);
    throw e;
  }
  const ctx = {
    command: cl.command ?? '', natsUrl: settings.natsUrl, cluster: settings.cluster,
    timeoutMs: settings.timeoutMs,
  };
  let client: SynodClient | null = null;
  let flushSpans: (() => Promise<void>) | null = null;
  try {
    flushSpans = await startProposeTracing(cl, io.env, settings);
    client = await (io.connect ?? SynodClient.connect)({
      servers: settings.natsUrl.split(','), cluster: settings.cluster,
      timeoutMs: settings.timeoutMs,
      ...(cl.clientId === undefined ? {} : { clientId: cl.clientId }),
      ...(settings.user === undefined ? {} : { user: settings.user }),
      ...(settings.pass === undefined ? {} : { pass: settings.pass }),
    });
    await run(client, io, settings);
    return ExitCode.Ok;
  } catch (e) {
    const f = describeFailure(e, ctx);
    if (json) io.err(JSON.stringify({ error: { ...f, exitCode: f.exitCode } }));
    else io.err(`synod: ${f.message}`);
    return f.exitCode;
  } finally {
    await client?.close().catch(() => undefined);
    await flushSpans?.().catch(() => undefined);
  }
}
