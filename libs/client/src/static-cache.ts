import { RowDigests, type ResolvedTable } from '@pg-static-cache/postgres';
import { ClientError } from './errors.ts';
import { deepFreeze, sameRow } from './freeze.ts';
import { filterOf, type SqlFragment } from './sql.ts';

/** `empty` until the first load, `fresh` after a good load, `stale` while reloads fail or events may be missed. */
export type CacheStatus = 'empty' | 'fresh' | 'stale';

/** A row as node-postgres returns it. */
export type Row = Readonly<Record<string, unknown>>;

/** A cache of any row and value type, as a subscriber holds them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- variance: caches of every row type fit here
export type AnyCache = StaticCache<any, any>;

/** What a cache holds and how it is keyed. */
export interface StaticCacheOptions<R extends object, V> {
  /** The table as written in SQL: `items`, `public.items`, `"Weird Schema"."Mixed Case"`. */
  readonly table: string;
  /** Column(s) that `get()` looks up by. @default the table's primary key */
  readonly key?: string | readonly string[];
  /** Turns each (frozen) row into the value served. @default the row itself */
  readonly map?: (row: R) => V;
  /**
   * A condition that limits the rows held, its values sent as query parameters:
   * sql`active AND tenant = ${id}` or `{ text: 'active AND tenant = $1', values: [id] }`.
   * A plain string is refused. @default all rows
   */
  readonly where?: SqlFragment;
  /**
   * A condition as raw SQL text, for what `where` cannot say; the app's own trusted text, never
   * input. Like `where`, it runs as one statement of the extended protocol. @default all rows
   */
  readonly whereRaw?: string;
  /** Name used in events and logs. @default the table as given */
  readonly name?: string;
}

/** One loaded version of a cache: replaced whole, never edited, so readers never see half a reload. */
interface Snapshot<R, V> {
  readonly rows: readonly R[];
  readonly values: readonly V[];
  /** Key → index into `rows` and `values`. */
  readonly indexOf: ReadonlyMap<unknown, number>;
  /** Computed on first demand: most versions are never asked for it. */
  digest: string | undefined;
  readonly version: number;
  readonly loadedAt: Date;
}

/** A version just swapped in: its number, and its digest when asked for. */
export interface SwappedVersion {
  readonly version: number;
  digest(): string;
}

/** Internal hooks the subscriber uses; not exported from the package. */
export const bindTable = Symbol('bindTable');
export const swapRows = Symbol('swapRows');
export const markStale = Symbol('markStale');
export const markFresh = Symbol('markFresh');

/** A whole table (or a filtered part of it) held in memory, swapped atomically on every reload. */
export class StaticCache<R extends object = Row, V = R> {
  readonly name: string;
  readonly options: Readonly<StaticCacheOptions<R, V>>;
  /** `where` or `whereRaw`, checked; undefined when every row is held. */
  readonly filter: Required<SqlFragment> | undefined;
  #table: ResolvedTable | undefined;
  #keyColumns: readonly string[] = [];
  #snapshot: Snapshot<R, V> | undefined;
  #status: CacheStatus = 'empty';
  #lastError: Error | undefined;
  readonly #digests = new RowDigests();

  constructor(options: StaticCacheOptions<R, V>) {
    if (typeof options.table !== 'string' || options.table.trim() === '') {
      throw new ClientError('INVALID_OPTIONS', 'StaticCache needs a table name');
    }
    this.filter = filterOf(options.where, options.whereRaw);
    this.options = Object.freeze({ ...options });
    this.name = options.name ?? options.table;
  }

  /** The value whose key column(s) equal `key` (an array for a composite key). */
  get(key: unknown): V | undefined {
    const snapshot = this.#snapshot;
    const index = snapshot?.indexOf.get(this.#keyColumns.length > 1 ? compositeKey(key) : key);
    return index === undefined ? undefined : snapshot?.values[index];
  }

  /** Every value, in primary-key order. */
  all(): readonly V[] {
    return this.#snapshot?.values ?? [];
  }

  /** Every row as loaded (before `map`), in primary-key order. */
  rows(): readonly R[] {
    return this.#snapshot?.rows ?? [];
  }

  /** Number of rows held. */
  get size(): number {
    return this.#snapshot?.rows.length ?? 0;
  }

  /** 0 before the first load, then +1 per swap; never goes back. */
  get version(): number {
    return this.#snapshot?.version ?? 0;
  }

  /**
   * SHA-256 hex of `JSON.stringify(rows())` (the `watch` digest), or undefined before the first
   * load. Computed when first asked for, stringifying only rows not carried over unchanged.
   */
  get digest(): string | undefined {
    return this.#snapshot === undefined ? undefined : this.#digestOf(this.#snapshot);
  }

  #digestOf(snapshot: Snapshot<R, V>): string {
    snapshot.digest ??= this.#digests.of(snapshot.rows);
    return snapshot.digest;
  }

  /** When the rows now served were loaded. */
  get loadedAt(): Date | undefined {
    return this.#snapshot?.loadedAt;
  }

  /** See {@link CacheStatus}. */
  get status(): CacheStatus {
    return this.#status;
  }

  /** The error of the last failed reload while `stale`, else undefined. */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /** The resolved table once a subscriber has started. */
  get table(): ResolvedTable | undefined {
    return this.#table;
  }

  /** Column(s) rows are keyed and ordered by. */
  get keyColumns(): readonly string[] {
    return this.#keyColumns;
  }

  [bindTable](table: ResolvedTable): void {
    const key = this.options.key;
    const columns = key === undefined ? table.primaryKey : typeof key === 'string' ? [key] : key;
    if (columns.length === 0) {
      throw new ClientError(
        'NO_PRIMARY_KEY',
        `table ${table.display} has no primary key: give the cache a key column`,
      );
    }
    this.#table = table;
    this.#keyColumns = Object.freeze([...columns]);
  }

  /**
   * Swaps in a new version. A row equal to the one of the same key in the version held is not
   * taken: the held (frozen) row and its mapped value carry over, so a reload allocates and maps
   * only what changed, and apps may memoize on identity.
   */
  [swapRows](rows: readonly R[], columns: readonly string[]): SwappedVersion {
    for (const column of this.#keyColumns) {
      if (!columns.includes(column)) {
        throw new ClientError(
          'UNKNOWN_COLUMN',
          `cache ${this.name}: key column "${column}" is not a column of ${this.#table?.display ?? this.options.table}`,
        );
      }
    }
    const held = this.#snapshot;
    const map = this.options.map;
    const kept: R[] = new Array<R>(rows.length);
    // Without `map` the values are the rows: one array serves all() and rows().
    const values: V[] = map === undefined ? (kept as unknown as V[]) : new Array<V>(rows.length);
    // Every row at its held index (a change that only updated rows): the held key index still holds.
    let sameLayout = held !== undefined && held.rows.length === rows.length;
    rows.forEach((row, i) => {
      // The held row object itself (a snapshot row whose text did not change): nothing to compare.
      if (held !== undefined && row === held.rows[i]) {
        kept[i] = row;
        if (map !== undefined) values[i] = held.values[i] as V;
        return;
      }
      const before = held?.indexOf.get(this.#keyOf(row));
      if (before !== i) sameLayout = false;
      const heldRow = before === undefined ? undefined : held?.rows[before];
      if (heldRow !== undefined && before !== undefined && sameRow(heldRow, row)) {
        kept[i] = heldRow;
        if (map !== undefined) values[i] = held?.values[before] as V;
      } else {
        const frozen = deepFreeze(row);
        kept[i] = frozen;
        // Values that `map` builds are the app's own objects: only the rows are frozen.
        if (map !== undefined) values[i] = map(frozen);
      }
    });
    // Key maps are never changed once built, so versions may share one.
    const indexOf =
      sameLayout && held !== undefined
        ? held.indexOf
        : new Map(kept.map((row, i) => [this.#keyOf(row), i] as const));
    Object.freeze(kept);
    const snapshot: Snapshot<R, V> = {
      rows: kept,
      values: Object.freeze(values),
      indexOf,
      digest: undefined,
      version: this.version + 1,
      loadedAt: new Date(),
    };
    this.#snapshot = snapshot;
    this.#status = 'fresh';
    this.#lastError = undefined;
    return { version: snapshot.version, digest: () => this.#digestOf(snapshot) };
  }

  [markStale](error: Error): void {
    // A cache that never loaded stays `empty`: it has nothing stale to serve.
    if (this.#snapshot !== undefined) this.#status = 'stale';
    this.#lastError = error;
  }

  /** A load found the rows held still current (snapshot mode): fresh again without a swap. */
  [markFresh](): void {
    if (this.#snapshot === undefined) return;
    this.#status = 'fresh';
    this.#lastError = undefined;
  }

  #keyOf(row: R): unknown {
    // Rows come from node-postgres, so they are plain objects keyed by column name.
    const record = row as Record<string, unknown>;
    if (this.#keyColumns.length === 1) return record[this.#keyColumns[0] as string];
    return compositeKey(this.#keyColumns.map((column) => record[column]));
  }
}

function compositeKey(parts: unknown): string {
  return JSON.stringify(parts, (_key, value: unknown) =>
    typeof value === 'bigint' ? value.toString() : value,
  );
}
