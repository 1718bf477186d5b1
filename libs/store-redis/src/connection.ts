import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { StoreError, StoreErrorCode } from './errors.js';

/** Options shared by both Redis stores. */
export interface RedisStoreOptions {
  /** `redis://[user:pass@]host:port[/db]` (or `rediss://`); the password is never logged. */
  readonly url: string;
  /**
   * Longest wait, in milliseconds, for one store operation (connect, load step, persist),
   * including any wait for Redis to come back after a restart. Past it the operation rejects
   * with UNAVAILABLE. Default 5000.
   *
   * While Redis is unreachable, commands wait in ioredis's offline queue (it is enabled, with
   * `maxRetriesPerRequest: null`) and are sent in order on reconnection; commands in flight
   * when the connection dropped are re-sent. A command that timed out stays queued and may
   * still run later, which is harmless for these writes (see the persist methods); `close()`
   * drops the queue.
   */
  readonly commandTimeoutMs?: number;
  /**
   * Skip the durability check (`appendonly yes`, `appendfsync always`). For development only:
   * a reply can then leave before its vote is on disk, and a crash of Redis can make the
   * acceptor vote twice. The app must say so loudly when it sets this.
   */
  readonly allowNonDurable?: boolean;
}

/** Default of {@link RedisStoreOptions.commandTimeoutMs}. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5000;

/** Longest pause between reconnection attempts, in milliseconds. */
const RECONNECT_DELAY_MS_MAX = 500;
/** How long `close()` lets a socket end gracefully before destroying it, in milliseconds. */
const DISCONNECT_TIMEOUT_MS = 100;

/**
 * One ioredis connection with the behaviour a vote store needs.
 *
 * - **Commands wait for Redis.** `maxRetriesPerRequest: null` and `enableOfflineQueue: true`:
 *   a command issued while Redis restarts is queued and sent, in order, once the connection is
 *   ready again, and commands in flight when the connection dropped are re-sent
 *   (`autoResendUnfulfilledCommands`). A write is therefore never dropped silently.
 * - **Every wait is bounded** by `commandTimeoutMs`, after which the caller gets UNAVAILABLE.
 *   The command itself stays queued: it may still run when Redis comes back. That is safe
 *   for Synod's writes: they only raise state the core already holds in memory, the script
 *   refuses to lower a promise, and no reply was sent for them (the runtime stops voting on a
 *   failed persist). `close()` drops whatever is still queued.
 */
export class RedisLink {
  readonly redis: Redis;
  /** The URL without its password, for messages. */
  readonly where: string;
  readonly timeoutMs: number;
  private lastError: Error | undefined;
  private closed = false;
  private readonly shas = new Map<string, string>();

  /** Creates the client without connecting; `name` becomes the Redis client name. */
  constructor(url: string, timeoutMs: number | undefined, name: string) {
    this.where = redactUrl(url);
    this.timeoutMs = timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    if (!Number.isSafeInteger(this.timeoutMs) || this.timeoutMs < 1) {
      throw new RangeError(`commandTimeoutMs must be a positive integer: ${this.timeoutMs}`);
    }
    this.redis = new Redis(url, {
      lazyConnect: true,
      connectionName: name,
      connectTimeout: this.timeoutMs,
      maxRetriesPerRequest: null,
      enableOfflineQueue: true,
      autoResendUnfulfilledCommands: true,
      enableReadyCheck: true,
      retryStrategy: (times) => Math.min(times * 50, RECONNECT_DELAY_MS_MAX),
      disconnectTimeout: DISCONNECT_TIMEOUT_MS,
    });
    // Without a listener ioredis prints every connection error; we keep the last for messages.
    this.redis.on('error', (e: Error) => {
      this.lastError = e;
    });
  }

  /** Connects unless already connected or reconnecting; UNAVAILABLE when that fails. */
  async connect(): Promise<void> {
    if (this.closed) {
      throw new StoreError(StoreErrorCode.Unavailable, `store for ${this.where} is closed`);
    }
    if (this.redis.status !== 'wait' && this.redis.status !== 'end') return;
    try {
      await this.bounded(this.redis.connect(), 'connect');
    } catch (e) {
      throw this.toStoreError(e, 'connect');
    }
  }

  /**
   * Runs one command (or several, in `run`) within the timeout. Errors become StoreErrors:
   * by `refine` first (for a script's own refusals), else by {@link toStoreError}.
   */
  async call<T>(
    what: string,
    run: (r: Redis) => Promise<T>,
    refine?: (e: unknown) => StoreError | null,
  ): Promise<T> {
    if (this.closed) {
      throw new StoreError(StoreErrorCode.Unavailable,
        `store for ${this.where} is closed (${what})`);
    }
    try {
      return await this.bounded(run(this.redis), what);
    } catch (e) {
      throw refine?.(e) ?? this.toStoreError(e, what);
    }
  }

  /**
   * Runs a Lua script by EVALSHA, falling back to EVAL when Redis does not know it (a fresh or
   * restarted server answers NOSCRIPT). Errors are the driver's: map them with the caller.
   */
  async script(lua: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    let sha = this.shas.get(lua);
    if (sha === undefined) {
      sha = createHash('sha1').update(lua).digest('hex');
      this.shas.set(lua, sha);
    }
    try {
      return await this.redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (e) {
      if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
      return await this.redis.eval(lua, keys.length, ...keys, ...args);
    }
  }

  /**
   * Throws NOT_DURABLE unless Redis runs with `appendonly yes` and `appendfsync always`, the
   * settings under which a write's reply means the write is on disk.
   */
  async checkDurable(): Promise<void> {
    const appendonly = await this.configGet('appendonly');
    const appendfsync = await this.configGet('appendfsync');
    const bad = appendonly !== 'yes' ? `appendonly=${appendonly}`
      : appendfsync !== 'always' ? `appendfsync=${appendfsync}` : null;
    if (bad === null) return;
    throw new StoreError(StoreErrorCode.NotDurable,
      `redis at ${this.where} has ${bad}; Synod needs appendonly yes and appendfsync always ` +
      '(redis.conf, or `CONFIG SET appendonly yes` and `CONFIG SET appendfsync always`), ' +
      'or set SYNOD_DEV_ALLOW_NONDURABLE=1 (allowNonDurable) for development only');
  }

  /**
   * Quits politely when connected, else stops reconnecting and drops what is still queued.
   * Later calls reject with UNAVAILABLE at once.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const r = this.redis;
    if (r.status === 'end') return;
    if (r.status === 'ready') {
      try {
        await this.bounded(r.quit(), 'quit');
        return;
      } catch {
        // Fall through: a server that does not answer QUIT is simply disconnected.
      }
    }
    const dead = r.status === 'reconnecting';
    r.disconnect();
    // Between attempts ioredis ends the already-closed socket and arms a `disconnectTimeout`
    // timer that nothing clears; wait it out so that a closed store holds no timer.
    if (dead) await new Promise((resolve) => setTimeout(resolve, DISCONNECT_TIMEOUT_MS + 10));
  }

  /** Maps an error from ioredis or from a script to a {@link StoreError}. */
  toStoreError(e: unknown, what: string): StoreError {
    if (e instanceof StoreError) return e;
    const msg = e instanceof Error ? e.message : String(e);
    if (isReplyError(e)) {
      return new StoreError(StoreErrorCode.Refused,
        `redis at ${this.where} refused ${what}: ${msg}`, e);
    }
    const last = this.lastError !== undefined && this.lastError !== e
      ? ` (last connection error: ${this.lastError.message})` : '';
    return new StoreError(StoreErrorCode.Unavailable,
      `redis at ${this.where} is unavailable for ${what}: ${msg}${last}`, e);
  }

  private async configGet(name: string): Promise<string> {
    let reply: unknown;
    try {
      reply = await this.bounded(this.redis.config('GET', name), `CONFIG GET ${name}`);
    } catch (e) {
      if (!isReplyError(e)) throw this.toStoreError(e, `CONFIG GET ${name}`);
      throw new StoreError(StoreErrorCode.NotDurable,
        `cannot check that redis at ${this.where} is durable: CONFIG GET ${name} failed ` +
        `(${(e as Error).message}). Allow it for Synod's user (ACL \`+config|get\`) and do ` +
        'not rename or disable CONFIG, or set SYNOD_DEV_ALLOW_NONDURABLE=1 (allowNonDurable) ' +
        'for development only', e);
    }
    if (!Array.isArray(reply) || reply.length !== 2 || typeof reply[1] !== 'string') {
      return '<unknown>';
    }
    return reply[1];
  }

  /** Rejects with UNAVAILABLE when `p` has not settled within the timeout. */
  private bounded<T>(p: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const last = this.lastError === undefined ? '' : `; last error: ${this.lastError.message}`;
        reject(new StoreError(StoreErrorCode.Unavailable,
          `redis at ${this.where} did not answer ${what} within ${this.timeoutMs} ms ` +
          `(connection ${this.redis.status}${last})`));
      }, this.timeoutMs);
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }
}

/** True for an error reply from Redis (as opposed to a connection or client error). */
export function isReplyError(e: unknown): e is Error {
  return e instanceof Error && e.name === 'ReplyError';
}

/** The URL with any password replaced by `***`, for messages and logs. */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RangeError('not a redis URL (expected redis://[user:pass@]host:port[/db])');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new RangeError(`not a redis URL (scheme ${u.protocol}): expected redis:// or rediss://`);
  }
  if (u.password !== '') u.password = '***';
  return u.toString();
}
