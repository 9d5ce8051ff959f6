import { selectRowsSql, type ResolvedTable } from '@pg-static-cache/postgres';
import type { LoadedRows, LoadResult, LoaderContext, RowLoader } from './row-loader.ts';
import type { AnyCache, Row } from './static-cache.ts';

/** The query that loads `cache` from `table`. */
function rowsSql(table: ResolvedTable, cache: AnyCache): string {
  return selectRowsSql(table, {
    // Primary-key order is the digest's contract; a keyless table falls back to the cache key.
    orderBy: table.primaryKey.length > 0 ? table.primaryKey : cache.keyColumns,
    ...(cache.options.where === undefined ? {} : { where: cache.options.where }),
  });
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
    const result = await bindings.query(cache, (table) => pool.query<Row>(rowsSql(table, cache)));
    return { rows: result.rows, columns: result.fields.map((field) => field.name) };
  }

  swapped(): void {}

  close(): Promise<void> {
    return Promise.resolve();
  }
}
