import { readFileSync } from 'node:fs';

/**
 * Configuration from environment variables, validated at start. Every error names the
 * variable, what was wrong and how to fix it; all errors are reported at once.
 */

/** One environment variable of a service. */
export interface VarSpec<T> {
  readonly name: string;
  readonly help: string;
  /** Used when the variable is unset; absent means the variable is required. */
  readonly default?: T;
  /** Turns the raw text into a value, or throws an Error whose message says what is wrong. */
  readonly parse: (raw: string) => T;
  /** Shown in the fix hint, e.g. `a1,a2,a3`. */
  readonly example: string;
  /** A secret (a password): an error names the variable but never shows its value. */
  readonly secret?: boolean;
}

/**
 * Hides the password of every `scheme://user:password@host` in `text`, so that an error about
 * a malformed `REDIS_URL` or `NATS_URL` (or one read from a Kubernetes Secret via `_FILE`)
 * does not put the credential in the logs.
 */
export function redactCredentials(text: string): string {
  return text.replace(/(\/\/[^\s/@:]*:)[^\s@]*@/g, '$1***@');
}

/** Raised when configuration is invalid; `problems` lists every bad variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'SYNOD_CONFIG';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

type Specs = Record<string, VarSpec<unknown>>;
type Values<S extends Specs> = { [K in keyof S]: S[K] extends VarSpec<infer T> ? T : never };

/**
 * The text of `<NAME>_FILE` when `NAME` itself is unset: secrets mounted as files (Kubernetes
 * Secret volumes, Docker secrets) are read without passing through the environment. One
 * trailing newline is dropped. Undefined when neither is set; throws when the file is unreadable.
 */
function fromFile(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (file === undefined || file === '') return undefined;
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`${name}_FILE=${JSON.stringify(file)} cannot be read: ${why}`);
  }
}

/**
 * Reads and validates every variable of `specs` from `env`; throws {@link ConfigError}. Any
 * variable may instead be given as a file: `NAME_FILE=/path` (see {@link fromFile}).
 */
export function readConfig<S extends Specs>(specs: S, env: NodeJS.ProcessEnv): Values<S> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, spec] of Object.entries(specs)) {
    let raw = env[spec.name];
    if (raw === undefined || raw === '') {
      try {
        raw = fromFile(env, spec.name);
      } catch (e) {
        problems.push(e instanceof Error ? e.message : String(e));
        continue;
      }
    }
    if (raw === undefined || raw === '') {
      if ('default' in spec) out[key] = spec.default;
      else {
        problems.push(`${spec.name} is not set: ${spec.help}. ` +
          `Set it, e.g. ${spec.name}=${spec.example}`);
      }
      continue;
    }
    try {
      out[key] = spec.parse(raw);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      const shown = spec.secret === true
        ? `(${raw.length} characters, not shown)` : JSON.stringify(raw);
      problems.push(redactCredentials(`${spec.name}=${shown} is invalid: ` +
        `${spec.secret === true ? 'see the expected form' : why}. ` +
        `Expected ${spec.help}, e.g. ${spec.name}=${spec.example}`));
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as Values<S>;
}

/** A usage table of the variables (for `--help` and the README). */
export function describeConfig(specs: Specs): string {
  const rows = Object.values(specs).map((s) =>
    `  ${s.name.padEnd(30)} ${s.help}` +
    ('default' in s ? ` (default: ${String(s.default)})` : ' (required)'));
  rows.push('  Any variable NAME may instead be given as NAME_FILE=<a file holding the value>');
  return rows.join('\n');
}

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** Parsers shared by the services. */
export const parsers = {
  token(raw: string): string {
    if (!TOKEN.test(raw)) throw new Error('must be 1 to 64 of [A-Za-z0-9_-]');
    return raw;
  },
  tokenList(raw: string): string[] {
    const ids = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (ids.length === 0) throw new Error('must list at least one id');
    for (const id of ids) {
      if (!TOKEN.test(id)) throw new Error(`'${id}' is not 1 to 64 of [A-Za-z0-9_-]`);
    }
    if (new Set(ids).size !== ids.length) throw new Error('lists an id twice');
    return ids;
  },
  int(min: number, max: number) {
    return (raw: string): number => {
      const n = Number(raw);
      if (!Number.isSafeInteger(n) || n < min || n > max) {
        throw new Error(`must be an integer in ${min}..${max}`);
      }
      return n;
    };
  },
  bool(raw: string): boolean {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new Error('must be true or false');
  },
  url(schemes: readonly string[]) {
    return (raw: string): string => {
      for (const part of raw.split(',')) {
        let u: URL;
        try {
          u = new URL(part.trim());
        } catch {
          throw new Error(`'${part}' is not a URL`);
        }
        if (!schemes.includes(u.protocol.replace(/:$/, ''))) {
          throw new Error(`scheme must be one of ${schemes.join(', ')}`);
        }
      }
      return raw;
    };
  },
  text(raw: string): string {
    return raw;
  },
};

/** The OpenTelemetry variables that name an OTLP/HTTP endpoint. */
const OTLP_ENDPOINT_VARS = [
  'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
] as const;

/**
 * Problems with the standard OpenTelemetry endpoint variables that every service reads: each
 * one set must be an `http://` or `https://` URL. The SDK would otherwise fail to start with a
 * message that does not name the variable (`127.0.0.1:4318`), or start and fail every export
 * (`otel-collector:4318` parses as a URL of scheme `otel-collector:`).
 */
export function otelEnvProblems(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const name of OTLP_ENDPOINT_VARS) {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') continue;
    let ok = false;
    try {
      const u = new URL(raw);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      ok = false;
    }
    if (!ok) {
      out.push(`${name}=${JSON.stringify(redactCredentials(raw))} is not an http(s) URL: give ` +
        'the scheme, e.g. http://otel-collector:4318 (or unset it: no spans are exported then)');
    }
  }
  return out;
}
