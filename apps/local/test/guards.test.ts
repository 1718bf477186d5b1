import { mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync,
  writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnvUrls, writeFileAtomic } from '../src/guards.js';

describe('writeFileAtomic', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'synod-atomic-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('replaces the file by a rename: a reader of the old one reads it whole; no temp left',
    () => {
    const file = join(dir, 'cluster.json');
    writeFileSync(file, '{"old":true}\n');
    const before = statSync(file).ino;
    const fd = openSync(file, 'r');
    writeFileAtomic(file, '{"new":true}\n');
    // Written in place, the open file would now read the new text (or half of it).
    const buf = Buffer.alloc(100);
    expect(buf.subarray(0, readSync(fd, buf, 0, 100, 0)).toString()).toBe('{"old":true}\n');
    expect(statSync(file).ino).not.toBe(before);
    expect(readFileSync(file, 'utf8')).toBe('{"new":true}\n');
    expect(readdirSync(dir)).toEqual(['cluster.json']);
  });
});

describe('parseEnvUrls', () => {
  test('NATS_URL and REDIS_URL: host and port to probe', () => {
    expect(parseEnvUrls({})).toEqual({});
    expect(parseEnvUrls({ NATS_URL: '', REDIS_URL: '' })).toEqual({});
    expect(parseEnvUrls({ NATS_URL: 'nats://h:1,nats://g:2', REDIS_URL: 'redis://u:p@r:3' }))
      .toEqual({ nats: { url: 'nats://h:1,nats://g:2', host: 'h', port: 1 },
        redis: { url: 'redis://u:p@r:3', host: 'r', port: 3 } });
    expect(parseEnvUrls({ NATS_URL: '127.0.0.1:4333' }).nats)
      .toEqual({ url: '127.0.0.1:4333', host: '127.0.0.1', port: 4333 });
    expect(parseEnvUrls({ NATS_URL: 'nats://h' }).nats?.port).toBe(4222);
  });

  test.each([
    [{ REDIS_URL: 'notaurl' }, /^REDIS_URL=notaurl is not a Redis URL: expected redis:\/\//],
    [{ REDIS_URL: 'http://h:1' }, /^REDIS_URL=http:\/\/h:1 is not a Redis URL.*unset REDIS_URL/],
    [{ NATS_URL: 'notaurl' }, /^NATS_URL=notaurl is not a NATS URL: expected nats:\/\/host:port/],
    [{ NATS_URL: 'nats://h:1,http://g:2' }, /^NATS_URL=nats:\/\/h:1,http:\/\/g:2 is not a NATS/],
  ])('%j is refused, naming the variable and the form', (env, says) => {
    expect(() => parseEnvUrls(env)).toThrow(says);
  });
});
