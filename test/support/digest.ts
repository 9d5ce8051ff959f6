// What a converged cache must serve, computed from the database the way `watch` prints it.
import { digestRows, resolveTable, selectRowsSql } from '@pg-static-cache/postgres';
import type pg from 'pg';

/** The `watch` digest of a table as the database holds it now (rows ordered by primary key). */
export async function tableDigest(
  db: pg.Pool | pg.Client,
  table: string,
  where?: string,
): Promise<string> {
  const resolved = await resolveTable(db, table);
  const sql = selectRowsSql(resolved, where === undefined ? {} : { where });
  const result = await db.query(sql);
  return digestRows(result.rows);
}
