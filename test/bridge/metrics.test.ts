// What a Prometheus scraper of `pg-static-cache bridge` and `worker` sees: Node's default metrics
// under their standard names (stock Node dashboards and alerts read `process_*` and `nodejs_*`),
// and the depth of the reload queue, which shows jobs piling up while no worker takes them.
import { installTriggers } from '@pg-static-cache/postgres';
import { describe, expect, it } from 'vitest';
import { createWorld, START_TIMEOUT_MS, started, TEST_TIMEOUT_MS } from '../cli/bridge-world.ts';
import { waitFor } from '../support/index.ts';
import { scrape, seriesValue } from '../support/metrics.ts';

const WAITING = 'psc_reload_queue_jobs{state="waiting"}';

/** Waits until `series` on `base`/metrics reads `value`. */
async function waitForSeries(base: string, series: string, value: number): Promise<void> {
  await waitFor(
    `${series} ${value} at ${base}`,
    async () => seriesValue(await scrape(base), series) === value,
    20_000,
  );
}

/** Node's default metrics, unprefixed, and none under a product prefix. */
function expectStandardNodeMetrics(text: string): void {
  expect(text).toMatch(/^process_cpu_seconds_total \d/m);
  expect(text).toMatch(/^process_resident_memory_bytes \d/m);
  expect(text).toMatch(/^nodejs_heap_size_used_bytes \d/m);
  expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
  expect(text).not.toMatch(/^psc_(?:bridge|worker)_(?:process|nodejs)_/m);
  // Registered once: a second registration would repeat the family (or prom-client would throw).
  expect(text.match(/^# TYPE process_cpu_seconds_total /gm)).toHaveLength(1);
}

describe('bridge and worker /metrics', () => {
  it(
    'default Node metrics keep their names, and the queue depth rises while jobs wait and falls when a worker drains them',
    async () => {
      await using world = await createWorld();
      // A bridge that adds reload jobs but runs no worker: its jobs wait.
      const bridge = world.spawnBridge('a', '--no-worker');
      const { http, role } = await started(bridge);
      expect(role).toBe('leader');
      // The takeover resync adds a job for `items`.
      await waitForSeries(http, WAITING, 1);
      const text = await scrape(http);
      expectStandardNodeMetrics(text);
      for (const state of ['active', 'delayed', 'failed']) {
        expect(seriesValue(text, `psc_reload_queue_jobs{state="${state}"}`)).toBe(0);
      }
      expect(seriesValue(text, 'psc_reload_queue_paused')).toBe(0);
      expect(seriesValue(text, 'psc_reload_queue_up')).toBe(1);

      // A commit to a second watched table: one more job waits.
      await world.schema.pool.query(`CREATE TABLE other (id int PRIMARY KEY)`);
      await installTriggers(world.schema.pool, ['other'], {
        channel: world.channel,
        functionName: world.functionName,
      });
      await world.schema.pool.query(`INSERT INTO other VALUES (1)`);
      await waitForSeries(http, WAITING, 2);

      const worker = world.spawn([
        'worker',
        '--namespace',
        world.names.namespace,
        '--http-port',
        '0',
        '--log-level',
        'warn',
      ]);
      const line = await worker.waitForLine((l) => l.includes('"event":"started"'), {
        timeoutMs: START_TIMEOUT_MS,
      });
      const workerHttp = (JSON.parse(line) as { http: string }).http;
      await waitForSeries(http, WAITING, 0);
      await waitForSeries(http, 'psc_reload_queue_jobs{state="active"}', 0);
      const drained = await scrape(workerHttp);
      expectStandardNodeMetrics(drained);
      expect(seriesValue(drained, 'psc_reload_jobs_total{outcome="completed"}')).toBe(2);
    },
    TEST_TIMEOUT_MS,
  );
});
