import {
  checkTriggers,
  PostgresError,
  resolveTable,
  resolveTableOid,
  type Queryable,
  type ResolvedTable,
  type TriggerOptions,
  type TriggerReport,
} from '@pg-static-cache/postgres';
import type { Logger } from 'pino';
import { tableByDisplay } from '../jobs/table-snapshot.ts';
import { TableCache } from './table-cache.ts';

/** The tables a leader watches, with the trigger check that found them. */
export interface Discovery {
  readonly tables: readonly ResolvedTable[];
  readonly reports: readonly TriggerReport[];
}

/** What {@link WatchedTables} needs. */
export interface WatchedTablesOptions {
  /** General pool (catalog lookups, trigger checks). */
  readonly db: Queryable;
  /** The configured tables as written in SQL; undefined: every table carrying our trigger. */
  readonly configured: readonly string[] | undefined;
  /** Names of the channel, function and trigger that `checkTriggers` expects. */
  readonly triggerOptions: TriggerOptions;
  readonly logger: Logger;
}

/**
 * The tables a leader watches and the notification OIDs that belong to them: which table an OID
 * names (cached, see TableCache), which watched table a partition or child belongs to, and which
 * tables a resync covers.
 */
export class WatchedTables {
  readonly #options: WatchedTablesOptions;
  readonly #cache: TableCache;
  readonly #log: Logger;

  constructor(options: WatchedTablesOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'tables' });
    this.#cache = new TableCache(options.db, (oid, error) =>
      this.#log.warn({ oid, err: error }, 'notification OID is not a table: dropped'),
    );
  }

  /** The relation with this OID; undefined when there is none (or it is not a table). Catalog errors reject. */
  resolve(oid: number): Promise<ResolvedTable | undefined> {
    return this.#cache.resolve(oid);
  }

  /** The watched table whose rows include this relation (itself, a partition or a child). */
  watchedOf(oid: number): ResolvedTable | undefined {
    return this.#cache.watchedOf(oid);
  }

  /** The watched tables themselves, as last discovered. */
  watchedTables(): ResolvedTable[] {
    return this.#cache.watchedTables();
  }

  /**
   * The configured tables, or else every table carrying our trigger (or calling our function),
   * resolved afresh; also refreshes the OID cache, so renamed tables are announced by their new
   * name. A configured table that has gone is skipped with a warning rather than failing the check.
   */
  async discover(): Promise<Discovery> {
    const { db, configured, triggerOptions } = this.#options;
    const tables: ResolvedTable[] = [];
    let reports: TriggerReport[];
    if (configured !== undefined) {
      for (const name of configured) {
        try {
          tables.push(await resolveTable(db, name));
        } catch (error) {
          if (!(error instanceof PostgresError)) throw error;
          this.#log.warn({ table: name, err: error }, 'configured table not found');
        }
      }
      reports =
        tables.length === 0
          ? []
          : await checkTriggers(db, { ...triggerOptions, tables: tables.map((t) => t.sql) });
    } else {
      reports = await checkTriggers(db, triggerOptions);
      // A table whose trigger was dropped no longer shows up in the check above, yet it is exactly
      // the one whose changes nobody announces: keep watching every table this bridge has watched,
      // so the drift check still covers it and the report says `missing`.
      const found = new Set(reports.map((report) => report.oid));
      const lost = this.#cache.watchedOids().filter((oid) => !found.has(oid));
      for (const oid of [...found, ...lost]) {
        try {
          tables.push(await resolveTableOid(db, oid));
        } catch (error) {
          // Dropped meanwhile: it has nothing left to announce.
          if (!(error instanceof PostgresError)) throw error;
        }
      }
      const lostTables = tables.filter((table) => !found.has(table.oid));
      if (lostTables.length > 0) {
        const lostSql = lostTables.map((t) => t.sql);
        reports = [
          ...reports,
          ...(await checkTriggers(db, { ...triggerOptions, tables: lostSql })),
        ];
      }
    }
    this.#cache.setWatched(tables);
    return { tables, reports };
  }

  /** The watched tables a resync of `tables` (`schema.name`, as in the message) covers; all when undefined. */
  async resyncTargets(tables: readonly string[] | undefined): Promise<ResolvedTable[]> {
    if (tables === undefined) return [...(await this.discover()).tables];
    const targets = new Map<string, ResolvedTable>();
    for (const display of tables) {
      const table = await tableByDisplay(this.#options.db, display);
      if (table === undefined) continue;
      const watched = this.watchedOf(table.oid) ?? table;
      targets.set(watched.display, watched);
    }
    return [...targets.values()];
  }
}

/** The `tables` field of the status hash: the trigger check, one entry per table. */
export function tablesStatus(
  reports: readonly { readonly table: string; readonly state: string; readonly ok: boolean }[],
): string {
  return JSON.stringify(reports.map(({ table, state, ok }) => ({ table, state, ok })));
}
