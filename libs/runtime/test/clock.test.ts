import type { Message, Ready } from '@synod/protocol';
import { type Core, CoreDriver, silentLogger, type Transport } from '../src/index.js';

/** A transport that carries nothing: the test only looks at what the driver tells the core. */
const idle: Transport = {
  publish: () => undefined,
  subscribe: () => ({ unsubscribe: () => undefined }),
  request: () => Promise.reject(new Error('not used')),
  requestMany: () => Promise.resolve([]),
  respond: () => false,
  flush: () => Promise.resolve(),
  close: () => Promise.resolve(),
};

/** A core that records the calls it gets, in order. */
class ClockedCore implements Core<never> {
  readonly calls: string[] = [];
  step(m: Message): void {
    this.calls.push(`step ${m.type}`);
  }
  tick(): void {
    this.calls.push('tick');
  }
  setTime(nowMs: number): void {
    this.calls.push(`time ${nowMs}`);
  }
  hasReady(): boolean {
    return false;
  }
  ready(): Ready<never> {
    return { persist: null, messages: [], committed: [], events: [] };
  }
  advance(): void {}
}

describe('CoreDriver: the wall clock is an input of the core', () => {
  test('a core that takes the time gets it (whole ms) before every step and every tick',
    async () => {
      const core = new ClockedCore();
      let now = 1_000.7;
      const driver = new CoreDriver({
        cluster: 'c', role: 'proposer', id: 'p1', core, transport: idle, tickMs: 5,
        logger: silentLogger, onFatal: () => undefined, clockMs: () => now,
      });
      driver.start();
      driver.inject({ type: 'heartbeat', from: 'p2', ballot: { round: 1, proposer: 'p2',
        incarnation: 0 }, chosenUpTo: 0 });
      now = 2_000;
      await new Promise((r) => setTimeout(r, 30));
      await driver.stop();
      expect(core.calls.slice(0, 2)).toEqual(['time 1000', 'step heartbeat']);
      const ticks = core.calls.flatMap((c, i) => (c === 'tick' ? [core.calls[i - 1]] : []));
      expect(ticks.length).toBeGreaterThan(0);
      expect(new Set(ticks)).toEqual(new Set(['time 2000']));
    });
});
