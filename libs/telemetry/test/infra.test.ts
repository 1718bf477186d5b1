import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MetricName, SpanName } from '@synod/telemetry';

/** The observability files docker-compose.yml mounts agree with what the services export. */
describe('infra/ observability files', () => {
  const infra = join(__dirname, '..', '..', '..', 'infra');
  const read = (p: string): string => readFileSync(join(infra, p), 'utf8');

  /** Prometheus names of every metric the services export. */
  const exported = new Set<string>();
  for (const name of Object.values(MetricName)) {
    const base = name.replaceAll('.', '_');
    for (const suffix of ['', '_total', '_bucket', '_sum', '_count']) exported.add(base + suffix);
  }
  const labels = new Set(['synod_role']);

  test('the "Synod rounds" dashboard queries only metrics that exist', () => {
    const text = read('grafana/dashboards/synod-rounds.json');
    const dash = JSON.parse(text) as { title: string; uid: string; panels: { title: string }[] };
    expect(dash.title).toBe('Synod rounds');
    const titles = dash.panels.map((p) => p.title);
    for (const want of ['Decisions per second', 'Phase latency percentiles', 'Leader timeline',
      'Rejected messages by reason', 'Rounds started, won, preempted', 'Recent rounds (traces)']) {
      expect(titles).toContain(want);
    }
    const used = new Set(text.match(/synod_[a-z_]+/g) ?? []);
    const unknown = [...used].filter((m) => !exported.has(m) && !labels.has(m));
    expect(unknown).toEqual([]);
    expect(text).toContain(`operation=${SpanName.Round}`);
  });

  test('collector, Prometheus and Grafana provisioning are where the compose file mounts them',
    () => {
      const collector = read('otel/collector.yaml');
      expect(collector).toMatch(/endpoint: 0\.0\.0\.0:4318/);
      expect(collector).toMatch(/endpoint: jaeger:4317/);
      expect(collector).toMatch(/exporters: \[otlp\/jaeger, spanmetrics\]/);
      const prometheus = read('prometheus/prometheus.yml');
      for (const t of ['acceptor-a1:8080', 'proposer-p1:8080', 'learner-l1:8080']) {
        expect(prometheus).toContain(t);
      }
      expect(read('grafana/provisioning/datasources/synod.yaml')).toContain('uid: jaeger');
      expect(read('grafana/provisioning/dashboards/synod.yaml'))
        .toContain('path: /var/lib/grafana/dashboards');
      const compose = join(infra, '..', 'docker-compose.yml');
      if (existsSync(compose)) {
        const c = readFileSync(compose, 'utf8');
        for (const m of ['./infra/otel/collector.yaml', './infra/prometheus/prometheus.yml',
          './infra/grafana/provisioning', './infra/grafana/dashboards']) {
          expect(c).toContain(m);
        }
      }
    });
});
