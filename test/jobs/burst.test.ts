// A burst of 10,000 single-row commits from 4 connections: the bridge folds them per table into
// fewer invalidates and reloads (inline ones on its own worker, or jobs BullMQ coalesces), and the
// last snapshot equals the table.
import { describe, expect, it } from 'vitest';
import { createJobsWorld } from '../support/jobs-kit.ts';
import { updateBurst } from '../support/update-burst.ts';

const COMMITS = 10_000;
const CONNECTIONS = 4;
const ROWS = 100;

function counter(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return Number(line?.slice(series.length + 1) ?? Number.NaN);
}

describe('reload jobs: a burst of commits', () => {
  // 10,000 notifying commits take 15-40 s on two busy cores.
  it(
    'coalesces 10,000 commits into few jobs, and the last snapshot equals the table',
    { timeout: 180_000 },
    async () => {
      await using w = await createJobsWorld('psc_burst');
      const table = await w.createTable('counters', 'id int PRIMARY KEY, n int NOT NULL');
      await w.schema.pool.query(
        `INSERT INTO counters SELECT i, 0 FROM generate_series(1, ${ROWS}) AS i`,
      );
      const bridge = await w.startBridge();
      await w.waitForCurrentSnapshot(table);
      await w.waitForIdleQueue();
      const before = await bridge.registry.metrics();
      const completed = 'psc_reload_jobs_total{outcome="completed"}';
      const inline = 'psc_reload_inline_total{outcome="completed"}';
      const enqueued = 'psc_reload_jobs_enqueued_total{trigger="invalidate"}';

      const started = Date.now();
      await updateBurst(w.schema.url, { commits: COMMITS, connections: CONNECTIONS, rows: ROWS });
      const committedMs = Date.now() - started;
      const final = await w.waitForCurrentSnapshot(table, 60_000);
      const convergedMs = Date.now() - started;
      await w.waitForIdleQueue();

      const after = await bridge.registry.metrics();
      const jobs = counter(after, completed) - counter(before, completed);
      const inlines = counter(after, inline) - counter(before, inline);
      const reloads = jobs + inlines;
      const adds = counter(after, enqueued) - counter(before, enqueued);
      const total = final.rows.reduce((sum, row) => sum + Number(row[1]), 0);
      expect(total).toBe(COMMITS);
      expect(final.rows).toHaveLength(ROWS);
      console.info(
        `burst: ${COMMITS} commits in ${committedMs} ms → ${adds} job adds, ${jobs} reload jobs, ` +
          `${inlines} inline reloads; ` +
          `snapshot current ${convergedMs} ms after the first commit (version ${final.version})`,
      );
      expect(reloads).toBeGreaterThanOrEqual(1);
      // One reload of the table runs at a time (a query of ~10-30 ms on two busy cores while the
      // burst commits), so a 15-40 s burst folds into hundreds of reloads, not thousands.
      expect(reloads).toBeLessThanOrEqual(COMMITS / 10);
      expect(counter(after, 'psc_reload_jobs_total{outcome="failed"}')).toBe(0);
      expect(counter(after, 'psc_reload_inline_total{outcome="failed"}')).toBe(0);
    },
  );
});
