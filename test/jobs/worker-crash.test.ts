// A worker process killed in the middle of a job: the job's lock expires, another worker's stalled
// check puts it back, and it runs again, so the snapshot still converges on the table.
import { RELOAD_JOB } from '@pg-static-cache/bridge';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { redisUrl, waitFor } from '../support/index.ts';
import { spawnNode } from '../support/process.ts';
import { createJobsWorld } from './jobs-kit.ts';

const WORKER_MAIN = 'apps/bridge/src/worker-main.ts';
// Short lock and stalled check, so the test waits about a second for the rescue, not a minute.
const FAST_STALL = { PSC_JOB_LOCK_MS: '1000', PSC_JOB_STALLED_INTERVAL_MS: '300' };

describe('reload jobs: a worker killed mid-job', () => {
  it('has its job run again by another worker, and the snapshot converges', async () => {
    await using w = await createJobsWorld('psc_worker_crash');
    const table = await w.createTable('plans', 'id int PRIMARY KEY, label text');
    await w.schema.pool.query(`INSERT INTO plans VALUES (1, 'one')`);

    await using doomed = spawnNode(WORKER_MAIN, [], {
      DATABASE_URL: w.schema.url,
      REDIS_URL: redisUrl(),
      PSC_NAMESPACE: w.names.namespace,
      PSC_BRIDGE_ID: 'doomed-worker',
      PSC_HTTP_PORT: '0',
      PSC_LOG_LEVEL: 'info',
      // Holds every job before its query, long enough to be killed there.
      PSC_TEST_JOB_DELAY_MS: '600000',
      ...FAST_STALL,
    });
    await doomed.waitForLine((line) => line.includes('reload worker process started'), {
      stream: 'stderr',
    });
    const options = {
      deduplication: { id: table.display, keepLastIfActive: true },
      attempts: 5,
    };
    const data = { table: table.display, oid: table.oid, lsn: '0/0', at: Date.now() };
    const job = await w.queue.add(RELOAD_JOB, data, options);
    await waitFor('the doomed worker to take the job', async () => {
      const state = await w.queue.getJob(job.id ?? '');
      return state?.processedBy === 'doomed-worker' && (await state.isActive());
    });
    // It took a version, so it is inside the job, held before its query.
    const { counter } = w.names.snapshotKeys(table.display);
    await waitFor(
      'the doomed job to take a version',
      async () => (await w.redis.get(counter)) === '1',
    );

    doomed.child.kill('SIGKILL');
    expect(await doomed.exit).toMatchObject({ signal: 'SIGKILL' });
    // Changed while the job is orphaned: the rerun must see it.
    await w.schema.pool.query(`UPDATE plans SET label = 'changed' WHERE id = 1`);
    expect(await w.queue.getJobCounts('active')).toEqual({ active: 1 });

    const registry = new Registry();
    await w.startWorker({
      overrides: { jobLockMs: 1_000, jobStalledIntervalMs: 300 },
      registry,
    });
    const snapshot = await w.waitForCurrentSnapshot(table);
    expect(snapshot.rows).toEqual([['1', 'changed']]);
    // The killed attempt took version 1 and never stored it.
    expect(snapshot.version).toBe(2);
    await w.waitForIdleQueue();
    const finished = await w.queue.getJob(job.id ?? '');
    expect(await finished?.getState()).toBe('completed');
    const text = await registry.metrics();
    expect(text).toMatch(/^psc_reload_jobs_stalled_total 1$/m);
    expect(text).toMatch(/^psc_reload_jobs_total\{outcome="completed"\} 1$/m);
  });
});
