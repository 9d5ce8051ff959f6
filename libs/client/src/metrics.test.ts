// The optional prom-client collector, as an app's scraper sees it on the app's own registry,
// against a real Postgres: a commit and a failing reload change what it reports, and the main
// entry of the package never loads prom-client.
import { repoRoot } from '@pg-static-cache/local-services';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  cachesOf,
  createTablesSchema,
  watchCaches,
} from '@pg-static-cache/test-support/fixtures/direct-mode';
import { createLoginRole } from '@pg-static-cache/test-support/fixtures/login-role';
import { waitFor } from '@pg-static-cache/test-support';
import { seriesValue } from '@pg-static-cache/test-support/metrics';
import { runCommand } from '@pg-static-cache/test-support/process';
import { ClientError } from './errors.ts';
import { registerCacheMetrics } from './metrics.ts';

/** Every series of `name` in the registry's page whose labels include `labels`. */
function scraper(registry: Registry) {
  return async (name: string, labels: string): Promise<number | undefined> =>
    seriesValue(await registry.metrics(), `${name}{${labels}}`);
}

describe('registerCacheMetrics', () => {
  it('reports rows, version, age and stale that follow a commit and a failing reload', async () => {
    await using schema = await createTablesSchema(['items'], { prefix: 'psc_client_metrics' });
    // A role that only reads, so the test can take its SELECT away.
    await using role = await createLoginRole(schema.pool, schema.url, schema.schema);
    const [items] = cachesOf(['items']);
    if (items === undefined) throw new Error('no cache');
    await using watch = watchCaches({
      pg: role.url,
      caches: [items],
      channel: schema.channel,
      backoff: { baseMs: 40, capMs: 80 },
    });
    const registry = new Registry();
    registerCacheMetrics(watch.subscriber, registry);
    const read = scraper(registry);
    const labels = `table="${schema.schema}.items",cache="items"`;

    await watch.subscriber.start();
    expect(await read('psc_client_cache_rows', labels)).toBe(3);
    expect(await read('psc_client_cache_version', labels)).toBe(1);
    expect(await read('psc_client_cache_stale', labels)).toBe(0);
    expect(await read('psc_client_subscriber_status', 'status="ready"')).toBe(1);
    const firstLoadedAt = items.loadedAt?.getTime() ?? Number.NaN;
    const before = Date.now();
    const age = (await read('psc_client_cache_age_seconds', labels)) ?? Number.NaN;
    // Read from the rows' load time at scrape time, not kept from an earlier moment.
    expect(age).toBeGreaterThanOrEqual((before - firstLoadedAt) / 1000);
    expect(age).toBeLessThanOrEqual((Date.now() - firstLoadedAt) / 1000);

    await schema.pool.query(`INSERT INTO items VALUES (4, 'row 4')`);
    await waitFor('version 2 on the page', async () => {
      return (await read('psc_client_cache_version', labels)) === 2;
    });
    expect(await read('psc_client_cache_rows', labels)).toBe(4);
    expect(await read('psc_client_cache_age_seconds', labels)).toBeLessThan(
      (Date.now() - firstLoadedAt) / 1000,
    );
    const loads = watch.reloads.filter((event) => event.cache === items).length;
    expect(loads).toBe(2);
    expect(
      await read('psc_client_cache_reload_duration_seconds_count', `${labels},source="postgres"`),
    ).toBe(loads);

    await schema.pool.query(`REVOKE SELECT ON items FROM "${role.name}"`);
    await schema.pool.query(`UPDATE items SET label = 'unreadable' WHERE id = 1`);
    await waitFor('stale on the page', async () => {
      return (await read('psc_client_cache_stale', labels)) === 1;
    });
    // It serves the last good rows, and says how old they are.
    expect(await read('psc_client_cache_version', labels)).toBe(2);
    expect(await read('psc_client_cache_rows', labels)).toBe(4);
    expect(seriesValue(await registry.metrics(), 'psc_client_reload_failures_total')).toBe(
      watch.subscriber.stats.failedReloads,
    );
    expect(watch.subscriber.stats.failedReloads).toBeGreaterThan(0);

    await schema.pool.query(`GRANT SELECT ON items TO "${role.name}"`);
    await waitFor('fresh again on the page', async () => {
      return (await read('psc_client_cache_stale', labels)) === 0;
    });
    expect(await read('psc_client_cache_version', labels)).toBe(3);
  });

  it('counts dropped messages by reason from the subscriber, and comes out on unregister', async () => {
    await using schema = await createTablesSchema(['items'], { prefix: 'psc_client_metrics' });
    const [items] = cachesOf(['items']);
    if (items === undefined) throw new Error('no cache');
    await using watch = watchCaches({ pg: schema.url, caches: [items], channel: schema.channel });
    const registry = new Registry();
    const metrics = registerCacheMetrics(watch.subscriber, registry);
    const read = scraper(registry);
    await watch.subscriber.start();
    expect(await read('psc_client_invalid_messages_total', 'reason="not-an-oid"')).toBe(0);

    await schema.pool.query(`SELECT pg_notify($1, 'not an oid')`, [schema.channel]);
    await waitFor('the dropped notification on the page', async () => {
      return (await read('psc_client_invalid_messages_total', 'reason="not-an-oid"')) === 1;
    });
    expect(await read('psc_client_invalid_messages_total', 'reason="not-json"')).toBe(0);

    // One subscriber per registry: a second set of the same names would collide.
    expect(() => registerCacheMetrics(watch.subscriber, registry)).toThrow(ClientError);
    metrics.unregister();
    metrics.unregister();
    expect(await registry.metrics()).not.toContain('psc_client_');
    expect(watch.subscriber.listenerCount('reload')).toBe(1);
    // Registered again, it reads the subscriber's counts, not a copy kept since the first time.
    registerCacheMetrics(watch.subscriber, registry);
    expect(await read('psc_client_invalid_messages_total', 'reason="not-an-oid"')).toBe(1);
  });

  it('is a subpath of its own: importing the main entry does not load prom-client', async () => {
    const probe = `
import { createRequire } from 'node:module';
const cache = createRequire(import.meta.url).cache;
const loaded = () => Object.keys(cache).some((file) => file.includes('/node_modules/prom-client/'));
await import('@pg-static-cache/client');
const main = loaded();
const { registerCacheMetrics } = await import('@pg-static-cache/client/metrics');
console.log(JSON.stringify({ main, metrics: loaded(), exported: typeof registerCacheMetrics }));
`;
    const run = await runCommand(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', probe],
      { cwd: repoRoot },
    );
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ main: false, metrics: true, exported: 'function' });
  });
});
