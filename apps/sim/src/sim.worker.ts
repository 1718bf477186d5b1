import { parentPort } from 'node:worker_threads';
import type { PlantedBug } from '@synod/protocol';
import { runSeed } from '@synod/testing';
import { addResult, emptyTotals, type Totals } from './stats.js';

/** A range of seeds to run. */
export interface Chunk {
  readonly from: number;
  readonly count: number;
  readonly mutant: PlantedBug | null;
}

/** Runs a chunk of seeds and returns their totals. */
export function runChunk(c: Chunk): Totals {
  const t = emptyTotals();
  for (let s = c.from; s < c.from + c.count; s++) {
    addResult(t, runSeed(s, { plantedBug: c.mutant }));
  }
  return t;
}

if (parentPort !== null) {
  const port = parentPort;
  port.on('message', (c: Chunk) => port.postMessage(runChunk(c)));
}
