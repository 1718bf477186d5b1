import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkDataShape, SHAPE_FILE } from '../src/shape.js';

let dir: string;
beforeEach(() => {
  dir = join(mkdtempSync(join(tmpdir(), 'synod-shape-unit-')), 'data');
});
afterEach(() => rmSync(join(dir, '..'), { recursive: true, force: true }));
const record = (id: string): string => join(dir, `acceptor-${id}.initialised`);

test('a new directory records its shape; the same shape passes, another is refused', () => {
  checkDataShape(dir, { cluster: 'synod', acceptors: 3 }, record);
  expect(JSON.parse(readFileSync(join(dir, SHAPE_FILE), 'utf8')))
    .toMatchObject({ cluster: 'synod', acceptors: 3 });
  expect(() => checkDataShape(dir, { cluster: 'synod', acceptors: 3 }, record)).not.toThrow();
  expect(() => checkDataShape(dir, { cluster: 'synod', acceptors: 5 }, record))
    .toThrow(/--acceptors 5, but the data in .* belongs to a cluster of 3 acceptors.*--fresh/);
  expect(() => checkDataShape(dir, { cluster: 'x', acceptors: 3 }, record))
    .toThrow(/--cluster x, but the data .* belongs to cluster 'synod'/);
});

test('a directory from before the shape file is adopted: its acceptors count, and are ' +
  'recorded as initialised', () => {
  for (const id of ['a1', 'a2', 'a3', 'l1']) {
    mkdirSync(join(dir, `redis-${id}`), { recursive: true });
  }
  expect(() => checkDataShape(dir, { cluster: 'synod', acceptors: 1 }, record))
    .toThrow(/cluster of 3 acceptors/);
  expect(['a1', 'a2', 'a3'].map((id) => existsSync(record(id)))).toEqual([true, true, true]);
  expect(existsSync(join(dir, SHAPE_FILE))).toBe(false);
  checkDataShape(dir, { cluster: 'synod', acceptors: 3 }, record);
  expect(existsSync(join(dir, SHAPE_FILE))).toBe(true);
});

test('adopting an old directory with an acceptor\'s Redis missing counts up to the highest ' +
  'acceptor, and records the missing one as initialised (amnesic, not new)', () => {
  for (const id of ['a1', 'a3']) mkdirSync(join(dir, `redis-${id}`), { recursive: true });
  expect(() => checkDataShape(dir, { cluster: 'synod', acceptors: 2 }, record))
    .toThrow(/cluster of 3 acceptors/);
  expect(['a1', 'a2', 'a3'].map((id) => existsSync(record(id)))).toEqual([true, true, true]);
});

test('a bad cluster name, or a shape file that is not ours, is refused with the fix', () => {
  expect(() => checkDataShape(dir, { cluster: 'bad.name', acceptors: 3 }, record))
    .toThrow(/a cluster name is 1 to 64 of \[A-Za-z0-9_-\]/);
  expect(existsSync(dir)).toBe(false);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, SHAPE_FILE), 'garbage');
  expect(() => checkDataShape(dir, { cluster: 'synod', acceptors: 3 }, record))
    .toThrow(/is not what npm start wrote.*--fresh/);
});
