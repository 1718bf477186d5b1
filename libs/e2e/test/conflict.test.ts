import { type SynodClient, SynodConflictError } from '@synod/client';
import type { LocalCluster } from '@synod/testing';
import { client, startCluster } from './harness.js';

/**
 * A (clientId, seq) reused with another payload (a mistaken "retry") is refused with a typed
 * conflict naming the slot, not reported as chosen: its payload was never proposed.
 */
describe('a request id reused with another payload', () => {
  let cluster: LocalCluster;
  let cl: SynodClient;
  beforeAll(async () => {
    cluster = await startCluster({ acceptors: 3, proposers: 2, learners: 1 });
    cl = await client(cluster);
  });
  afterAll(async () => {
    await cl?.close();
    await cluster?.stop();
  });

  test('is refused with SynodConflictError naming the slot; the log keeps the first payload; ' +
    'an honest retry still gets the slot', async () => {
    const first = await cl.propose('first');
    const e = await cl.propose('different', { seq: first.seq }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SynodConflictError);
    expect(e).toMatchObject({ code: 'CONFLICT', slot: first.slot, seq: first.seq });
    expect((e as Error).message).toMatch(/already chosen at slot \d+ with another payload/);
    const again = await cl.propose('first', { seq: first.seq });
    expect(again.slot).toBe(first.slot);
    const entry = await cl.read(first.slot);
    expect(entry?.value).toMatchObject({ kind: 'cmds', cmds: [{ payload: 'first' }] });
    // Nothing of 'different' was proposed: the next slots hold nothing of it.
    const after = await cl.readRange(0, 100);
    expect(JSON.stringify(after.entries)).not.toContain('different');
  });
});
