// A commit that lands while a reload job for its table is running must not be lost: the job's query
// may already have read the table, so the bridge's add is kept by BullMQ and runs once more after it.
import type { Snapshot } from '@pg-static-cache/protocol';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import { createJobsWorld, gate } from '../support/jobs-kit.ts';

describe('reload jobs: a commit during a running job', () => {
  it('causes exactly one more run, whose snapshot holds the commit', async () => {
    await using w = await createJobsWorld('psc_commit_during');
    const table = await w.createTable('plans', 'id int PRIMARY KEY, label text');
    await w.schema.pool.query(`INSERT INTO plans VALUES (1, 'before')`);

    // The leader adds jobs; the worker below runs them, holding its first run after the query.
    const bridge = await w.startBridge({ worker: false });
    const queried = gate();
    const release = gate();
    const taken: Snapshot[] = [];
    await w.startWorker({
      hooks: {
        beforeStore: async (snapshot) => {
          taken.push(snapshot);
          if (taken.length > 1) return;
          queried.open();
          await release.promise;
        },
      },
    });
    // The takeover resync's job has read the table and is still running.
    await queried.promise;
    expect(taken[0]?.rows).toEqual([['1', 'before']]);
    expect(await w.queue.getJobCounts('active')).toEqual({ active: 1 });

    await w.schema.pool.query(`UPDATE plans SET label = 'after' WHERE id = 1`);
    await waitFor('the bridge to add a job for the commit', async () => {
      const text = await bridge.registry.metrics();
      return /^psc_reload_jobs_enqueued_total\{trigger="invalidate"\} 1$/m.test(text);
    });
    // Held by BullMQ until the running job finishes: not waiting yet, not lost either.
    expect(await w.queue.getJobCounts('active', 'waiting')).toEqual({ active: 1, waiting: 0 });
    release.open();

    const final = await w.waitForCurrentSnapshot(table);
    expect(final.rows).toEqual([['1', 'after']]);
    await w.waitForIdleQueue();
    expect(await w.queue.getJobCounts('completed')).toEqual({ completed: 2 });
    // Two runs, no more: the first stored the old rows (version 1), the second the commit.
    expect(taken.map((s) => [s.version, s.rows])).toEqual([
      [1, [['1', 'before']]],
      [2, [['1', 'after']]],
    ]);
    expect(w.snapshots(table.display).map((m) => m.version)).toEqual([1, 2]);
  });
});
