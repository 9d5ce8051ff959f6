import { performance } from 'node:perf_hooks';
import {
  currentTableOids,
  isUndefinedTable,
  PostgresError,
  resolveTable,
  resolveTableOid,
  type Queryable,
  type ResolvedTable,
} from '@pg-static-cache/postgres';
import type pg from 'pg';
import { CacheIndex } from './cache-index.ts';
import { ClientError } from './errors.ts';
import { bindTable, type AnyCache } from './static-cache.ts';

/** An OID found to be none of our tables is not checked again for this long. */
const UNRELATED_TTL_MS = 30_000;
const MAX_UNRELATED = 10_000;
/** Unknown OIDs waiting for the next check; more are only hints, and are dropped. */
const MAX_PENDING = 1_000;
/** Checks prompted by unknown OIDs start at most this often, however many arrive. */
const CHECK_SPACING_MS = 1_000;

/** What {@link TableBindings} asks of the subscriber. */
export interface TableBindingsHooks {
  /** Asks for a (single-flight) reload of `cache`. */
  readonly reload: (cache: AnyCache) => void;
  readonly warn: (error: Error) => void;
}

/**
 * Which table each cache holds, kept true to the name the user configured: a cache follows its
 * name (`plans`), not the table that had it when the app started. A table dropped, renamed away,
 * created again or swapped in under the name is noticed by
 * - a load: "undefined table" (42P01), or rows whose columns come from another relation (the
 *   RowDescription names it), re-resolves the name first;
 * - an event naming an OID no cache holds: a new table may now have the name, so every name is
 *   looked up again (one catalog query, never trusting the event to say which cache);
 * - optionally a periodic check of every name (direct mode: no bridge does it for us).
 * A cache whose name was found naming no table, or another one, is `lost` until a load re-resolves
 * it: even a stored snapshot must not count as its rows then.
 */
export class TableBindings {
  readonly #db: Queryable;
  readonly #caches: readonly AnyCache[];
  readonly #hooks: TableBindingsHooks;
  readonly #index = new CacheIndex<AnyCache>();
  readonly #lost = new Set<AnyCache>();
  /** OID → until when it is known to be none of our tables. */
  readonly #unrelated = new Map<number, number>();
  readonly #pending = new Set<number>();
  #checking: Promise<void> | undefined;
  #lastCheckAt = -Infinity;
  #spacingTimer: NodeJS.Timeout | undefined;
  #periodicTimer: NodeJS.Timeout | undefined;
  #checkFailing = false;
  #closed = false;

  constructor(db: Queryable, caches: readonly AnyCache[], hooks: TableBindingsHooks) {
    this.#db = db;
    this.#caches = caches;
    this.#hooks = hooks;
  }

  /** Resolves every cache's table (an unknown table rejects). */
  async bindAll(): Promise<void> {
    for (const cache of this.#caches)
      this.#bind(cache, await resolveTable(this.#db, cache.options.table));
  }

  /** Caches whose table (or one of its members) has this OID. */
  byOid(oid: number): readonly AnyCache[] {
    return this.#index.byOid(oid);
  }

  /** Caches whose table (or one of its members) is listed as `schema.name`. */
  byNames(names: readonly string[]): readonly AnyCache[] {
    return this.#index.byNames(names);
  }

  /**
   * An event named an OID no cache holds: perhaps a table created or renamed under a name we
   * follow. Folded: OIDs known to be unrelated are skipped, the rest wait for one shared check,
   * and checks start at most once per second, so a flood costs one catalog query a second.
   */
  unknownOid(oid: number): void {
    if (this.#closed) return;
    const until = this.#unrelated.get(oid);
    if (until !== undefined && until > performance.now()) return;
    if (this.#pending.size >= MAX_PENDING) return;
    this.#pending.add(oid);
    this.#schedule();
  }

  /** Looks every name up again every `intervalMs` (0: never). */
  checkEvery(intervalMs: number): void {
    if (intervalMs <= 0 || this.#closed) return;
    clearInterval(this.#periodicTimer);
    this.#periodicTimer = setInterval(() => void this.check(), intervalMs);
  }

  /**
   * Looks every configured name up; a cache whose name names no table now, or another one, is
   * marked lost and reloaded (the load re-resolves it). Joins a check under way; never rejects.
   */
  check(): Promise<void> {
    this.#checking ??= this.#check().finally(() => {
      this.#checking = undefined;
      if (this.#pending.size > 0) this.#schedule();
    });
    return this.#checking;
  }

  /** Before a load: a lost cache is re-resolved first (rejecting with TABLE_GONE while its name names nothing). */
  async settle(cache: AnyCache): Promise<void> {
    if (this.#lost.has(cache)) await this.rebind(cache);
  }

  /**
   * Runs a load query for `cache` against its table; when the name turns out to name no table
   * (42P01) or another one than held (the rows' columns come from another relation), the name is
   * resolved again and the query runs once more against what it names now.
   */
  async query<T extends pg.QueryResultRow>(
    cache: AnyCache,
    run: (table: ResolvedTable) => Promise<pg.QueryResult<T>>,
  ): Promise<pg.QueryResult<T>> {
    let table = boundTable(cache);
    let result: pg.QueryResult<T>;
    try {
      result = await run(table);
    } catch (error) {
      if (!isUndefinedTable(error)) throw error;
      table = await this.rebind(cache);
      result = await run(table);
    }
    const source = result.fields[0]?.tableID;
    if (source !== undefined && source !== 0 && source !== table.oid) {
      table = await this.rebind(cache);
      result = await run(table);
    }
    return result;
  }

  /**
   * Resolves the cache's configured name again and binds the cache to what it names. Rejects with
   * ClientError TABLE_GONE (saying whether the table was dropped or renamed) when it names nothing.
   */
  async rebind(cache: AnyCache): Promise<ResolvedTable> {
    const old = boundTable(cache);
    let table: ResolvedTable;
    try {
      table = await resolveTable(this.#db, cache.options.table);
    } catch (error) {
      if (error instanceof PostgresError && error.code === 'TABLE_NOT_FOUND') {
        this.#lost.add(cache);
        throw await this.#gone(cache, old, error);
      }
      throw error;
    }
    this.#bind(cache, table);
    this.#lost.delete(cache);
    if (table.oid !== old.oid) {
      this.#unrelated.clear();
      this.#hooks.warn(
        new Error(
          `table ${table.display} is another table now (OID ${old.oid} → ${table.oid}): cache ${cache.name} follows it`,
        ),
      );
    }
    return table;
  }

  /** Stops the checks. Safe twice. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#spacingTimer);
    clearInterval(this.#periodicTimer);
  }

  #bind(cache: AnyCache, table: ResolvedTable): void {
    cache[bindTable](table);
    this.#index.remove(cache);
    this.#index.add(cache, table);
  }

  async #gone(cache: AnyCache, old: ResolvedTable, cause: Error): Promise<ClientError> {
    let now: ResolvedTable | undefined;
    try {
      now = await resolveTableOid(this.#db, old.oid);
    } catch {
      // Not found (dropped), or the catalog cannot say: "dropped" is the plain reading.
    }
    const message =
      now === undefined
        ? `table ${old.display} was dropped`
        : now.display === old.display
          ? `table ${old.display} is not named ${cache.options.table} any more`
          : `table ${old.display} was renamed to ${now.display}; the cache follows the name ${cache.options.table}`;
    return new ClientError('TABLE_GONE', message, { cause });
  }

  #schedule(): void {
    if (this.#closed || this.#checking !== undefined || this.#spacingTimer !== undefined) return;
    const waitMs = Math.max(0, this.#lastCheckAt + CHECK_SPACING_MS - performance.now());
    this.#spacingTimer = setTimeout(() => {
      this.#spacingTimer = undefined;
      if (!this.#closed) void this.check();
    }, Math.ceil(waitMs));
  }

  async #check(): Promise<void> {
    const asked = [...this.#pending];
    this.#pending.clear();
    this.#lastCheckAt = performance.now();
    let current: (number | undefined)[];
    try {
      current = await currentTableOids(
        this.#db,
        this.#caches.map((cache) => cache.options.table),
      );
    } catch (error) {
      // Postgres unreachable: the reloads that fail meanwhile say so; one warning per streak.
      if (!this.#checkFailing && !this.#closed) {
        const message = error instanceof Error ? error.message : String(error);
        this.#hooks.warn(new Error(`cannot check the cached tables' names: ${message}`));
      }
      this.#checkFailing = true;
      return;
    }
    this.#checkFailing = false;
    if (this.#closed) return;
    const moved = this.#caches.filter((cache, i) => current[i] !== cache.table?.oid);
    for (const cache of moved) {
      this.#lost.add(cache);
      this.#hooks.reload(cache);
    }
    // The OIDs that asked may be the moved caches' new tables: known once their loads rebind.
    if (moved.length > 0) {
      this.#unrelated.clear();
      return;
    }
    const until = performance.now() + UNRELATED_TTL_MS;
    for (const oid of asked) {
      if (this.#index.byOid(oid).length > 0) continue;
      if (this.#unrelated.size >= MAX_UNRELATED) this.#unrelated.clear();
      this.#unrelated.set(oid, until);
    }
  }
}

function boundTable(cache: AnyCache): ResolvedTable {
  const table = cache.table;
  if (table === undefined) throw new ClientError('CLOSED', 'cache table not resolved');
  return table;
}
