// The reload queue against BullMQ's real behaviour (its Lua scripts on a real Redis): jobs for a
// table coalesce while one waits, a commit during a running job causes exactly one more run, and
// failed jobs retry with exponential backoff.
import { namesFor } from '@pg-static-cache/protocol';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { redisUrl, uniqueName, waitFor } from '@pg-static-cache/test-support';
import { gate } from '@pg-static-cache/test-support/jobs-kit';
import { parseBridgeConfig, type BridgeConfigInput } from '../config.ts';
import type { ReloadJobData } from './reload-job.ts';
import { ReloadQueue } from './reload-queue.ts';

const LSN = '0/16B3748';

interface QueueWorld extends AsyncDisposable {
  readonly reloads: ReloadQueue;
  readonly registry: Registry;
  /** Runs `processor` on the queue (closed on dispose). */
  work(
    processor: (job: Job<ReloadJobData>) => Promise<void>,
    concurrency?: number,
  ): Worker<ReloadJobData>;
}

function createQueueWorld(overrides: Partial<BridgeConfigInput> = {}): QueueWorld {
  const names = namesFor(uniqueName('queue'));
  const config = parseBridgeConfig({
    databaseUrl: 'postgres://unused@127.0.0.1/unused',
    redisUrl: redisUrl(),
    namespace: names.namespace,
    ...overrides,
  });
  const registry = new Registry();
  const reloads = new ReloadQueue({
    config,
    names,
    logger: pino({ level: 'silent' }),
    registry,
  });
  const workers: { worker: Worker<ReloadJobData>; connection: Redis }[] = [];
  return {
    reloads,
    registry,
    work(processor, concurrency = 1) {
      const connection = new Redis(redisUrl(), { maxRetriesPerRequest: null });
      const worker = new Worker<ReloadJobData>(names.queue, processor, {
        connection,
        concurrency,
      });
      workers.push({ worker, connection });
      return worker;
    },
    async [Symbol.asyncDispose]() {
      for (const { worker, connection } of workers) {
        await worker.close();
        connection.disconnect();
      }
      await reloads.queue.obliterate({ force: true });
      await reloads.close();
    },
  };
}

const table = (display: string, oid: number) => ({ display, oid });

async function metric(registry: Registry, series: string): Promise<number> {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
  return Number(line?.slice(series.length + 1));
}

describe('ReloadQueue', () => {
  it('coalesces jobs for a table while one waits, and keeps tables apart', async () => {
    await using w = createQueueWorld();
    for (let i = 0; i < 20; i += 1) {
      await w.reloads.add(
        [table('public.plans', 1), table('public.countries', 2)],
        LSN,
        'invalidate',
      );
    }
    const counts = await w.reloads.queue.getJobCounts('waiting');
    expect(counts['waiting']).toBe(2);
    const jobs = await w.reloads.queue.getJobs(['waiting']);
    expect(jobs.map((j) => j.data.table).sort()).toEqual(['public.countries', 'public.plans']);
    // Every add counts, coalesced or not: the metric shows the event rate, the queue the work.
    expect(await metric(w.registry, 'psc_reload_jobs_enqueued_total{trigger="invalidate"}')).toBe(
      40,
    );

    const ran: string[] = [];
    w.work(async (job) => {
      ran.push(job.data.table);
      await Promise.resolve();
    });
    await waitFor('both jobs to run', () => ran.length === 2);
    expect(ran.sort()).toEqual(['public.countries', 'public.plans']);
  });

  it('runs a table exactly once more when jobs are added while its job is running', async () => {
    await using w = createQueueWorld();
    const held = gate();
    const runs: ReloadJobData[] = [];
    let active = 0;
    let overlapped = false;
    w.work(async (job) => {
      active += 1;
      overlapped ||= active > 1;
      runs.push(job.data);
      if (runs.length === 1) await held.promise;
      active -= 1;
    }, 4);

    await w.reloads.add([table('public.plans', 1)], '0/1', 'invalidate');
    await waitFor('the first job to start', () => runs.length === 1);
    // Three commits land while it runs (its query may have missed them).
    for (const lsn of ['0/2', '0/3', '0/4']) {
      await w.reloads.add([table('public.plans', 1)], lsn, 'invalidate');
    }
    const counts = await w.reloads.queue.getJobCounts('active', 'waiting', 'delayed');
    expect(counts).toEqual({ active: 1, waiting: 0, delayed: 0 });
    held.open();
    await waitFor('the second run', () => runs.length === 2);
    await waitFor('the queue to drain', async () => {
      const left = await w.reloads.queue.getJobCounts('active', 'waiting');
      return left['active'] === 0 && left['waiting'] === 0;
    });
    // Exactly one more run, with the last event's data, never two runs of one table at once.
    expect(runs.map((r) => r.lsn)).toEqual(['0/1', '0/4']);
    expect(overlapped).toBe(false);
    expect(await w.reloads.queue.getJobCounts('completed')).toEqual({ completed: 2 });
  });

  it('retries a failing job with exponential backoff up to jobAttempts, then keeps it as failed', async () => {
    await using w = createQueueWorld({ jobAttempts: 3, jobBackoffMs: 100 });
    const startedAt: number[] = [];
    w.work(async () => {
      startedAt.push(Date.now());
      await Promise.resolve();
      throw new Error('Postgres is down');
    });
    await w.reloads.add([table('public.plans', 1)], LSN, 'resync');
    await waitFor('the job to fail for good', async () => {
      const counts = await w.reloads.queue.getJobCounts('failed');
      return counts['failed'] === 1;
    });
    expect(startedAt).toHaveLength(3);
    // What a scraper sees: the failed job, kept for Bull Board, and nothing else in the queue.
    expect(await metric(w.registry, 'psc_reload_queue_jobs{state="failed"}')).toBe(1);
    expect(await metric(w.registry, 'psc_reload_queue_jobs{state="delayed"}')).toBe(0);
    const [a = 0, b = 0, c = 0] = startedAt;
    // 100 ms, then 200 ms (BullMQ adds no jitter unless asked).
    expect(b - a).toBeGreaterThanOrEqual(100);
    expect(c - b).toBeGreaterThanOrEqual(200);
    const [failed] = await w.reloads.queue.getJobs(['failed']);
    expect(failed?.opts).toMatchObject({
      attempts: 3,
      backoff: { type: 'exponential', delay: 100 },
      removeOnComplete: { count: 1_000 },
      removeOnFail: { count: 5_000 },
    });
    // A failed job no longer holds the table's deduplication: the next event gets a new job.
    await w.reloads.add([table('public.plans', 1)], LSN, 'invalidate');
    await waitFor('a new job for the table', () => startedAt.length === 4);
  });
});
