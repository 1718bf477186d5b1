/**
 * The services' logger against its stdout: a reader that keeps up gets every line, even of a
 * process that exits right after logging; a reader that stops reading holds up neither the
 * process nor its exit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const root = resolve(__dirname, '../../..');
// Inside the repository, so that the bundle finds pino in its node_modules.
const dir = join(root, 'tmp', `logger-test-${process.pid}`);

/**
 * Bundles a child that logs `lines` lines of `bytes` through createLogger, then exits (after
 * `waitMs`).
 */
async function child(name: string, lines: number, bytes: number, waitMs = 0): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const src = join(dir, `${name}.ts`);
  writeFileSync(src, `
import { createLogger } from ${JSON.stringify(join(root, 'libs/runtime/src/logger.ts'))};
const log = createLogger({ service: 'test', nodeId: 'n1', killOnStuckExit: true });
const pad = 'x'.repeat(${bytes});
for (let i = 0; i < ${lines}; i++) log.info({ i }, pad);
process.stderr.write('logged\\n');
if (${waitMs} === 0) process.exit(0);
else setTimeout(() => process.exit(0), ${waitMs});
`);
  const out = join(dir, `${name}.js`);
  await build({ entryPoints: [src], outfile: out, bundle: true, platform: 'node',
    format: 'cjs', external: ['pino'], logLevel: 'silent' });
  return out;
}

function exited(p: ChildProcess, ms: number): Promise<number | string | 'hung'> {
  return new Promise((r) => {
    const t = setTimeout(() => r('hung'), ms);
    p.on('exit', (code, signal) => {
      clearTimeout(t);
      r(code ?? String(signal));
    });
  });
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('createLogger and stdout', () => {
  test('a reader that keeps up gets every line of a process that exits right after logging',
    async () => {
      const p = spawn(process.execPath, [await child('reads', 2000, 100)],
        { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      expect(await exited(p, 10_000)).toBe(0);
      const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { i: number });
      expect(lines).toHaveLength(2000);
      expect(lines[1999]?.i).toBe(1999);
    });

  test('a reader that never reads: 20 MB of logs, the event loop runs on, and the exit ends ' +
    'the process instead of waiting for the reader forever', async () => {
    // Nobody reads the pipe: it fills after some 64 KB, and every later write would wait. The
    // child's timer firing 2.5 s later shows its event loop was not held up; its exit then
    // finds stdout stuck for over 2 s and ends the process with SIGKILL.
    const p = spawn(process.execPath, [await child('stuck', 20_000, 1000, 2500)],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const code = await exited(p, 10_000);
    if (code === 'hung') p.kill('SIGKILL');
    expect(code).toBe('SIGKILL');
    expect(err).toContain('logged');
  }, 20_000);
});
