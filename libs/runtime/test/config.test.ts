import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, otelEnvProblems, parsers, readConfig } from '../src/index.js';

const specs = {
  nodeId: { name: 'SYNOD_NODE_ID', help: "this node's id", parse: parsers.token, example: 'a1' },
  port: {
    name: 'SYNOD_HEALTH_PORT', help: 'health port', default: 8080, parse: parsers.int(0, 65535),
    example: '8080',
  },
  acceptors: {
    name: 'SYNOD_ACCEPTORS', help: 'acceptor ids', parse: parsers.tokenList, example: 'a1,a2,a3',
  },
  nats: {
    name: 'NATS_URL', help: 'NATS URL', default: 'nats://x:4222', parse: parsers.url(['nats']),
    example: 'nats://nats:4222',
  },
};

describe('readConfig', () => {
  test('valid variables parse, defaults fill the rest', () => {
    const c = readConfig(specs, { SYNOD_NODE_ID: 'a1', SYNOD_ACCEPTORS: 'a1, a2,a3' });
    expect(c).toEqual({
      nodeId: 'a1', port: 8080, acceptors: ['a1', 'a2', 'a3'], nats: 'nats://x:4222',
    });
  });

  test('every bad variable is named at once, with what was wrong and an example fix', () => {
    let err: unknown;
    try {
      readConfig(specs, {
        SYNOD_HEALTH_PORT: '99999', SYNOD_ACCEPTORS: 'a1,a1', NATS_URL: 'http://x',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/SYNOD_NODE_ID is not set.*SYNOD_NODE_ID=a1/);
    expect(problems[1])
      .toMatch(/SYNOD_HEALTH_PORT="99999" is invalid: must be an integer in 0..65535/);
    expect(problems[2]).toMatch(/SYNOD_ACCEPTORS="a1,a1" is invalid: lists an id twice/);
    expect(problems[3]).toMatch(/NATS_URL="http:\/\/x" is invalid: scheme must be one of nats/);
    expect((err as ConfigError).code).toBe('SYNOD_CONFIG');
  });

  test('a malformed URL or a bad secret is named without showing the credential', () => {
    const secretSpecs = {
      ...specs,
      redis: {
        name: 'REDIS_URL', help: 'Redis URL', parse: parsers.url(['redis']),
        example: 'redis://redis:6379',
      },
      pass: {
        name: 'NATS_PASSWORD', help: 'NATS password', default: '', secret: true,
        parse: (raw: string): string => {
          if (raw.length > 8) throw new Error(`too long: ${raw}`);
          return raw;
        },
        example: 's3cret',
      },
    };
    let problems = '';
    try {
      readConfig(secretSpecs, {
        SYNOD_NODE_ID: 'a1', SYNOD_ACCEPTORS: 'a1',
        REDIS_URL: 'http://acceptor-a1:TopSecretPw@redis:6379',
        NATS_URL: 'nats://u:AlsoSecret@nats:4222,nats://[bad',
        NATS_PASSWORD: 'VeryLongSecretPw',
      });
    } catch (e) {
      problems = (e as ConfigError).message;
    }
    expect(problems).toMatch(/REDIS_URL="http:\/\/acceptor-a1:\*\*\*@redis:6379" is invalid/);
    expect(problems).toMatch(/NATS_URL=/);
    expect(problems).toMatch(/NATS_PASSWORD=\(16 characters, not shown\) is invalid/);
    expect(problems).not.toMatch(/TopSecretPw|AlsoSecret|VeryLongSecretPw/);
  });

  test('ids must be subject tokens', () => {
    expect(() => readConfig(specs, { SYNOD_NODE_ID: 'a.1', SYNOD_ACCEPTORS: 'a1' }))
      .toThrow(/SYNOD_NODE_ID="a.1" is invalid/);
  });
});

describe('NAME_FILE: a variable read from a file (mounted Secrets)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'synod-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('the file holds the value, one trailing newline dropped; NAME itself wins', () => {
    const file = join(dir, 'id');
    writeFileSync(file, 'a7\n');
    const env = { SYNOD_NODE_ID_FILE: file, SYNOD_ACCEPTORS: 'a1' };
    expect(readConfig(specs, env).nodeId).toBe('a7');
    expect(readConfig(specs, { ...env, SYNOD_NODE_ID: 'a2' }).nodeId).toBe('a2');
  });

  test('an unreadable file is a configuration error naming the variable', () => {
    expect(() => readConfig(specs, {
      SYNOD_NODE_ID_FILE: join(dir, 'missing'), SYNOD_ACCEPTORS: 'a1',
    })).toThrow(/SYNOD_NODE_ID_FILE=".*missing" cannot be read/);
  });
});

describe('otelEnvProblems: the OTLP endpoint variables every service reads', () => {
  test('http(s) URLs, unset or empty: no problem', () => {
    expect(otelEnvProblems({})).toEqual([]);
    expect(otelEnvProblems({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector.example:443/v1/traces',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: '',
    })).toEqual([]);
  });

  test('no scheme, or another scheme: named, with the fix, password hidden', () => {
    const p = otelEnvProblems({
      OTEL_EXPORTER_OTLP_ENDPOINT: '127.0.0.1:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'otel-collector:4318',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'grpc://u:secret@h:4317',
    });
    expect(p).toHaveLength(3);
    expect(p[0]).toMatch(/^OTEL_EXPORTER_OTLP_ENDPOINT="127\.0\.0\.1:4318" is not an http\(s\) URL/);
    expect(p[0]).toContain('e.g. http://otel-collector:4318');
    expect(p[1]).toMatch(/^OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="otel-collector:4318"/);
    expect(p[2]).toContain('u:***@h:4317');
    expect(p[2]).not.toContain('secret');
  });
});
