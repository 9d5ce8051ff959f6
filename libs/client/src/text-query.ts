import type { Queryable } from '@pg-static-cache/postgres';
import { sameFields, sameTextRow, type TextRow } from '@pg-static-cache/protocol';
import pg from 'pg';
import type { TextRows } from './snapshot-rows.ts';

/**
 * node-postgres' extended query protocol (Parse/Bind/Execute) for every cache query, even without
 * values: the server refuses more than one statement in it, so a filter's text can never end the
 * SELECT and run another one, and values travel as parameters, never as SQL. (`queryMode` is not
 * in @types/pg.)
 */
export type ExtendedQuery = pg.QueryArrayConfig & { readonly queryMode: 'extended' };

// A pool hands out a session per query; a client (or a pool's client) is one.
function isPool(db: Queryable): db is pg.Pool {
  return 'idleCount' in db;
}

/**
 * Runs `query` (rows as arrays of Postgres text) on `db` and collects the rows as they arrive: a
 * row whose text is the text of the row at the same index in `previous` (same fields) is
 * `previous`' own array. So a reload of a big table after a one-row change keeps one new row; the
 * others' text is garbage at once, young, where V8 reclaims it cheaply, instead of living as long
 * as the whole result, being promoted with it, and growing the heap by a table's worth per reload.
 */
export async function queryTextRows(
  db: Queryable,
  query: ExtendedQuery,
  previous: TextRows | undefined,
): Promise<pg.QueryResult<TextRow>> {
  if (isPool(db)) {
    const client = await db.connect();
    let broken: Error | undefined;
    try {
      return await queryTextRows(client, query, previous);
    } catch (error) {
      broken = error instanceof Error ? error : new Error(String(error));
      throw error;
    } finally {
      // A session that failed mid-query may be unusable: dropped rather than handed out again.
      client.release(broken);
    }
  }
  return new Promise((resolve, reject) => {
    const rows: TextRow[] = [];
    let reuse: readonly TextRow[] | undefined;
    // Rows are not accumulated by node-postgres when a 'row' listener is there and no callback.
    const running = new pg.Query<TextRow>(query);
    running.on('row', (row, result) => {
      if (rows.length === 0 && previous !== undefined && result !== undefined) {
        const fields = result.fields.map(({ name, dataTypeID }) => ({ name, dataTypeID }));
        reuse = sameFields(previous.fields, fields) ? previous.rows : undefined;
      }
      const earlier = reuse?.[rows.length];
      rows.push(earlier !== undefined && sameTextRow(earlier, row) ? earlier : row);
    });
    running.on('end', (result) => {
      result.rows = rows;
      resolve(result);
    });
    running.on('error', reject);
    void db.query(running);
  });
}
