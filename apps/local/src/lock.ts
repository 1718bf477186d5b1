import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Takes `<base>/npm-start.lock` (holding this process's pid) or throws: two `npm start` on one
 * data directory would run two Redis servers on each acceptor's files, and the second one's
 * promises and votes would mix with the first's (a vote below a promise in one file). A lock
 * left by a process that no longer runs is taken over. Returns the release.
 */
export function lockDataDir(base: string): () => void {
  mkdirSync(base, { recursive: true });
  const file = join(base, 'npm-start.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => {
        try {
          if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file);
        } catch {
          // already gone
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (Number.isSafeInteger(pid) && pid > 0 && alive(pid)) {
      throw new Error(`another npm start (pid ${pid}) is running on ${base}: two clusters ` +
        'must not share Redis data. Stop it first (Ctrl-C in its terminal, or kill ' +
        `${pid}), or give this one its own directory: npm start -- --data-dir <dir>`);
    }
    rmSync(file, { force: true });
  }
  throw new Error(`cannot take ${file}: remove it if no npm start is running`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
