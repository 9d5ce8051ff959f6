// The seed's listener thread died on the first reload that raised. Ours keeps serving the last
// good rows, says the cache is stale, and retries until a reload succeeds, with no further change.
import { describe, expect, it } from 'vitest';
import {
  cachesOf,
  createTablesSchema,
  waitConverged,
  watchCaches,
} from '../support/fixtures/direct-mode.ts';
import { createLoginRole } from '../support/fixtures/login-role.ts';
import { tableDigest, waitFor } from '../support/index.ts';

describe('direct mode: a reload that fails', () => {
  it('serves the old rows while stale and recovers by retrying once it can read again', async () => {
    await using schema = await createTablesSchema(['items', 'other'], { prefix: 'psc_failing' });
    // A role that only reads: the owner's writes fire the trigger whatever the reader may do.
    await using role = await createLoginRole(schema.pool, schema.url, schema.schema);
    const [items, other] = cachesOf(['items', 'other']);
    if (items === undefined || other === undefined) throw new Error('no cache');
    await using watch = watchCaches({
      pg: role.url,
      caches: [items, other],
      channel: schema.channel,
      backoff: { baseMs: 40, capMs: 80 },
    });
    const { subscriber, stale, reloads } = watch;
    await subscriber.start();
    const goodDigest = items.digest;
    const goodVersion = items.version;

    await schema.pool.query(`REVOKE SELECT ON items FROM "${role.name}"`);
    await schema.pool.query(`UPDATE items SET label = 'unreadable' WHERE id = 1`);
    // Two failures: the first, and at least one retry of it.
    await waitFor('a failed reload and a failed retry', () => stale.length >= 2);
    const first = stale[0];
    expect(first?.cache).toBe(items);
    expect(first?.error.message).toMatch(/permission denied/);
    expect(first?.retryInMs).toBeGreaterThanOrEqual(20);
    expect(first?.retryInMs).toBeLessThanOrEqual(80);
    expect(items.status).toBe('stale');
    expect(items.lastError?.message).toMatch(/permission denied/);
    expect(items.version).toBe(goodVersion);
    expect(items.digest).toBe(goodDigest);
    expect(items.get(1)?.['label']).toBe('row 1');
    expect(items.size).toBe(3);
    // The other cache is not touched by its neighbour's trouble.
    expect(other.status).toBe('fresh');
    expect(stale.every((event) => event.cache === items)).toBe(true);
    expect(subscriber.status).toBe('ready');

    const changesBefore = subscriber.stats.notifications;
    await schema.pool.query(`GRANT SELECT ON items TO "${role.name}"`);
    await waitConverged(schema.pool, [items]);
    expect(items.lastError).toBeUndefined();
    expect(items.get(1)?.['label']).toBe('unreadable');
    expect(items.digest).toBe(await tableDigest(schema.pool, 'items'));
    // Recovered by a retry, not by a new notification.
    expect(subscriber.stats.notifications).toBe(changesBefore);
    expect(reloads.at(-1)?.reason).toBe('retry');
    expect(subscriber.stats.failedReloads).toBe(stale.length);
  });
});
