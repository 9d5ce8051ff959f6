// When the stored snapshot cannot be trusted — missing, corrupt, older than announced, not fitting
// the cache — snapshot mode queries Postgres exactly as redis mode does, counts why, and never
// swaps in a bad snapshot.
import { sql, StaticCache, type AnyCache } from '@pg-static-cache/client';
import { describe, expect, it } from 'vitest';
import { waitConverged, type Watched } from '../support/fixtures/direct-mode.ts';
import { waitFor } from '../support/index.ts';
import { storedFirst, watchSnapshots } from './snapshot-kit.ts';

const TABLE = `
  CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL);
  INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 3) g;`;

/** Every label a cache has ever served, collected at each of its reloads. */
function labelsServed(env: Watched, cache: AnyCache): ReadonlySet<unknown> {
  const seen = new Set<unknown>();
  const collect = () => {
    for (const row of cache.rows() as readonly Record<string, unknown>[]) seen.add(row['label']);
  };
  collect();
  env.subscriber.on('reload', collect);
  return seen;
}

describe('snapshot mode: fallbacks', () => {
  it('queries Postgres when no snapshot is stored', async () => {
    const items = new StaticCache({ table: 'items' });
    await using env = await watchSnapshots({ setupSql: TABLE, caches: [items] });
    await env.schema.pool.query(`UPDATE items SET label = 'changed' WHERE id = 1`);
    // Announced, but the value is gone (evicted, or Redis lost it).
    const snapshot = await env.writer.take('items', 1);
    await env.writer.announce(snapshot);
    await waitFor('the second load', () => items.version === 2);
    await waitConverged(env.schema.pool, [items]);
    expect(env.reloads.map((r) => [r.source, r.fallback])).toEqual([
      ['postgres', 'missing'],
      ['postgres', 'missing'],
    ]);
    expect(env.tableQueries()).toBe(2);
    expect(env.subscriber.stats.snapshotFallbacksByReason.missing).toBe(2);
  });

  it('queries Postgres, warns and never swaps when the stored value is garbage, tampered or torn', async () => {
    const items = new StaticCache({ table: 'items' });
    await using env = await watchSnapshots({
      setupSql: TABLE,
      caches: [items],
      beforeStart: storedFirst('items'),
    });
    const db = env.schema.pool;
    const served = labelsServed(env, items);
    const corruptions = [
      () => 'garbage{',
      (json: string) => json.replace(/"item 2"/g, '"tampered"'),
      (json: string) => json.slice(0, Math.floor(json.length / 2)),
    ];
    let version = 1;
    for (const corrupt of corruptions) {
      version += 1;
      await db.query(`UPDATE items SET label = 'db v${version}' WHERE id = 3`);
      const snapshot = await env.writer.take('items', version);
      await env.writer.store(snapshot.table, corrupt(JSON.stringify(snapshot)));
      await env.writer.announce(snapshot);
      await waitFor(
        `the fallback for v${version}`,
        () => items.get(3)?.['label'] === `db v${version}`,
      );
      await waitConverged(db, [items]);
    }
    await env.subscriber.idle();
    expect(env.reloads.map((r) => [r.source, r.fallback])).toEqual([
      ['snapshot', undefined],
      ['postgres', 'corrupt'],
      ['postgres', 'corrupt'],
      ['postgres', 'corrupt'],
    ]);
    expect(served.has('tampered')).toBe(false);
    expect(env.subscriber.stats.snapshotFallbacksByReason.corrupt).toBe(3);
    expect(env.warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(/snapshot of .*\.items is corrupt \(not-json/),
      expect.stringMatching(/is corrupt \(digest-mismatch/),
      expect.stringMatching(/is corrupt \(not-json/),
    ]);

    // A good snapshot afterwards is used again.
    await env.writer.publish('items', 5);
    await waitFor('the good snapshot', () => env.reloads.at(-1)?.source === 'snapshot');
    expect(env.tableQueries()).toBe(3);
  });

  it('queries Postgres when the stored snapshot is older than the message announced', async () => {
    const items = new StaticCache({ table: 'items' });
    await using env = await watchSnapshots({
      setupSql: TABLE,
      caches: [items],
      beforeStart: storedFirst('items'),
    });
    await env.schema.pool.query(`UPDATE items SET label = 'newer' WHERE id = 2`);
    const stored = await env.writer.put('items', 2);
    // Announces version 3 while version 2 is what Redis holds (a lost write, a restored backup).
    await env.writer.announce(stored, { version: 3 });
    await waitFor('the fallback', () => items.version === 2);
    await waitConverged(env.schema.pool, [items]);
    expect(env.reloads.map((r) => [r.source, r.fallback])).toEqual([
      ['snapshot', undefined],
      ['postgres', 'stale'],
    ]);
    expect(env.subscriber.stats.snapshotFallbacksByReason.stale).toBe(1);
  });

  it('always queries Postgres for a cache with `where` or `whereRaw`, and for a snapshot without the key column', async () => {
    const filtered = new StaticCache({ table: 'items', where: sql`id > ${1}`, name: 'filtered' });
    const raw = new StaticCache({ table: 'items', whereRaw: 'id > 2', name: 'raw' });
    const byLabel = new StaticCache({ table: 'items', key: 'label', name: 'by-label' });
    await using env = await watchSnapshots({
      setupSql: TABLE,
      caches: [filtered, raw, byLabel],
      // Long, so that a reload well within it cannot have waited for a snapshot.
      snapshotWaitMs: 10_000,
      // A snapshot of another shape: no `label` column, which byLabel is keyed by.
      beforeStart: (writer) => writer.put('items', 1, 'SELECT id FROM items ORDER BY id'),
    });
    const started = env.reloads.map((r) => [r.cache.name, r.source, r.fallback]);
    expect(started.sort()).toEqual([
      ['by-label', 'postgres', 'mismatch'],
      ['filtered', 'postgres', 'where'],
      ['raw', 'postgres', 'where'],
    ]);
    expect(filtered.size).toBe(2);
    expect(raw.size).toBe(1);
    expect(byLabel.get('item 3')).toEqual({ id: 3, label: 'item 3' });

    // An invalidate reloads the filtered caches at once: they have no snapshot to wait for.
    const mark = env.reloads.length;
    await env.schema.pool.query(`INSERT INTO items VALUES (4, 'item 4')`);
    await env.writer.invalidate(env.tableOf(filtered));
    await waitFor('the filtered reloads', () => filtered.size === 3 && raw.size === 2, 5_000);
    const reloaded = env.reloads.slice(mark).map((r) => [r.cache.name, r.fallback]);
    expect(reloaded.sort()).toEqual([
      ['filtered', 'where'],
      ['raw', 'where'],
    ]);
    expect(env.subscriber.stats.snapshotFallbacksByReason).toMatchObject({ where: 4, mismatch: 1 });
  });
});
