// Every cache query is one statement of the extended protocol, so a filter's text cannot end the
// SELECT and run another statement, and values reach Postgres as parameters, never as SQL.
import { describe, expect, it } from 'vitest';
import { createTestSchema, uniqueName, type TestSchema } from '@pg-static-cache/test-support';
import { ClientError } from './errors.ts';
import { sql } from './sql.ts';
import { StaticCache, type StaticCacheOptions } from './static-cache.ts';
import { createSubscriber, type StaleEvent } from './subscriber.ts';

const PLANS = `
  CREATE TABLE plans (id int PRIMARY KEY, tenant text NOT NULL);
  INSERT INTO plans VALUES (1, 'acme'), (2, 'acme'), (3, 'globex')`;

/** Ends the SELECT and comments the rest out: the closing parenthesis on its own line is left over. */
const COMMENTED = 'true); DELETE FROM plans; --';
/** Ends the SELECT and balances the rest: three statements Postgres would parse and run in turn. */
const BALANCED = 'true); DELETE FROM plans; SELECT * FROM plans WHERE (true';
const SYNTAX = /syntax error at or near "\)"/;
const ONE_STATEMENT = /cannot insert multiple commands into a prepared statement/;

/** Starts a direct-mode subscriber of one cache; resolves with what it reported and how start ended. */
async function startWith(schema: TestSchema, options: StaticCacheOptions<object, unknown>) {
  const cache = new StaticCache(options);
  const subscriber = createSubscriber({
    pg: schema.url,
    caches: [cache],
    channel: uniqueName('ch'),
  });
  const stale: StaleEvent[] = [];
  subscriber.on('stale', (event) => stale.push(event));
  const started = await subscriber.start().then(
    () => undefined,
    (error: unknown) => error,
  );
  await subscriber.close();
  return { cache, stale, started };
}

async function planCount(schema: TestSchema): Promise<number> {
  const result = await schema.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM plans');
  return result.rows[0]?.n ?? -1;
}

describe('the query a cache loads with', () => {
  it.each([
    ['whereRaw', { whereRaw: COMMENTED }, SYNTAX],
    ['where text', { where: { text: COMMENTED } }, SYNTAX],
    ['whereRaw', { whereRaw: BALANCED }, ONE_STATEMENT],
    ['where text', { where: { text: BALANCED } }, ONE_STATEMENT],
  ])(
    '%s %j cannot run a second statement: the load fails, the rows stay',
    async (_, filter, error) => {
      await using schema = await createTestSchema();
      await schema.pool.query(PLANS);
      const { cache, stale, started } = await startWith(schema, { table: 'plans', ...filter });
      expect(await planCount(schema)).toBe(3);
      expect(started).toBeInstanceOf(ClientError);
      expect((started as ClientError).code).toBe('START_FAILED');
      // The load failed with Postgres' own refusal, reported like any failed load.
      expect(stale.map((event) => event.error.message)).toEqual([expect.stringMatching(error)]);
      expect(cache.lastError?.message).toMatch(error);
      expect(cache.size).toBe(0);
    },
  );

  it('sends values as parameters: a value that looks like SQL is only compared with', async () => {
    await using schema = await createTestSchema();
    await schema.pool.query(PLANS);
    const hostile = await startWith(schema, {
      table: 'plans',
      where: sql`tenant = ${"acme' OR true); DELETE FROM plans; --"}`,
    });
    expect(hostile.started).toBeUndefined();
    expect(hostile.cache.size).toBe(0);
    expect(await planCount(schema)).toBe(3);

    const acme = await startWith(schema, { table: 'plans', where: sql`tenant = ${'acme'}` });
    expect(acme.cache.all()).toEqual([
      { id: 1, tenant: 'acme' },
      { id: 2, tenant: 'acme' },
    ]);
    const above = await startWith(schema, {
      table: 'plans',
      where: { text: 'id > $1 AND tenant <> $2', values: [1, 'acme'] },
    });
    expect(above.cache.all()).toEqual([{ id: 3, tenant: 'globex' }]);
  });
});
