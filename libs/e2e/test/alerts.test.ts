import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MetricName } from '@synod/telemetry';
import { parse } from 'yaml';

/**
 * The alerting rules of the observability profile name metrics the services export, fire when
 * they should (`promtool test rules` with infra/prometheus/alerts.test.yml), and Prometheus loads
 * them from where docker-compose.yml mounts them. (Whether the learner's gauges hold the right
 * figures is learner-storage.test.ts, on real processes.)
 */

const root = resolve(__dirname, '../../..');
const CI = process.env['CI'] === 'true' || process.env['CI'] === '1';
/** promtool on the PATH, or unpacked from Debian's prometheus package by .ci/run; else null. */
const promtool = ((): string | null => {
  const unpacked = join(root, '.tools/prometheus/usr/bin/promtool');
  if (existsSync(unpacked)) return unpacked;
  return spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).status === 0
    ? 'promtool' : null;
})();
const read = (p: string): string => readFileSync(join(root, p), 'utf8');

interface Rule {
  alert?: string;
  expr?: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rules = (parse(read('infra/prometheus/alerts.yml')) as { groups: { rules: Rule[] }[] })
  .groups.flatMap((g) => g.rules);
/** Prometheus names of what the services export: dots become underscores. */
const exported = new Set(Object.values(MetricName).map((n) => n.replace(/\./g, '_')));

test('every alert is complete and names only exported synod_ metrics', () => {
  expect(rules.map((r) => r.alert)).toEqual([
    'SynodLearnerStoreFilling', 'SynodLearnerStoreNearlyFull', 'SynodLearnerStoreFullSoon',
  ]);
  for (const r of rules) {
    expect(r.expr).toEqual(expect.any(String));
    expect(r.for).toMatch(/^\d+[smh]$/);
    expect(['warning', 'critical']).toContain(r.labels?.['severity']);
    expect(r.annotations?.['summary']).toEqual(expect.any(String));
    expect(r.annotations?.['description']).toMatch(/docs\/operations\.md#learner-storage/);
    const names = r.expr?.match(/\bsynod_[a-z_]+/g) ?? [];
    expect(names.length).toBeGreaterThan(0);
    for (const n of names) expect([...exported]).toContain(n);
  }
});

test('prometheus.yml loads the rules from where docker-compose.yml mounts them', () => {
  const prom = parse(read('infra/prometheus/prometheus.yml')) as { rule_files?: string[] };
  expect(prom.rule_files).toEqual(['/etc/prometheus/alerts.yml']);
  expect(read('docker-compose.yml'))
    .toContain('./infra/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro');
});

if (promtool === null && !CI) {
  test.skip('promtool is not installed (.ci/run unpacks it): the rules unit tests skipped',
    () => undefined);
} else {
  test('promtool: the rules parse, and fire (and stay quiet) as alerts.test.yml expects', () => {
    if (promtool === null) throw new Error('promtool not found: .ci/run unpacks it into .tools/');
    for (const args of [['check', 'rules', 'alerts.yml'], ['test', 'rules', 'alerts.test.yml']]) {
      const r = spawnSync(promtool, args, {
        cwd: join(root, 'infra/prometheus'), encoding: 'utf8', timeout: 60_000,
      });
      expect({ args, status: r.status, out: `${r.stdout}${r.stderr}` })
        .toMatchObject({ status: 0, out: expect.stringContaining('SUCCESS') });
    }
  });
}
