import { runCli } from './cli.js';
import { findRepoRoot } from './config.js';

/**
 * `synod`: the command-line client. A thin composition root: process I/O and signals here,
 * parsing and formatting in this app's modules, everything else in @synod/client.
 */
const controller = new AbortController();
let interrupts = 0;
const onSignal = (signal: NodeJS.Signals): void => {
  // The first Ctrl-C stops the command cleanly (watch exits 0); a second one does not wait.
  if (++interrupts > 1) process.exit(signal === 'SIGINT' ? 130 : 143);
  controller.abort(new Error(`interrupted by ${signal}`));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

// `synod watch | head` closes the pipe early: that is an ordinary way to stop.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') controller.abort(e);
  else throw e;
});

void runCli(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  cwd: process.cwd(),
  repoRoot: findRepoRoot(__dirname),
  signal: controller.signal,
}).then(
  (code) => {
    process.exitCode = code;
    // Normally nothing is left and the process ends now; never hang on a stray handle.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (e: unknown) => {
    process.stderr.write(`synod: unexpected error: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
