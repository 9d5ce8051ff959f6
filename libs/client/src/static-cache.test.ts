// What a StaticCache serves once a subscriber has loaded it from a real table: lookups, order,
// versions, frozen rows, composite and custom keys, `map` and `where`.
import { describe, expect, it } from 'vitest';
import { createTestSchema, tableDigest, uniqueName } from '@pg-static-cache/test-support';
import { ClientError } from './errors.ts';
import { sql } from './sql.ts';
import { StaticCache } from './static-cache.ts';
import { createSubscriber, type AnyCache } from './subscriber.ts';

interface Item {
  readonly id: number;
  readonly label: string;
  readonly tags: { readonly colour: string; readonly sizes: readonly number[] };
}

const ITEMS_SQL = `
  CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL, tags jsonb NOT NULL);
  INSERT INTO items VALUES
    (2, 'banana', '{"colour": "yellow", "sizes": [1, 2]}'),
    (1, 'apple', '{"colour": "red", "sizes": [3]}'),
    (3, 'avocado', '{"colour": "green", "sizes": []}')`;

/** Starts a subscriber over `caches` in a fresh schema prepared by `setupSql`. */
async function loaded(setupSql: string, caches: readonly AnyCache[]) {
  const schema = await createTestSchema();
  await schema.pool.query(setupSql);
  const subscriber = createSubscriber({ pg: schema.url, caches, channel: uniqueName('ch') });
  try {
    await subscriber.start();
  } catch (error) {
    await schema[Symbol.asyncDispose]();
    throw error;
  }
  return {
    schema,
    subscriber,
    async [Symbol.asyncDispose]() {
      await subscriber.close();
      await schema[Symbol.asyncDispose]();
    },
  };
}

/** Asserts that `promise` rejects with a ClientError of `code` and returns it. */
async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<ClientError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ClientError);
  expect((error as ClientError).code).toBe(code);
  return error as ClientError;
}

describe('StaticCache', () => {
  it('is empty before any subscriber loaded it', () => {
    const cache = new StaticCache({ table: 'items' });
    expect(cache.name).toBe('items');
    expect(cache.get(1)).toBeUndefined();
    expect(cache.all()).toEqual([]);
    expect(cache.rows()).toEqual([]);
    expect(cache.size).toBe(0);
    expect(cache.version).toBe(0);
    expect(cache.digest).toBeUndefined();
    expect(cache.status).toBe('empty');
    expect(cache.table).toBeUndefined();
  });

  it('refuses a missing table name', () => {
    expect(() => new StaticCache({ table: ' ' })).toThrow(ClientError);
  });

  it('serves the rows by primary key, in key order, with the watch digest', async () => {
    const items = new StaticCache<Item>({ table: 'items', name: 'fruit' });
    await using env = await loaded(ITEMS_SQL, [items]);
    expect(items.name).toBe('fruit');
    expect(items.status).toBe('fresh');
    expect(items.size).toBe(3);
    expect(items.version).toBe(1);
    expect(items.keyColumns).toEqual(['id']);
    expect(items.table?.display).toBe(`${env.schema.schema}.items`);
    expect(items.get(2)?.label).toBe('banana');
    expect(items.get(9)).toBeUndefined();
    expect(items.all().map((row) => row.id)).toEqual([1, 2, 3]);
    expect(items.rows()).toBe(items.all());
    expect(items.digest).toBe(await tableDigest(env.schema.pool, 'items'));
    expect(items.loadedAt).toBeInstanceOf(Date);
  });

  it('hands out deeply frozen rows that a reload replaces but never edits', async () => {
    const items = new StaticCache<Item>({ table: 'items' });
    await using env = await loaded(ITEMS_SQL, [items]);
    const apple = items.get(1);
    if (apple === undefined) throw new Error('apple missing');
    // Test files are ES modules, so strict mode: writing a frozen property throws.
    expect(() => {
      (apple as { label: string }).label = 'pear';
    }).toThrow(TypeError);
    expect(() => {
      (apple.tags.sizes as number[]).push(4);
    }).toThrow(TypeError);
    expect(() => {
      (items.all() as Item[]).pop();
    }).toThrow(TypeError);

    const before = items.all();
    await env.schema.pool.query(`UPDATE items SET label = 'green apple' WHERE id = 1`);
    env.subscriber.resyncAll();
    await env.subscriber.idle();
    expect(items.version).toBe(2);
    expect(items.get(1)?.label).toBe('green apple');
    // A reader holding the previous version still sees it whole.
    expect(before.map((row) => row.label)).toEqual(['apple', 'banana', 'avocado']);
    expect(apple.label).toBe('apple');
  });

  it('carries unchanged rows and their mapped values over to the next version, mapping only what changed', async () => {
    const mapped: number[] = [];
    const labels = new StaticCache({
      table: 'items',
      map: (row: Item) => {
        mapped.push(row.id);
        return { label: row.label };
      },
    });
    // Every kind of value a parser hands back: text, json, a date, bytes, an array, a null.
    const stamps = new StaticCache({ table: 'stamps' });
    await using env = await loaded(
      `${ITEMS_SQL};
       CREATE TABLE stamps (id int PRIMARY KEY, at timestamptz, raw bytea, nums int[], note text);
       INSERT INTO stamps VALUES (1, '2026-01-01Z', '\\x0102', '{1,2}', NULL),
                                 (2, '2026-01-02Z', '\\x03', '{}', 'b')`,
      [labels, stamps],
    );
    expect(mapped.sort()).toEqual([1, 2, 3]);
    const stamp = stamps.get(1);
    const [apple, banana, avocado] = [1, 2, 3].map((id) => labels.get(id));
    const rows = labels.rows();
    await env.schema.pool.query(`UPDATE items SET label = 'green apple' WHERE id = 1`);
    await env.schema.pool.query(`UPDATE stamps SET note = 'c' WHERE id = 2`);
    env.subscriber.resyncAll();
    await env.subscriber.idle();
    expect(labels.version).toBe(2);
    expect(mapped.sort()).toEqual([1, 1, 2, 3]);
    expect(stamps.version).toBe(2);
    expect(stamps.get(1)).toBe(stamp);
    expect(stamps.get(2)?.['note']).toBe('c');
    expect(stamps.digest).toBe(await tableDigest(env.schema.pool, 'stamps'));
    expect(labels.get(1)).not.toBe(apple);
    expect(labels.get(1)).toEqual({ label: 'green apple' });
    // Same objects, not copies: identity is stable for what did not change.
    expect(labels.get(2)).toBe(banana);
    expect(labels.get(3)).toBe(avocado);
    expect(labels.rows()[1]).toBe(rows[1]);
    expect(labels.digest).toBe(await tableDigest(env.schema.pool, 'items'));
  });

  it('looks up a composite key by an array of its parts', async () => {
    const prices = new StaticCache({ table: 'prices' });
    await using env = await loaded(
      `CREATE TABLE prices (plan text, currency text, amount int NOT NULL,
         PRIMARY KEY (plan, currency));
       INSERT INTO prices VALUES ('pro', 'usd', 20), ('pro', 'eur', 18), ('basic', 'usd', 5)`,
      [prices],
    );
    expect(env.subscriber.status).toBe('ready');
    expect(prices.keyColumns).toEqual(['plan', 'currency']);
    expect(prices.get(['pro', 'eur'])?.['amount']).toBe(18);
    expect(prices.get(['basic', 'usd'])?.['amount']).toBe(5);
    expect(prices.get(['basic', 'eur'])).toBeUndefined();
    expect(prices.get('pro')).toBeUndefined();
    expect(prices.all().map((row) => `${String(row['plan'])}/${String(row['currency'])}`)).toEqual([
      'basic/usd',
      'pro/eur',
      'pro/usd',
    ]);
  });

  it('serves what `map` builds while rows() keeps the loaded rows', async () => {
    const labels = new StaticCache({ table: 'items', map: (row: Item) => row.label.toUpperCase() });
    await using env = await loaded(ITEMS_SQL, [labels]);
    expect(env.subscriber.status).toBe('ready');
    expect(labels.get(1)).toBe('APPLE');
    expect(labels.all()).toEqual(['APPLE', 'BANANA', 'AVOCADO']);
    expect(labels.rows().map((row) => row.label)).toEqual(['apple', 'banana', 'avocado']);
  });

  it('holds only the rows `where` selects, and can be keyed by another unique column', async () => {
    const startsWithA = new StaticCache<Item>({ table: 'items', where: sql`label LIKE ${'a%'}` });
    const byLabel = new StaticCache<Item>({ table: 'items', key: 'label', name: 'by-label' });
    await using env = await loaded(ITEMS_SQL, [startsWithA, byLabel]);
    expect(startsWithA.all().map((row) => row.label)).toEqual(['apple', 'avocado']);
    expect(startsWithA.get(2)).toBeUndefined();
    expect(startsWithA.digest).toBe(
      await tableDigest(env.schema.pool, 'items', startsWithA.filter),
    );
    expect(byLabel.get('banana')?.id).toBe(2);
    // Still in primary-key order, so its digest is the table's (the `watch` contract).
    const ids = byLabel.all().map((row) => row.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(byLabel.digest).toBe(await tableDigest(env.schema.pool, 'items'));
  });

  it('needs a key column when the table has no primary key', async () => {
    const codes = `CREATE TABLE codes (code text NOT NULL UNIQUE, name text);
                   INSERT INTO codes VALUES ('fr', 'France'), ('de', 'Germany')`;
    await rejectsWithCode(loaded(codes, [new StaticCache({ table: 'codes' })]), 'NO_PRIMARY_KEY');
    const keyed = new StaticCache({ table: 'codes', key: 'code' });
    await using env = await loaded(codes, [keyed]);
    expect(env.subscriber.status).toBe('ready');
    expect(keyed.get('fr')?.['name']).toBe('France');
  });

  it('fails to start with a clear code for an unknown key column or table', async () => {
    const badKey = await rejectsWithCode(
      loaded(ITEMS_SQL, [new StaticCache({ table: 'items', key: 'nope' })]),
      'UNKNOWN_COLUMN',
    );
    expect(badKey.message).toContain('"nope"');
    const error = await rejectsWithCode(
      loaded(ITEMS_SQL, [new StaticCache({ table: 'no_such_table' })]),
      'START_FAILED',
    );
    expect(error.message).toContain('no_such_table');
  });
});
