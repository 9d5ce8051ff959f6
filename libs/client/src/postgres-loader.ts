import {
  currentWalPosition,
  type ArrayQuery,
  lsnValue,
  selectRowsSql,
  TEXT_VALUES,
  type ReplicaOutcome,
  type ResolvedTable,
} from '@pg-static-cache/postgres';
import type { TextRow } from '@pg-static-cache/protocol';
import type pg from 'pg';
import { queryTextRows } from './text-query.ts';
import type { LoadTarget } from './cache-reloader.ts';
import type { Replica } from './replica.ts';
import type { LoadedRows, LoadResult, LoaderContext, RowLoader } from './row-loader.ts';
import {
  snapshotRows,
  type ParsedSnapshot,
  type TextRows,
  type TypeParsers,
} from './snapshot-rows.ts';
import type { AnyCache, Row } from './static-cache.ts';

/** The query that loads `cache` from `table`, each row an array of text values. */
function rowsQuery(table: ResolvedTable, cache: AnyCache): ArrayQuery {
  const { filter } = cache;
  const text = selectRowsSql(table, {
    // Primary-key order is the digest's contract; a keyless table falls back to the cache key.
    orderBy: table.primaryKey.length > 0 ? table.primaryKey : cache.keyColumns,
    ...(filter === undefined ? {} : { where: filter.text }),
  });
  return {
    text,
    values: [...(filter?.values ?? [])],
    rowMode: 'array',
    // The loader parses the text itself (see PostgresLoader).
    types: TEXT_VALUES,
    // Even without values: a filter's text can never end the SELECT and run another statement.
    queryMode: 'extended',
  };
}

/** The rows of a text-mode query result as the app's parsers build them (see snapshotRows). */
function parsed(
  result: pg.QueryResult<TextRow>,
  types: TypeParsers,
  previous: ParsedSnapshot | undefined,
): LoadedRows & { readonly text: TextRows } {
  const text = {
    fields: result.fields.map(({ name, dataTypeID }) => ({ name, dataTypeID })),
    rows: result.rows,
  };
  const rows = snapshotRows(text, types, previous);
  return { rows, columns: text.fields.map((field) => field.name), text };
}

/** Rows of a table query, their text, and (with a replica) where it read them. */
export type QueriedRows = LoadedRows & {
  readonly text: TextRows;
  readonly replica?: ReplicaOutcome;
};

/**
 * Direct and redis mode: every load queries the table (on the replica once it replayed what the
 * load must include, when there is one), and every event asks for a load at once.
 *
 * Rows arrive as Postgres text and are parsed here with the app's own parsers (as snapshots are):
 * a row whose text is the same as in the last load is the row the cache holds, neither parsed nor
 * allocated again, and its text is the last load's too (see queryTextRows), so a reload of a big
 * table after a one-row change parses and keeps one row, and its other rows' text dies young.
 */
export class PostgresLoader implements RowLoader {
  readonly #context: LoaderContext;
  readonly #replica: Replica | undefined;
  readonly #types: TypeParsers;
  /** What each cache's rows were built from, once swapped in. */
  readonly #parsed = new Map<AnyCache, ParsedSnapshot>();
  readonly #unswapped = new Map<AnyCache, TextRows>();

  constructor(context: LoaderContext, types: TypeParsers, replica?: Replica) {
    this.#context = context;
    this.#types = types;
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
    const { text, ...rows } = await this.query(cache, target, this.#parsed.get(cache));
    this.#unswapped.set(cache, text);
    return { kind: 'rows', ...rows, source: 'postgres' };
  }

  /**
   * The cache's rows as its table holds them, including at least `target` (re-resolving a name
   * that moved). Without a replica the primary has every commit made before the query anyway.
   */
  async query(
    cache: AnyCache,
    target: LoadTarget,
    previous?: ParsedSnapshot,
  ): Promise<QueriedRows> {
    const { bindings, pool, stats } = this.#context;
    const replica = this.#replica;
    if (replica === undefined) {
      const result = await bindings.query(cache, (table) =>
        queryTextRows(pool, rowsQuery(table, cache), previous?.snapshot),
      );
      return parsed(result, this.#types, previous);
    }
    // Read from the primary after the load was asked for: at or past every commit made before.
    const lsn = target === 'now' ? await currentWalPosition(pool) : target;
    // The last query's outcome: a name that moved is queried again after it is resolved again.
    const last: { outcome: ReplicaOutcome } = { outcome: 'replica' };
    const result = await bindings.query(cache, async (table) => {
      const read = await replica.reads.read(lsn, pool, (db) =>
        queryTextRows(db, rowsQuery(table, cache), previous?.snapshot),
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
    return { ...parsed(result, this.#types, previous), replica: outcome };
  }

  /** The rows `cache` just swapped in are its last load's, index for index. */
  swapped(cache: AnyCache): void {
    const text = this.#unswapped.get(cache);
    if (text === undefined) return;
    this.#unswapped.delete(cache);
    this.#parsed.set(cache, { snapshot: text, rows: cache.rows() as readonly Row[] });
  }

  async close(): Promise<void> {
    await this.#replica?.close();
  }
}
