// What the seed extension's tests checked, plus the seed's TRUNCATE and bad-payload defects:
// every committed change reloads exactly the caches of the changed table, and nothing else does.
import { ClientError, createSubscriber } from '@pg-static-cache/client';
import { quoteIdent } from '@pg-static-cache/postgres';
import { describe, expect, it } from 'vitest';
import {
  cachesOf,
  createTablesSchema,
  waitConverged,
  watchCaches,
} from '../support/fixtures/direct-mode.ts';
import { databaseUrl, waitFor } from '../support/index.ts';

/** Tables `names` with triggers, and a started subscriber holding one cache per table. */
async function watched(names: readonly string[]) {
  const schema = await createTablesSchema(names, { prefix: 'psc_notify' });
  const caches = cachesOf(names);
  const watch = watchCaches({ pg: schema.url, caches, channel: schema.channel });
  try {
    await watch.subscriber.start();
  } catch (error) {
    await schema[Symbol.asyncDispose]();
    throw error;
  }
  return {
    ...watch,
    schema,
    caches,
    async [Symbol.asyncDispose]() {
      await watch.subscriber.close();
      await schema[Symbol.asyncDispose]();
    },
  };
}

describe('direct mode: notifications', () => {
  it('reloads after each insert, update and delete and then equals the table', async () => {
    await using env = await watched(['items']);
    const [items] = env.caches;
    if (items === undefined) throw new Error('no cache');
    expect(items.size).toBe(3);
    const db = env.schema.pool;

    await db.query(`INSERT INTO items VALUES (4, 'four')`);
    await waitConverged(db, [items]);
    expect(items.get(4)).toEqual({ id: 4, label: 'four' });

    await db.query(`UPDATE items SET label = 'one!' WHERE id = 1`);
    await waitConverged(db, [items]);
    expect(items.get(1)?.['label']).toBe('one!');

    await db.query(`DELETE FROM items WHERE id = 2`);
    await waitConverged(db, [items]);
    expect(items.get(2)).toBeUndefined();
    expect(items.size).toBe(3);

    await env.subscriber.idle();
    expect(env.reloads.map((r) => r.reason)).toEqual(['start', 'change', 'change', 'change']);
    expect(items.version).toBe(4);
    expect(env.subscriber.stats.notifications).toBe(3);
  });

  it('reloads only the caches of the table that changed', async () => {
    await using env = await watched(['alpha', 'beta']);
    const [alpha, beta] = env.caches;
    if (alpha === undefined || beta === undefined) throw new Error('no cache');
    const db = env.schema.pool;
    const betaVersion = beta.version;

    await db.query(`UPDATE alpha SET label = 'changed once' WHERE id = 1`);
    await waitConverged(db, [alpha]);
    // A second change to alpha is delivered after the first (NOTIFY keeps commit order), so once it
    // is reloaded and nothing is queued, any reload the first could have caused for beta has run.
    await db.query(`UPDATE alpha SET label = 'changed twice' WHERE id = 1`);
    await waitConverged(db, [alpha]);
    await env.subscriber.idle();

    expect(alpha.version).toBe(3);
    expect(beta.version).toBe(betaVersion);
    expect(env.reloads.filter((r) => r.cache === beta).map((r) => r.reason)).toEqual(['start']);
  });

  it('reloads on TRUNCATE, which the seed never notified: the cache becomes empty and fresh', async () => {
    await using env = await watched(['items']);
    const [items] = env.caches;
    if (items === undefined) throw new Error('no cache');
    await env.schema.pool.query('TRUNCATE items');
    await waitFor('the truncate to reach the cache', () => items.size === 0);
    expect(items.status).toBe('fresh');
    expect(items.all()).toEqual([]);
    await waitConverged(env.schema.pool, [items]);
  });

  it('does not reload for a rolled-back transaction', async () => {
    await using env = await watched(['items']);
    const [items] = env.caches;
    if (items === undefined) throw new Error('no cache');
    const client = await env.schema.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`UPDATE items SET label = 'never' WHERE id = 1`);
      await client.query('TRUNCATE items');
      await client.query('ROLLBACK');
      // A rolled-back savepoint inside a committed transaction sends nothing either.
      await client.query('BEGIN');
      await client.query('SAVEPOINT s');
      await client.query(`DELETE FROM items`);
      await client.query('ROLLBACK TO SAVEPOINT s');
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const before = items.version;
    const reloadsBefore = env.reloads.length;
    // Delivered after anything the rolled-back work could have sent, so it bounds the wait.
    await env.schema.pool.query(`UPDATE items SET label = 'committed' WHERE id = 1`);
    await waitConverged(env.schema.pool, [items]);
    await env.subscriber.idle();
    expect(items.version).toBe(before + 1);
    expect(env.reloads.length).toBe(reloadsBefore + 1);
    expect(items.get(1)?.['label']).toBe('committed');
    expect(env.subscriber.stats.notifications).toBe(1);
  });

  it('counts payloads that are not a table OID as invalid and keeps serving', async () => {
    await using env = await watched(['items']);
    const [items] = env.caches;
    if (items === undefined) throw new Error('no cache');
    const channel = quoteIdent(env.schema.channel);
    const db = env.schema.pool;
    await db.query(`NOTIFY ${channel}, 'garbage'`);
    await db.query(`NOTIFY ${channel}`);
    await db.query(`NOTIFY ${channel}, '0'`);
    await db.query(`NOTIFY ${channel}, '12 '`);
    // An OID of a table no cache holds is valid but reloads nothing.
    await db.query(`NOTIFY ${channel}, '4294967295'`);
    await db.query(`UPDATE items SET label = 'after garbage' WHERE id = 1`);
    await waitConverged(db, [items]);
    await env.subscriber.idle();
    expect(env.subscriber.stats.invalid).toBe(4);
    expect(env.subscriber.stats.notifications).toBe(2);
    expect(env.warnings.map((w) => w.message).join('\n')).toContain('"garbage"');
    expect(items.status).toBe('fresh');
    expect(items.version).toBe(2);
    expect(env.subscriber.status).toBe('ready');
  });

  it('refuses a subscriber without caches with a clear error', () => {
    let error: unknown;
    try {
      createSubscriber({ pg: databaseUrl(), caches: [] });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe('NO_CACHES');
    expect((error as ClientError).message).toMatch(/at least one StaticCache/);
  });
});
