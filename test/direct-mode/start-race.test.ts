// The seed loaded a table and only then LISTENed: a commit landing in between was never seen, and
// the cache stayed wrong until the next change. Ours LISTENs first, so such a commit reloads.
import { sql, StaticCache } from '@pg-static-cache/client';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  cachesOf,
  createTablesSchema,
  waitConverged,
  watchCaches,
} from '../support/fixtures/direct-mode.ts';
import { tableDigest, waitFor } from '../support/index.ts';

describe('direct mode: commits racing the start', () => {
  it('loses no commit made while the subscriber starts', async () => {
    await using schema = await createTablesSchema(['alpha', 'beta'], {
      prefix: 'psc_race',
      rows: 20,
    });
    const caches = cachesOf(['alpha', 'beta']);
    await using watch = watchCaches({ pg: schema.url, caches, channel: schema.channel });
    const started = new AbortController();
    let commits = 0;
    // Commits as fast as one session can, from before start() until just after it resolved.
    const writer = (async () => {
      while (!started.signal.aborted || commits < 5) {
        const table = commits % 2 === 0 ? 'alpha' : 'beta';
        await schema.pool.query(`UPDATE ${table} SET label = $1 WHERE id = $2`, [
          `commit ${commits}`,
          (commits % 20) + 1,
        ]);
        commits += 1;
      }
    })();
    try {
      await watch.subscriber.start();
    } finally {
      started.abort();
      await writer;
    }
    expect(commits).toBeGreaterThan(5);
    await waitConverged(schema.pool, caches);
  });

  it('reloads a commit that lands after the first load read the table', async () => {
    // Deterministic: the first load must take its snapshot, then wait while a transaction commits.
    // The cache's `where` calls pg_advisory_xact_lock_shared, which Postgres evaluates during
    // execution, after the statement's snapshot was taken (READ COMMITTED). While the
    // test holds that advisory lock exclusively, the load sits between its snapshot and its result;
    // the test sees it waiting in pg_locks, commits the change, and only then lets it finish. The
    // load therefore returns the old rows, and only a notification can bring the cache up to date:
    // it is delivered because LISTEN was in place before the load began. A subscriber that loaded
    // first and LISTENed after would miss it and this test would time out.
    await using schema = await createTablesSchema(['items'], { prefix: 'psc_race' });
    const [k1, k2] = [Math.floor(Math.random() * 2 ** 30), Math.floor(Math.random() * 2 ** 30)];
    const items = new StaticCache({
      table: 'items',
      where: sql`(SELECT pg_advisory_xact_lock_shared(${k1}, ${k2})) IS NOT NULL`,
    });
    const gate = new pg.Client({ connectionString: schema.url });
    const writer = new pg.Client({ connectionString: schema.url });
    await gate.connect();
    await writer.connect();
    try {
      await using watch = watchCaches({ pg: schema.url, caches: [items], channel: schema.channel });
      const { subscriber, reloads } = watch;
      await gate.query('SELECT pg_advisory_lock($1, $2)', [k1, k2]);
      await writer.query('BEGIN');
      await writer.query(`UPDATE items SET label = 'committed during the first load' WHERE id = 1`);
      const started = subscriber.start();
      await waitFor('the first load to wait on the advisory lock', async () => {
        const waiting = await schema.pool.query(
          `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
             AND classid = $1 AND objid = $2 AND objsubid = 2`,
          [k1, k2],
        );
        return waiting.rowCount === 1;
      });
      await writer.query('COMMIT');
      await gate.query('SELECT pg_advisory_unlock($1, $2)', [k1, k2]);
      await started;

      // The first load really read the old rows: the window was hit.
      expect(reloads[0]?.reason).toBe('start');
      expect(reloads[0]?.digest).not.toBe(await tableDigest(schema.pool, 'items'));
      await waitConverged(schema.pool, [items]);
      expect(items.get(1)?.['label']).toBe('committed during the first load');
      expect(reloads.map((r) => r.reason)).toEqual(['start', 'change']);
    } finally {
      await writer.end();
      await gate.end();
    }
  });
});
