// Snapshot mode driven by hand-made snapshots and messages: a cache loads what a reload worker
// stored, without querying its table, and waits for the snapshot an invalidate or resync calls
// for — but never longer than snapshotWaitMs.
import { StaticCache } from '@pg-static-cache/client';
import { describe, expect, it } from 'vitest';
import { waitConverged } from '../support/fixtures/direct-mode.ts';
import { tableDigest, waitFor } from '../support/index.ts';
import { storedFirst, watchSnapshots } from './snapshot-kit.ts';

const TABLES = `
  CREATE TABLE alpha (id int PRIMARY KEY, label text NOT NULL);
  CREATE TABLE beta (id int PRIMARY KEY, label text NOT NULL);
  INSERT INTO alpha SELECT g, 'alpha ' || g FROM generate_series(1, 3) g;
  INSERT INTO beta SELECT g, 'beta ' || g FROM generate_series(1, 3) g;`;

/** Both tables, version 1 of each stored, and a started subscriber with a cache of each. */
async function watchAlphaBeta(snapshotWaitMs?: number) {
  const [alpha, beta] = [new StaticCache({ table: 'alpha' }), new StaticCache({ table: 'beta' })];
  const env = await watchSnapshots({
    setupSql: TABLES,
    caches: [alpha, beta],
    beforeStart: storedFirst('alpha', 'beta'),
    ...(snapshotWaitMs === undefined ? {} : { snapshotWaitMs }),
  });
  return { ...env, alpha, beta };
}

describe('snapshot mode: messages', () => {
  it('loads stored snapshots at start and swaps on a snapshot message, never querying a table', async () => {
    await using env = await watchAlphaBeta();
    const { alpha, beta } = env;
    const db = env.schema.pool;
    expect(env.reloads.map((r) => [r.cache.name, r.source, r.reason])).toEqual([
      ['alpha', 'snapshot', 'start'],
      ['beta', 'snapshot', 'start'],
    ]);
    expect(alpha.digest).toBe(await tableDigest(db, 'alpha'));

    await db.query(`UPDATE alpha SET label = 'changed' WHERE id = 2`);
    await env.writer.publish('alpha', 2);
    await waitFor('the swap', () => alpha.version === 2);
    await env.subscriber.idle();
    expect(alpha.get(2)).toEqual({ id: 2, label: 'changed' });
    expect(alpha.digest).toBe(await tableDigest(db, 'alpha'));
    expect(alpha.status).toBe('fresh');
    expect(beta.version).toBe(1);
    expect(env.reloads.at(-1)).toMatchObject({ source: 'snapshot', reason: 'change', version: 2 });
    expect(env.tableQueries()).toBe(0);
    const stats = env.subscriber.stats;
    expect(stats).toMatchObject({ snapshotLoads: 3, snapshotMessages: 1, snapshotFallbacks: 0 });
    expect(stats.snapshotBytes).toBeGreaterThan(0);
    expect(env.warnings).toEqual([]);
  });

  it('waits for the snapshot that covers an invalidate, and queries Postgres when none comes in time', async () => {
    await using env = await watchAlphaBeta(400);
    const { alpha, beta } = env;
    const db = env.schema.pool;
    const [alphaTable, betaTable] = [env.tableOf(alpha), env.tableOf(beta)];

    // alpha: invalidate, then the worker's snapshot of that commit.
    await db.query(`UPDATE alpha SET label = 'announced' WHERE id = 1`);
    await env.writer.invalidate(alphaTable);
    await env.writer.publish('alpha', 2);
    await waitFor('alpha from its snapshot', () => alpha.version === 2);

    // beta: an invalidate that no snapshot follows. Its deadline is armed after alpha's would
    // have been, so by the time it expires alpha's wait would have expired too.
    await db.query(`UPDATE beta SET label = 'never snapshotted' WHERE id = 3`);
    const sent = performance.now();
    await env.writer.invalidate(betaTable);
    await waitFor('beta from Postgres', () => beta.version === 2);
    const waited = performance.now() - sent;
    await env.subscriber.idle();

    expect(waited).toBeGreaterThanOrEqual(400);
    expect(beta.get(3)).toEqual({ id: 3, label: 'never snapshotted' });
    await waitConverged(db, [alpha, beta]);
    expect(env.reloads.slice(2).map((r) => [r.cache.name, r.source, r.fallback])).toEqual([
      ['alpha', 'snapshot', undefined],
      ['beta', 'postgres', 'timeout'],
    ]);
    expect(env.tableQueries()).toBe(1);
    expect(env.subscriber.stats.snapshotFallbacksByReason.timeout).toBe(1);
  });

  it('ignores an older snapshot message after a newer one, and snapshots of tables it does not hold', async () => {
    const alpha = new StaticCache({ table: 'alpha' });
    await using env = await watchSnapshots({ setupSql: TABLES, caches: [alpha] });
    // Nothing stored at start: loaded from Postgres.
    expect(env.reloads.map((r) => [r.source, r.fallback])).toEqual([['postgres', 'missing']]);
    const db = env.schema.pool;
    await db.query(`UPDATE alpha SET label = 'v2' WHERE id = 1`);
    const older = await env.writer.take('alpha', 1);
    await db.query(`UPDATE alpha SET label = 'v3' WHERE id = 1`);
    await env.writer.publish('alpha', 3);
    await waitFor('version 3', () => alpha.get(1)?.['label'] === 'v3');
    await env.subscriber.idle();
    const reloads = env.reloads.length;

    // Arrives late, and its snapshot is even stored again: neither may take the cache back.
    await env.writer.store(older.table, older);
    await env.writer.announce(older);
    await env.writer.publish('beta', 1);
    await waitFor('the ignored message', () => env.subscriber.stats.snapshotMessagesIgnored === 1);
    await env.subscriber.idle();
    expect(env.reloads.length).toBe(reloads);
    expect(alpha.get(1)).toEqual({ id: 1, label: 'v3' });
    expect(env.subscriber.stats).toMatchObject({ snapshotMessages: 2, snapshotLoads: 1 });
    expect(env.tableQueries()).toBe(1);
  });

  it('on a resync, loads the stored snapshot at once and queries only if none is announced in time', async () => {
    await using env = await watchAlphaBeta(400);
    const { alpha, beta } = env;
    const db = env.schema.pool;
    // A newer snapshot of alpha is stored but its message was lost; beta changed unannounced.
    await db.query(`UPDATE alpha SET label = 'stored' WHERE id = 1`);
    await env.writer.put('alpha', 2);
    await db.query(`UPDATE beta SET label = 'lost' WHERE id = 1`);
    const mark = env.reloads.length;
    await env.bridge.resync();
    await waitFor('alpha from the stored snapshot', () => alpha.version === 2);
    expect(env.reloads.slice(mark).map((r) => [r.cache.name, r.source])).toEqual([
      ['alpha', 'snapshot'],
    ]);
    // The worker announces alpha again after the resync; beta gets nothing and goes to Postgres.
    await env.writer.publish('alpha', 3);
    await waitFor('beta from Postgres', () => beta.get(1)?.['label'] === 'lost');
    await env.subscriber.idle();
    await waitConverged(db, [alpha, beta]);
    expect(env.reloads.slice(mark).map((r) => [r.cache.name, r.source, r.fallback])).toEqual([
      ['alpha', 'snapshot', undefined],
      ['alpha', 'snapshot', undefined],
      ['beta', 'postgres', 'timeout'],
    ]);
    expect(env.tableQueries()).toBe(1);
  });

  it("a snapshot whose swap failed (the app's map threw) is swapped in on the retry, not taken as held", async () => {
    let refuse = true;
    const alpha = new StaticCache({
      table: 'alpha',
      map: (row) => {
        if (refuse && row['label'] === 'refused') throw new Error('map refused the row');
        return row;
      },
    });
    await using env = await watchSnapshots({
      setupSql: TABLES,
      caches: [alpha],
      beforeStart: storedFirst('alpha'),
    });
    const db = env.schema.pool;
    await db.query(`UPDATE alpha SET label = 'refused' WHERE id = 1`);
    await env.writer.publish('alpha', 2);
    await waitFor('the failed swap', () => env.stale.length > 0);
    expect(env.stale[0]?.error.message).toBe('map refused the row');
    expect(alpha.status).toBe('stale');

    refuse = false;
    await waitFor('the retry to swap the snapshot in', () => alpha.version === 2);
    await env.subscriber.idle();
    expect(alpha.get(1)).toEqual({ id: 1, label: 'refused' });
    expect(alpha.status).toBe('fresh');
    expect(env.reloads.at(-1)).toMatchObject({ source: 'snapshot', reason: 'retry', version: 2 });
    expect(env.subscriber.stats.snapshotLoads).toBe(2);
    expect(env.tableQueries()).toBe(0);
  });
});
