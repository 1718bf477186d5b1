import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** How long a takeover by another process is waited for before giving up, in milliseconds. */
const TAKEOVER_WAIT_MS = 2000;

/**
 * Takes `<base>/npm-start.lock` (holding this process's pid) or throws: two `npm start` on one
 * data directory would run two Redis servers on each acceptor's files, and the second one's
 * promises and votes would mix with the first's (a vote below a promise in one file). A lock
 * left by a process that no longer runs is taken over. Returns the release.
 *
 * Any number of `npm start` starting together end with exactly one holder:
 * - a lock is written whole to a file of this process's own, then linked to the lock's name
 *   (`link` fails when the name exists): nobody ever reads a lock half written (an empty lock
 *   read as "no pid, stale" would be taken over from a live process);
 * - a stale lock is removed only by the holder of `npm-start.lock.takeover` (made the same
 *   way, so one process at a time), which reads the lock again first. Without it two processes
 *   that both found the lock stale would both remove it, the second one removing the fresh
 *   lock the first had just taken, and both would run. A lock naming a dead pid is removed by
 *   nobody else (its owner is gone), so the lock read under the token is the one removed.
 * A process killed in the middle of a takeover (between a few system calls) leaves the token
 * behind: later ones then refuse to start and say which files to remove.
 */
export function lockDataDir(base: string): () => void {
  mkdirSync(base, { recursive: true });
  const file = join(base, 'npm-start.lock');
  const token = `${file}.takeover`;
  const giveUpAt = Date.now() + TAKEOVER_WAIT_MS;
  for (let first = true; ; first = false) {
    if (!first && Date.now() >= giveUpAt) {
      throw new Error(`cannot take ${file}: it kept changing for ${TAKEOVER_WAIT_MS} ms`);
    }
    if (create(file)) return () => release(file);
    const holder = readPid(file);
    if (holder === undefined) continue; // removed since: try again
    if (running(holder)) throw busy(holder, base);
    if (create(token)) {
      try {
        const again = readPid(file);
        if (again !== undefined) {
          if (running(again)) throw busy(again, base);
          rmSync(file, { force: true });
        }
      } finally {
        rmSync(token, { force: true });
      }
      continue;
    }
    // Another process is taking the stale lock over: that takes it microseconds.
    const breaker = readPid(token);
    if (breaker !== undefined && (!running(breaker) || Date.now() + 5 >= giveUpAt)) {
      throw new Error(`cannot take ${file}: a takeover of it by pid ${breaker} (${token}) ` +
        `did not finish. If no npm start is running on ${base}, remove both files`);
    }
    sleepMs(5);
  }
}

/** Creates `name` holding this process's pid, whole; false when it exists. */
function create(name: string): boolean {
  const own = `${name}.${process.pid}.${randomBytes(6).toString('hex')}`;
  writeFileSync(own, `${process.pid}\n`, { flag: 'wx' });
  try {
    linkSync(own, name);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    rmSync(own, { force: true });
  }
}

/** The pid in `name` (0 when it holds none), or undefined when there is no such file. */
function readPid(name: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(name, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : 0;
}

function release(file: string): void {
  try {
    // Nobody else removes a lock whose process runs: it is still this one's.
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file);
  } catch {
    // already gone
  }
}

function busy(pid: number, base: string): Error {
  return new Error(`another npm start (pid ${pid}) is running on ${base}: two clusters ` +
    'must not share Redis data. Stop it first (Ctrl-C in its terminal, or kill ' +
    `${pid}), or give this one its own directory: npm start -- --data-dir <dir>`);
}

/**
 * Whether `pid` names a running process other than this one (a lock naming this process,
 * which has not taken it yet, is an old one's whose pid was reused).
 */
function running(pid: number): boolean {
  if (pid === 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
