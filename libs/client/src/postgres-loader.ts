import {
  currentWalPosition,
  lsnValue,
  selectRowsSql,
  type ReplicaOutcome,
  type ResolvedTable,
} from '@pg-static-cache/postgres';
import type pg from 'pg';
import type { LoadTarget } from './cache-reloader.ts';
import type { Replica } from './replica.ts';
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

/** Rows of a table query, and (with a replica) where it read them. */
export type QueriedRows = LoadedRows & { readonly replica?: ReplicaOutcome };

/**
 * Direct and redis mode: every load queries the table (on the replica once it replayed what the
 * load must include, when there is one), and every event asks for a load at once.
 */
export class PostgresLoader implements RowLoader {
  readonly #context: LoaderContext;
  readonly #replica: Replica | undefined;

  constructor(context: LoaderContext, replica?: Replica) {
    this.#context = context;
    this.#replica = replica;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  invalidated(caches: readonly AnyCache[], lsn: string | undefined): void {
    // The message's LSN was read after the commit: a load that includes it includes the commit.
    const position = lsn === undefined ? undefined : lsnValue(lsn);
    for (const cache of caches) this.#context.request(cache, 'change', position);
  }

  /** Snapshots are not this loader's business. */
  announced(): void {}

  /** Nothing to forget: the loads the subscriber asks for next query the tables. */
  resynced(): void {}

  async load(cache: AnyCache, target: LoadTarget): Promise<LoadResult> {
    return { kind: 'rows', ...(await this.query(cache, target)), source: 'postgres' };
  }

  /**
   * The cache's rows as its table holds them, including at least `target` (re-resolving a name
   * that moved). Without a replica the primary has every commit made before the query anyway.
   */
  async query(cache: AnyCache, target: LoadTarget): Promise<QueriedRows> {
    const { bindings, pool, stats } = this.#context;
    const replica = this.#replica;
    if (replica === undefined) {
      const result = await bindings.query(cache, (table) =>
        pool.query<Row>(rowsQuery(table, cache)),
      );
      return { rows: result.rows, columns: result.fields.map((field) => field.name) };
    }
    // Read from the primary after the load was asked for: at or past every commit made before.
    const lsn = target === 'now' ? await currentWalPosition(pool) : target;
    // The last query's outcome: a name that moved is queried again after it is resolved again.
    const last: { outcome: ReplicaOutcome } = { outcome: 'replica' };
    const result = await bindings.query(cache, async (table) => {
      const read = await replica.reads.read(lsn, pool, (db) =>
        db.query<Row>(rowsQuery(table, cache)),
      );
      last.outcome = read.outcome;
      return read.value;
    });
    const { outcome } = last;
    if (outcome === 'replica') stats.replicaReads += 1;
    else {
      stats.replicaFallbacks += 1;
      stats.replicaFallbacksByReason[outcome] += 1;
    }
    const columns = result.fields.map((field) => field.name);
    return { rows: result.rows, columns, replica: outcome };
  }

  swapped(): void {}

  async close(): Promise<void> {
    await this.#replica?.close();
  }
}
