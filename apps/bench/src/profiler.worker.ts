/**
 * A preload (`node --require profiler.worker.js`) that CPU-profiles the process it runs in and
 * writes `<BENCH_PROFILE_DIR>/<pid>.cpuprofile` when the process exits. Node refuses
 * `--cpu-prof` in NODE_OPTIONS, which is the only way into services that LocalCluster starts;
 * `--require` is allowed. The in-thread inspector session answers synchronously, so the profile
 * is complete even when the service ends with `process.exit()`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env['BENCH_PROFILE_DIR'];
if (dir !== undefined && dir !== '') {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  process.on('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (err !== null) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
