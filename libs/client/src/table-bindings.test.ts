// A cache follows the table name it was given, against a real Postgres, in direct mode without the
// sql_drop event trigger: the periodic name check finds a DROP or a rename, a reload that meets
// "undefined table" re-resolves the name, and a notification with an unknown OID means "look the
// names up again" — folded, so a flood of them costs a few catalog queries.
import { installTriggers, type TriggerOptions } from '@pg-static-cache/postgres';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  createTestSchema,
  tableDigest,
  uniqueName,
  waitFor,
  type TestSchema,
} from '@pg-static-cache/test-support';
import { StaticCache } from './static-cache.ts';
import { createSubscriber, type Subscriber, type SubscriberOptions } from './subscriber.ts';

const PLANS = `CREATE TABLE plans (id int PRIMARY KEY, name text NOT NULL);
               INSERT INTO plans VALUES (1, 'free'), (2, 'pro')`;

/** The trigger function in the test's schema, so that dropping the schema drops it too. */
function trigger(schema: TestSchema, channel: string): TriggerOptions {
  return { channel, functionName: `"${schema.schema}".notify` };
}

interface Followed extends AsyncDisposable {
  readonly plans: StaticCache;
  readonly subscriber: Subscriber;
  readonly channel: string;
  /** Every `stale` error message so far. */
  readonly staleErrors: string[];
  /** Waits until the cache holds exactly the rows `plans` has now, and says it is fresh. */
  holdsTable(): Promise<void>;
}

async function follow(
  schema: TestSchema,
  options: Partial<SubscriberOptions> = {},
): Promise<Followed> {
  const channel = uniqueName('ch');
  await schema.pool.query(PLANS);
  await installTriggers(schema.pool, ['plans'], trigger(schema, channel));
  const plans = new StaticCache({ table: 'plans' });
  const subscriber = createSubscriber({
    pg: schema.url,
    channel,
    caches: [plans],
    backoff: { baseMs: 50, capMs: 200 },
    ...options,
  });
  const staleErrors: string[] = [];
  subscriber.on('stale', ({ error }) => staleErrors.push(error.message));
  subscriber.on('warning', () => undefined);
  await subscriber.start();
  return {
    plans,
    subscriber,
    channel,
    staleErrors,
    async holdsTable() {
      const digest = await tableDigest(schema.pool, 'plans');
      await waitFor(
        'the cache to hold the rows of plans, fresh',
        () => plans.digest === digest && plans.status === 'fresh',
      );
    },
    [Symbol.asyncDispose]: () => subscriber.close(),
  };
}

describe('a cache follows its table name', () => {
  it('the periodic check reports a DROP and a rename; a table created again is loaded on retry', async () => {
    await using schema = await createTestSchema('psc_bind_check');
    await using f = await follow(schema, { tableCheckIntervalMs: 100 });
    const table = `${schema.schema}.plans`;

    // No trigger fires for DDL, and no event trigger is installed: only the check can tell.
    await schema.pool.query('DROP TABLE plans');
    await waitFor('a stale event for the drop', () => f.staleErrors.length > 0);
    expect(f.staleErrors[0]).toBe(`table ${table} was dropped`);
    expect(f.plans.status).toBe('stale');
    expect(f.plans.lastError?.message).toBe(`table ${table} was dropped`);
    // Still the last good rows: a failed reload never empties a cache.
    expect(f.plans.size).toBe(2);

    // Created again: the retries look the name up again, without a notification.
    await schema.pool.query(`CREATE TABLE plans (id int PRIMARY KEY, name text NOT NULL);
                             INSERT INTO plans VALUES (7, 'team')`);
    await f.holdsTable();

    f.staleErrors.length = 0;
    await schema.pool.query('ALTER TABLE plans RENAME TO plans_away');
    await waitFor('a stale event for the rename', () => f.staleErrors.length > 0);
    expect(f.staleErrors[0]).toBe(
      `table ${table} was renamed to ${schema.schema}.plans_away; the cache follows the name plans`,
    );
    await schema.pool.query('ALTER TABLE plans_away RENAME TO plans');
    await f.holdsTable();
  });

  it('a notification with an unknown OID re-resolves the names: a re-created table is followed at once', async () => {
    await using schema = await createTestSchema('psc_bind_oid');
    // No periodic check and retries far apart: only the notification can bring the new table in.
    await using f = await follow(schema, {
      tableCheckIntervalMs: 0,
      backoff: { baseMs: 60_000, capMs: 60_000 },
    });
    const before = f.plans.table?.oid;
    await schema.pool.query(`DROP TABLE plans;
                             CREATE TABLE plans (id int PRIMARY KEY, name text NOT NULL)`);
    await installTriggers(schema.pool, ['plans'], trigger(schema, f.channel));
    await schema.pool.query(`INSERT INTO plans VALUES (3, 'enterprise')`);
    await f.holdsTable();
    expect(f.plans.table?.oid).not.toBe(before);
    // Followed from now on, by its own OID.
    await schema.pool.query(`UPDATE plans SET name = 'business'`);
    await f.holdsTable();
  });

  it('a flood of unknown OIDs costs a few catalog queries, not one each', async () => {
    await using schema = await createTestSchema('psc_bind_flood');
    const pool = new pg.Pool({ connectionString: schema.url, max: 2 });
    let queries = 0;
    // Every pool.query checks a session out: the subscriber's own catalog and table queries.
    pool.on('acquire', () => (queries += 1));
    try {
      await using f = await follow(schema, { pg: pool, tableCheckIntervalMs: 0 });
      queries = 0;
      const batches = 30;
      const perBatch = 200;
      // 6,000 distinct OIDs of no table, in 30 commits spread over about three seconds.
      for (let batch = 0; batch < batches; batch += 1) {
        const first = 1_000_000 + batch * perBatch;
        await schema.pool.query(
          'SELECT pg_notify($1, g::text) FROM generate_series($2::int, $3::int) AS g',
          [f.channel, first, first + perBatch - 1],
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await waitFor(
        'every notification to arrive',
        () => f.subscriber.stats.notifications >= batches * perBatch,
      );
      // A real change afterwards: still followed (one load).
      await schema.pool.query(`INSERT INTO plans VALUES (3, 'enterprise')`);
      await f.holdsTable();
      // About one name check a second while the flood lasted, plus the load.
      expect(queries).toBeGreaterThanOrEqual(2);
      expect(queries).toBeLessThanOrEqual(7);
    } finally {
      await pool.end();
    }
  });
});
