import { selectRowsSql, type ResolvedTable } from '@pg-static-cache/postgres';
import type pg from 'pg';
import type { LoadedRows, LoadResult, LoaderContext, RowLoader } from './row-loader.ts';
import type { AnyCache, Row } from './static-cache.ts';

/**
 * node-postgres' extended query protocol (Parse/Bind/Execute) for every cache query, even without
 * values: the server refuses more than one statement in it, so a filter's text can never end the
 * SELECT and run another one, and values travel as parameters, never as SQL. (`queryMode` is not
 * in @types/pg.)
 */
type ExtendedQuery = pg.QueryConfig & { readonly queryMode: 'extended' };

/** The query that loads `cache` from `table`. */
function rowsQuery(table: ResolvedTable, cache: AnyCache): ExtendedQuery {
  const { filter } = cache;
  const text = selectRowsSql(table, {
    // Primary-key order is the digest's contract; a keyless table falls back to the cache key.
    orderBy: table.primaryKey.length > 0 ? table.primaryKey : cache.keyColumns,
    ...(filter === undefined ? {} : { where: filter.text }),
  });
  return { text, values: [...(filter?.values ?? [])], queryMode: 'extended' };
}

/** Direct and redis mode: every load queries the table, and every event asks for a load at once. */
export class PostgresLoader implements RowLoader {
  readonly #context: LoaderContext;

  constructor(context: LoaderContext) {
    this.#context = context;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  invalidated(caches: readonly AnyCache[]): void {
    for (const cache of caches) this.#context.request(cache, 'change');
  }

  /** Snapshots are not this loader's business. */
  announced(): void {}

  /** Nothing to forget: the loads the subscriber asks for next query the tables. */
  resynced(): void {}

  async load(cache: AnyCache): Promise<LoadResult> {
    return { kind: 'rows', ...(await this.query(cache)), source: 'postgres' };
  }

  /** The cache's rows as its table holds them now (re-resolving a name that moved). */
  async query(cache: AnyCache): Promise<LoadedRows> {
    const { bindings, pool } = this.#context;
    const result = await bindings.query(cache, (table) => pool.query<Row>(rowsQuery(table, cache)));
    return { rows: result.rows, columns: result.fields.map((field) => field.name) };
  }

  swapped(): void {}

  close(): Promise<void> {
    return Promise.resolve();
  }
}
