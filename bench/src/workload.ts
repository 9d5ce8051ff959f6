// The table every system follows, and the statements that change it.
import {
  checkTriggers,
  installTriggers,
  uninstallTriggers,
  type TriggerOptions,
} from '@pg-static-cache/postgres';
import type pg from 'pg';
import { namesDigest } from './protocol.ts';

/** The bench's own schema: dropped and created again on every run. */
export const BENCH_SCHEMA = 'psc_bench';
/** The table the subscribers cache. */
export const BENCH_TABLE = `${BENCH_SCHEMA}.bench_items`;
/** Rows in the table. */
export const BENCH_ROWS = 200;
/** Sequel's default channel: with it our defaults name the function and trigger exactly as Sequel does. */
export const TRIGGERS: TriggerOptions = Object.freeze({ channel: 'sequel_static_cache_update' });

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

/** Removes the triggers (and the function, once unused) and the schema. */
export async function dropWorkload(db: pg.Client): Promise<void> {
  await uninstallTriggers(db, [BENCH_TABLE], TRIGGERS);
  await db.query(`DROP SCHEMA IF EXISTS ${BENCH_SCHEMA} CASCADE`);
}

/** Row that update `seq` changes: consecutive updates touch different rows. */
export function rowOf(seq: number): number {
  return (seq % BENCH_ROWS) + 1;
}

/** One single-row update in its own (autocommit) transaction: resolves once it has committed. */
export async function updateRow(db: pg.Client, id: number, name: string): Promise<void> {
  await db.query({
    name: 'psc_bench_update',
    text: `UPDATE ${BENCH_TABLE} SET name = $1, updated_at = clock_timestamp() WHERE id = $2`,
    values: [name, id],
  });
}

/** {@link namesDigest} of the table as it is now: what a converged cache reports. */
export async function tableNamesDigest(db: pg.Client): Promise<string> {
  const result = await db.query<{ name: string }>(`SELECT name FROM ${BENCH_TABLE} ORDER BY id`);
  return namesDigest(result.rows.map((row) => row.name));
}
