// A worker process killed in the middle of a job: the job's lock expires, another worker's stalled
// check puts it back, and it runs again, so the snapshot still converges on the table.
import { RELOAD_JOB } from '@pg-static-cache/bridge';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLoginRole } from '../support/fixtures/login-role.ts';
import { createQueryGate } from '../support/fixtures/query-gate.ts';
import { redisUrl, waitFor } from '../support/index.ts';
import { spawnCli } from '../support/process.ts';
import { createJobsWorld } from '../support/jobs-kit.ts';

// Short lock and stalled check, so the test waits about a second for the rescue, not a minute.
const FAST_STALL = { PSC_JOB_LOCK_MS: '1000', PSC_JOB_STALLED_INTERVAL_MS: '300' };

describe('reload jobs: a worker killed mid-job', () => {
  it('has its job run again by another worker, and the snapshot converges', async () => {
    await using w = await createJobsWorld('psc_worker_crash');
    const table = await w.createTable('plans', 'id int PRIMARY KEY, label text');
    const { pool } = w.schema;
    await pool.query(`INSERT INTO plans VALUES (1, 'one')`);
    // The doomed worker logs in as a role whose queries of plans the test stops mid-query; the
    // rescuing worker below is the owner, whom the gate never holds.
    await using role = await createLoginRole(pool, w.schema.url, w.schema.schema);
    await using gate = await createQueryGate(w.schema.url, w.schema.schema, role.name, ['plans']);
    await gate.hold();

    await using doomed = spawnCli(['worker'], {
      env: {
        DATABASE_URL: role.url,
        REDIS_URL: redisUrl(),
        PSC_NAMESPACE: w.names.namespace,
        PSC_BRIDGE_ID: 'doomed-worker',
        PSC_HTTP_PORT: '0',
        ...FAST_STALL,
      },
    });
    await doomed.waitForLine((line) => line.includes('"event":"started"'));
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
    // Its query has its snapshot and waits at the gate; the job took version 1 before it.
    await gate.waitHeld('plans');
    const { counter } = w.names.snapshotKeys(table.display);
    expect(await w.redis.get(counter)).toBe('1');

    doomed.child.kill('SIGKILL');
    expect(await doomed.exit).toMatchObject({ signal: 'SIGKILL' });
    // Changed while the job is orphaned: the rerun must see it.
    await pool.query(`UPDATE plans SET label = 'changed' WHERE id = 1`);
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
