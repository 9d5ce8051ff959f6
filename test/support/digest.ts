// What a converged cache must serve, computed from the database the way `watch` prints it.
import { digestRows, resolveTable, selectRowsSql } from '@pg-static-cache/postgres';
import type pg from 'pg';

/** A cache's filter (`StaticCache.filter`): SQL text with `$1`… placeholders and their values. */
export interface RowFilter {
  readonly text: string;
  readonly values?: readonly unknown[];
}

/** The `watch` digest of a table as the database holds it now (rows ordered by primary key). */
export async function tableDigest(
  db: pg.Pool | pg.Client,
  table: string,
  where?: RowFilter,
): Promise<string> {
  const resolved = await resolveTable(db, table);
  const sql = selectRowsSql(resolved, where === undefined ? {} : { where: where.text });
  const result = await db.query(sql, [...(where?.values ?? [])]);
  return digestRows(result.rows);
}
