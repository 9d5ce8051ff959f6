// Trigger installation as the subscriber relies on it: custom names (the seed supported them),
// installing twice, and several caches over one table.
import { StaticCache, type Row } from '@pg-static-cache/client';
import { installTriggers } from '@pg-static-cache/postgres';
import { describe, expect, it } from 'vitest';
import { createTablesSchema, waitConverged, watchCaches } from '../support/fixtures/direct-mode.ts';
import { createTestSchema, uniqueName } from '../support/index.ts';

describe('direct mode: trigger installation', () => {
  it('works with a custom channel, function name and trigger name', async () => {
    await using schema = await createTestSchema('psc_install');
    const channel = uniqueName('Custom Channel');
    const functionName = uniqueName('my_notify_fn');
    const triggerName = uniqueName('my trigger');
    await schema.pool.query(`CREATE TABLE "Mixed Case" (id int PRIMARY KEY, label text)`);
    await schema.pool.query(`INSERT INTO "Mixed Case" VALUES (1, 'one')`);
    await installTriggers(schema.pool, ['"Mixed Case"'], { channel, functionName, triggerName });

    const found = await schema.pool.query<{ tgname: string; proname: string }>(
      `SELECT t.tgname, p.proname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
       WHERE t.tgrelid = '"Mixed Case"'::regclass AND NOT t.tgisinternal`,
    );
    expect(found.rows).toEqual([{ tgname: triggerName, proname: functionName }]);

    const cache = new StaticCache({ table: '"Mixed Case"' });
    await using watch = watchCaches({ pg: schema.url, caches: [cache], channel });
    await watch.subscriber.start();
    expect(cache.name).toBe('"Mixed Case"');
    await schema.pool.query(`INSERT INTO "Mixed Case" VALUES (2, 'two')`);
    await waitConverged(schema.pool, [cache]);
    expect(cache.size).toBe(2);
  });

  it('installs twice without harm, and reloads every cache over one table', async () => {
    await using schema = await createTablesSchema(['items'], { prefix: 'psc_install', rows: 6 });
    // createTablesSchema installed them once already.
    await installTriggers(schema.pool, ['items'], { channel: schema.channel });
    const triggers = await schema.pool.query(
      `SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'items'::regclass AND NOT tgisinternal`,
    );
    expect(triggers.rows[0]).toEqual({ n: 1 });

    const all = new StaticCache({ table: 'items', name: 'all' });
    const even = new StaticCache({ table: 'items', name: 'even', whereRaw: 'id % 2 = 0' });
    const labels = new StaticCache({
      table: 'items',
      name: 'labels',
      map: (row: Row) => String(row['label']),
    });
    const caches = [all, even, labels];
    await using watch = watchCaches({ pg: schema.url, caches, channel: schema.channel });
    const { subscriber, reloads } = watch;
    await subscriber.start();
    expect(even.all().map((row) => row['id'])).toEqual([2, 4, 6]);

    await schema.pool.query(`UPDATE items SET label = 'second' WHERE id = 2`);
    await waitConverged(schema.pool, caches);
    await subscriber.idle();
    expect(labels.get(2)).toBe('second');
    expect(even.get(2)?.['label']).toBe('second');
    // One notification, one reload per cache: the second install added no duplicate trigger.
    expect(subscriber.stats.notifications).toBe(1);
    expect(reloads.filter((r) => r.reason === 'change').map((r) => r.cache.name)).toEqual(
      expect.arrayContaining(['all', 'even', 'labels']),
    );
    expect(reloads.filter((r) => r.reason === 'change')).toHaveLength(3);
  });

  it('reloads a partitioned table when a statement targets one of its partitions', async () => {
    await using schema = await createTestSchema('psc_install');
    const channel = uniqueName('ch');
    await schema.pool.query(`
      CREATE TABLE parted (id int, region text, label text, PRIMARY KEY (id, region))
        PARTITION BY LIST (region);
      CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
      CREATE TABLE parted_us PARTITION OF parted FOR VALUES IN ('us');
      INSERT INTO parted VALUES (1, 'eu', 'one'), (2, 'us', 'two')`);
    await installTriggers(schema.pool, ['parted'], { channel });
    const cache = new StaticCache({ table: 'parted' });
    await using watch = watchCaches({ pg: schema.url, caches: [cache], channel });
    await watch.subscriber.start();
    expect(cache.get([1, 'eu'])?.['label']).toBe('one');

    // Statement triggers on the parent do not fire for these: each partition carries its own.
    await schema.pool.query(`UPDATE parted_eu SET label = 'one, directly' WHERE id = 1`);
    await waitConverged(schema.pool, [cache]);
    expect(cache.get([1, 'eu'])?.['label']).toBe('one, directly');
    await schema.pool.query('TRUNCATE parted_us');
    await waitConverged(schema.pool, [cache]);
    expect(cache.size).toBe(1);
    await schema.pool.query(`INSERT INTO parted VALUES (3, 'us', 'through the parent')`);
    await waitConverged(schema.pool, [cache]);
    expect(cache.size).toBe(2);
  });
});
