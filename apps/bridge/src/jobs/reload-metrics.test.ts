// The reload queue's depth at scrape time, against a Redis of the test's own that it can pause:
// counts as BullMQ keeps them, and a Redis that does not answer costs a scrape the depth timeout,
// reported as psc_reload_queue_up 0 with the counts left out, instead of hanging /metrics.
import { namesFor } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { startPrivateRedis } from '@pg-static-cache/test-support/fixtures/private-redis';
import { uniqueName, waitFor } from '@pg-static-cache/test-support';
import { seriesValue } from '@pg-static-cache/test-support/metrics';
import { parseBridgeConfig } from '../config.ts';
import { ReloadQueue } from './reload-queue.ts';

const WAITING = 'psc_reload_queue_jobs{state="waiting"}';
const DEPTH_TIMEOUT_MS = 300;
const PAUSE_MS = 5_000;

describe('reload queue depth metrics', () => {
  it('reports the counts, and up 0 without counts while Redis does not answer', async () => {
    await using redis = await startPrivateRedis();
    const names = namesFor(uniqueName('depth'));
    const registry = new Registry();
    await using reloads = new ReloadQueue({
      config: parseBridgeConfig({
        databaseUrl: 'postgres://unused@127.0.0.1/unused',
        redisUrl: redis.url,
        namespace: names.namespace,
      }),
      names,
      logger: pino({ level: 'silent' }),
      registry,
      depthTimeoutMs: DEPTH_TIMEOUT_MS,
    });
    await reloads.add(
      [
        { display: 'public.plans', oid: 1 },
        { display: 'public.countries', oid: 2 },
      ],
      '0/16B3748',
      'invalidate',
    );
    await reloads.queue.pause();
    const counted = await registry.metrics();
    expect(seriesValue(counted, WAITING)).toBe(2);
    expect(seriesValue(counted, 'psc_reload_queue_paused')).toBe(1);
    expect(seriesValue(counted, 'psc_reload_queue_up')).toBe(1);

    const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      // Every client's commands wait, as behind a frozen Redis or a saturated link.
      await admin.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
      const before = performance.now();
      const text = await registry.metrics();
      // Well inside Prometheus' 10 s scrape timeout, and before Redis answers again.
      expect(performance.now() - before).toBeLessThan(PAUSE_MS - 1_000);
      expect(seriesValue(text, 'psc_reload_queue_up')).toBe(0);
      expect(text).not.toMatch(/^psc_reload_queue_jobs\{/m);
      expect(seriesValue(text, 'psc_reload_queue_paused')).toBeUndefined();
      // The rest of the page is still there.
      expect(seriesValue(text, 'psc_reload_jobs_enqueued_total{trigger="invalidate"}')).toBe(2);

      await waitFor(
        'the counts once Redis answers again',
        async () => seriesValue(await registry.metrics(), 'psc_reload_queue_up') === 1,
        PAUSE_MS + 10_000,
      );
      expect(seriesValue(await registry.metrics(), WAITING)).toBe(2);
    } finally {
      admin.disconnect();
    }
  });
});
