import { describe, expect, it } from 'vitest';
import { httpPortOf, metricValue, RELOAD_JOBS_METRIC } from './bridge-metrics.ts';

// The shape prom-client writes, with a second counter whose name starts the same.
const TEXT = `# HELP psc_reload_jobs_total Reload job attempts by outcome
# TYPE psc_reload_jobs_total counter
psc_reload_jobs_total{outcome="completed"} 7
psc_reload_jobs_total{outcome="retried"} 2
psc_reload_jobs_total{outcome="failed"} 0
psc_reload_jobs_total_extra{outcome="retried"} 100
psc_reload_jobs_stalled_total 1
`;

describe('metricValue', () => {
  it('reads the sample with the given labels', () => {
    expect(metricValue(TEXT, RELOAD_JOBS_METRIC, { outcome: 'retried' })).toBe(2);
  });

  it('sums every sample when no label is given, and is 0 for an absent metric', () => {
    expect(metricValue(TEXT, RELOAD_JOBS_METRIC)).toBe(9);
    expect(metricValue(TEXT, 'psc_reload_jobs_stalled_total')).toBe(1);
    expect(metricValue(TEXT, 'psc_nothing_total')).toBe(0);
  });
});

describe('httpPortOf', () => {
  it('finds the port in the bridge start-up log line only', () => {
    expect(httpPortOf('{"level":30,"httpPort":40823,"msg":"bridge started"}')).toBe(40823);
    expect(httpPortOf('{"level":30,"msg":"leading"}')).toBeUndefined();
    expect(httpPortOf('null')).toBeUndefined();
    expect(httpPortOf('not json')).toBeUndefined();
  });
});
