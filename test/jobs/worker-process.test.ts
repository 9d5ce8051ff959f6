// The reload worker as its own process (`node --import tsx apps/bridge/src/worker-main.ts`): it runs
// jobs, serves its own /metrics, exits 0 on SIGTERM, 2 on bad config and 1 when Redis is unreachable.
import { RELOAD_JOB } from '@pg-static-cache/bridge';
import { describe, expect, it } from 'vitest';
import { redisUrl } from '../support/index.ts';
import { spawnNode } from '../support/process.ts';
import { createJobsWorld } from '../support/jobs-kit.ts';

const WORKER_MAIN = 'apps/bridge/src/worker-main.ts';

describe('worker-main', () => {
  it('runs reload jobs, serves /metrics, and stops cleanly on SIGTERM', async () => {
    await using w = await createJobsWorld('psc_worker_main');
    const table = await w.createTable('plans', 'id int PRIMARY KEY');
    await w.schema.pool.query('INSERT INTO plans VALUES (1), (2)');
    await using proc = spawnNode(WORKER_MAIN, [], {
      DATABASE_URL: w.schema.url,
      REDIS_URL: redisUrl(),
      PSC_NAMESPACE: w.names.namespace,
      PSC_BRIDGE_ID: 'lone-worker',
      PSC_HTTP_PORT: '0',
      PSC_LOG_LEVEL: 'info',
    });
    const started = await proc.waitForLine((l) => l.includes('reload worker process started'), {
      stream: 'stderr',
    });
    const { httpPort } = JSON.parse(started) as { httpPort: number };

    const data = { table: table.display, oid: table.oid, lsn: '0/0', at: Date.now() };
    await w.queue.add(RELOAD_JOB, data);
    expect((await w.waitForCurrentSnapshot(table)).rows).toEqual([['1'], ['2']]);
    await w.waitForIdleQueue();
    expect(w.snapshots(table.display)).toEqual([
      expect.objectContaining({ version: 1, worker: 'lone-worker' }),
    ]);

    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    expect(metrics).toMatch(/^psc_reload_jobs_total\{outcome="completed"\} 1$/m);
    expect(metrics).toMatch(new RegExp(`^psc_snapshot_rows\\{table="${table.display}"\\} 2$`, 'm'));
    expect(metrics).toMatch(/^process_cpu_seconds_total /m);
    expect((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status).toBe(200);

    expect(await proc.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  // Two cold process starts.
  it('exits 2 on bad config and 1 when Redis cannot be reached', { timeout: 120_000 }, async () => {
    await using bad = spawnNode(WORKER_MAIN, [], {
      DATABASE_URL: 'postgres://u@127.0.0.1:1/db',
      REDIS_URL: redisUrl(),
      PSC_WORKER_CONCURRENCY: 'many',
    });
    expect((await bad.exit).code).toBe(2);
    expect(bad.stderr).toMatch(
      /^pg-static-cache worker: PSC_WORKER_CONCURRENCY must be a whole number$/m,
    );

    await using unreachable = spawnNode(WORKER_MAIN, [], {
      DATABASE_URL: 'postgres://u@127.0.0.1:1/db',
      REDIS_URL: 'redis://127.0.0.1:1',
      PSC_LOG_LEVEL: 'silent',
    });
    expect((await unreachable.exit).code).toBe(1);
    expect(unreachable.stderr).toMatch(/cannot reach Redis/);
  });
});
