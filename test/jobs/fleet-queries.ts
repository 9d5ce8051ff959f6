// Counts the table queries every role made, from pg_stat_statements: it counts at the end of each
// statement in shared memory (no stats-flush delay), and by user, so giving each kind of process
// its own login role tells the worker's queries from the apps'.
import type { ResolvedTable } from '@pg-static-cache/postgres';
import type pg from 'pg';

/** Executions of the table query, by role name. */
export type QueriesByRole = ReadonlyMap<string, number>;

/** `CREATE EXTENSION pg_stat_statements` (the server preloads it), tolerating a parallel suite doing the same. */
export async function ensureStatStatements(db: pg.Pool): Promise<void> {
  try {
    await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  } catch (error) {
    // Two sessions creating it at once: one fails on the catalog's unique index; the other made it.
    const found = await db.query(`SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'`);
    if (found.rowCount !== 1) throw error;
  }
}

/**
 * How often each role has run `SELECT * FROM <table> ORDER BY …`, the whole-table query of the
 * worker and of the clients (both build it with selectRowsSql). Other suites run in parallel, so
 * this never resets the (global) statistics: callers take differences. A query with a WHERE, such
 * as the test's own digest query, is another statement and is not counted.
 */
export async function tableQueries(db: pg.Pool, table: ResolvedTable): Promise<QueriesByRole> {
  const prefix = `SELECT * FROM ${table.sql} ORDER BY `;
  const result = await db.query<{ role: string; calls: string }>(
    `SELECT r.rolname AS role, sum(s.calls)::text AS calls
     FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
     WHERE starts_with(s.query, $1)
     GROUP BY r.rolname`,
    [prefix],
  );
  return new Map(result.rows.map((row) => [row.role, Number(row.calls)]));
}

/** Entries pg_stat_statements dropped so far to make room: if it grew, counts may be low. */
export async function statementsDeallocated(db: pg.Pool): Promise<number> {
  const result = await db.query<{ dealloc: string }>(
    'SELECT dealloc::text AS dealloc FROM pg_stat_statements_info',
  );
  return Number(result.rows[0]?.dealloc ?? 0);
}

/** `after - before` for one role (0 when it made none). */
export function queriesBetween(before: QueriesByRole, after: QueriesByRole, role: string): number {
  return (after.get(role) ?? 0) - (before.get(role) ?? 0);
}
