import { streamRows, textValues, type ArrayQuery, type Queryable } from '@pg-static-cache/postgres';
import { keepingUnchanged, type TextRow } from '@pg-static-cache/protocol';
import type pg from 'pg';
import type { TextRows } from './snapshot-rows.ts';

/**
 * Runs `query` (every value as Postgres text) on `db`, building its rows as they arrive: a row whose
 * text did not change since `previous` (the cache's last load, same order) is `previous`' own
 * array. So a reload of a big table after a one-row change keeps one new row; the others' text is
 * garbage at once, young, where V8 reclaims it cheaply, instead of living as long as the whole
 * result, being promoted with it, and growing the heap by a table's worth per reload.
 */
export function queryTextRows(
  db: Queryable,
  query: ArrayQuery,
  previous: TextRows | undefined,
): Promise<pg.QueryResult<TextRow>> {
  const keep = keepingUnchanged(previous);
  return streamRows(db, query, (values, index, fields) => keep(textValues(values), index, fields));
}
