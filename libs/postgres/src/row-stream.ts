import pg from 'pg';
import type { Queryable } from './table.ts';

/**
 * A query whose rows are arrays (`rowMode: 'array'`). `queryMode: 'extended'` (not in @types/pg)
 * keeps even a query without values in the extended protocol, where the server refuses more than
 * one statement: an application's filter text can never end the SELECT and run another one.
 */
export type ArrayQuery = pg.QueryArrayConfig & { readonly queryMode?: 'extended' };

/** What a row turns into as it arrives: given its values, its index and the result's fields. */
export type EachRow<R> = (values: unknown[], index: number, fields: readonly pg.FieldDef[]) => R;

// A pool hands out a session per query; a client (or a pool's client) is one.
function isPool(db: Queryable): db is pg.Pool {
  return 'idleCount' in db;
}

/**
 * Runs `query` on `db` and turns each row into `each`'s value the moment it arrives, instead of
 * collecting every row first: what `each` does not keep is garbage while it is young, which V8
 * reclaims cheaply. (node-postgres accumulates nothing for a Query with a row listener and no
 * callback.) On a pool it checks a session out for the query; one that failed is not handed out
 * again.
 */
export async function streamRows<R extends pg.QueryResultRow>(
  db: Queryable,
  query: ArrayQuery,
  each: EachRow<R>,
): Promise<pg.QueryResult<R>> {
  if (isPool(db)) {
    const client = await db.connect();
    let broken: Error | undefined;
    try {
      return await streamRows(client, query, each);
    } catch (error) {
      broken = error instanceof Error ? error : new Error(String(error));
      throw error;
    } finally {
      client.release(broken);
    }
  }
  return new Promise((resolve, reject) => {
    const rows: R[] = [];
    // node-postgres calls the row listener from its socket handler, where a throw would escape as
    // an uncaught exception: `each` failing fails the query once it has ended instead.
    let failed: { readonly error: unknown } | undefined;
    const running = new pg.Query<unknown[]>(query);
    running.on('row', (values, result) => {
      if (failed !== undefined) return;
      try {
        rows.push(each(values, rows.length, result?.fields ?? []));
      } catch (error) {
        failed = { error };
      }
    });
    running.on('end', ({ command, rowCount, oid, fields }) => {
      if (failed === undefined) resolve({ command, rowCount, oid, fields, rows });
      else reject(failed.error instanceof Error ? failed.error : new Error(String(failed.error)));
    });
    running.on('error', reject);
    void db.query(running);
  });
}
