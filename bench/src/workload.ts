// The table every system follows, and the statements that change it.
import { checkTriggers, installTriggers, type TriggerOptions } from '@pg-static-cache/postgres';
import type pg from 'pg';

/**
 * The bench's own database, created for each run and dropped after it: notifications are per
 * database, so other work on the server does not reach the bench's listeners, and
 * pg_stat_activity rows of the bench are told apart by `datname`.
 */
export const BENCH_DATABASE = 'psc_bench';
/** The bench's own schema: dropped and created again on every run. */
export const BENCH_SCHEMA = 'psc_bench';
/** The table the subscribers cache. */
export const BENCH_TABLE = `${BENCH_SCHEMA}.bench_items`;
/** Variable naming the table the Sequel subscriber holds instead of {@link BENCH_TABLE}. */
export const TABLE_ENV = 'PSC_BENCH_TABLE';
/** Rows in the table. */
export const BENCH_ROWS = 200;
/** Sequel's default channel: with it our defaults name the function and trigger exactly as Sequel does. */
export const BENCH_CHANNEL = 'sequel_static_cache_update';
/** Trigger options of the bench (the channel alone; names follow from it). */
export const TRIGGERS: TriggerOptions = Object.freeze({ channel: BENCH_CHANNEL });
/** Redis namespace of the bench's bridge and redis-mode subscribers. */
export const BENCH_NAMESPACE = 'psc_bench';

/** Where the bench's Postgres database and Redis are. */
export interface BenchUrls {
  readonly databaseUrl: string;
  readonly redisUrl: string;
}

/** `url` (any database of the server) turned to the bench database, with an application_name if given. */
export function benchDatabaseUrl(url: string, applicationName?: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${BENCH_DATABASE}`;
  if (applicationName !== undefined) parsed.searchParams.set('application_name', applicationName);
  return parsed.toString();
}

/** Creates the bench database afresh (dropping one a crashed run left behind) on `admin`'s server. */
export async function createBenchDatabase(admin: pg.Client): Promise<void> {
  await dropBenchDatabase(admin);
  await admin.query(`CREATE DATABASE ${BENCH_DATABASE}`);
}

/** Drops the bench database; FORCE ends sessions that outlived their process (a SIGKILLed one). */
export async function dropBenchDatabase(admin: pg.Client): Promise<void> {
  await admin.query(`DROP DATABASE IF EXISTS ${BENCH_DATABASE} WITH (FORCE)`);
}

/** A fresh schema and table with {@link BENCH_ROWS} rows, and our triggers on it (checked). */
export async function createWorkload(db: pg.Client): Promise<void> {
  await db.query(`DROP SCHEMA IF EXISTS ${BENCH_SCHEMA} CASCADE`);
  await db.query(`CREATE SCHEMA ${BENCH_SCHEMA}`);
  await db.query(
    `CREATE TABLE ${BENCH_TABLE} (id int PRIMARY KEY, name text, price numeric, updated_at timestamptz)`,
  );
  // Initial names sort below every update token (`u…`), so the newest update is the greatest name.
  await db.query(
    `INSERT INTO ${BENCH_TABLE} SELECT g, 'item ' || lpad(g::text, 3, '0'), g * 1.25, now()
     FROM generate_series(1, ${BENCH_ROWS}) g`,
  );
  await installTriggers(db, [BENCH_TABLE], TRIGGERS);
  const [report] = await checkTriggers(db, { ...TRIGGERS, tables: [BENCH_TABLE] });
  if (report?.ok !== true) {
    throw new Error(`triggers on ${BENCH_TABLE} are not ok: ${report?.state ?? 'no report'}`);
  }
}

/** Row that update `seq` changes: consecutive updates touch different rows. */
export function rowOf(seq: number): number {
  return (seq % BENCH_ROWS) + 1;
}

/**
 * One single-row update in its own (autocommit) transaction: resolves once it has committed. The
 * burst's; changes whose arrival is timed go through LocalTable.update, which returns the row.
 */
export async function updateRow(db: pg.Client, id: number, name: string): Promise<void> {
  await db.query({
    name: 'psc_bench_update',
    text: `UPDATE ${BENCH_TABLE} SET name = $1, updated_at = clock_timestamp() WHERE id = $2`,
    values: [name, id],
  });
}
