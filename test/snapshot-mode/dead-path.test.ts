// A snapshot-mode app whose network path to Redis dies without a FIN or RST (a frozen proxy): the
// subscription notices the silence and reconnects, and the connection that reads snapshots must
// be replaced with it, or every later change waits out the read timeout and goes to Postgres.
import { createSubscriber, StaticCache, type ReloadEvent } from '@pg-static-cache/client';
import { describe, expect, it } from 'vitest';
import { startPausableProxy } from '../e2e/support/pausable-proxy.ts';
import { createJobsWorld } from '../support/jobs-kit.ts';
import { redisUrl, waitFor } from '../support/index.ts';

describe('snapshot mode on a dead network path', () => {
  it('replaces the snapshot-reading connection along with the subscription', async () => {
    await using w = await createJobsWorld('psc_dead_path');
    const plans = await w.createTable('plans', 'id int PRIMARY KEY, label text');
    await w.schema.pool.query(`INSERT INTO plans VALUES (1, 'one')`);
    await w.startBridge({ heartbeatMs: 200, httpPort: 0 });
    await w.waitForCurrentSnapshot(plans);
    await using proxy = await startPausableProxy(redisUrl());
    const cache = new StaticCache<{ id: number; label: string }>({ table: 'plans' });
    await using subscriber = createSubscriber({
      mode: 'snapshot',
      pg: w.schema.url,
      redis: proxy.url,
      namespace: w.names.namespace,
      caches: [cache],
      bridgeSilenceMs: 1_000,
      backoff: { baseMs: 20, capMs: 200 },
    });
    const reloads: (ReloadEvent & { label: string | undefined })[] = [];
    subscriber.on('reload', (event) => reloads.push({ ...event, label: cache.get(1)?.label }));
    const warnings: string[] = [];
    subscriber.on('warning', (error) => warnings.push(`${Date.now()} ${error.message}`));
    await subscriber.start();
    const follow = async (label: string) => {
      const from = reloads.length;
      await w.schema.pool.query('UPDATE plans SET label = $1 WHERE id = 1', [label]);
      let event: (typeof reloads)[number] | undefined;
      await waitFor(`the cache to serve ${label}`, () => {
        event = reloads.slice(from).find((r) => r.label === label);
        return event !== undefined;
      });
      return event;
    };
    expect((await follow('before'))?.source).toBe('snapshot');

    // Both connections (subscription and snapshot reads) now go nowhere, and never close.
    expect(proxy.freeze()).toBe(2);
    await waitFor('the subscription to be replaced', () => subscriber.stats.resyncs > 0, 15_000);
    await waitFor('ready again', () => subscriber.status === 'ready', 15_000);
    // A load in the moment the reading connection is being replaced may go to Postgres; every
    // change after that reads its snapshot again. Before the fix each one waited out the 10 s read
    // timeout on the frozen connection and then went to Postgres, for as long as TCP kept it.
    await follow('after');
    const later = await follow('later');
    expect([later?.source, later?.fallback], warnings.join('\n')).toEqual(['snapshot', undefined]);
  });
});
