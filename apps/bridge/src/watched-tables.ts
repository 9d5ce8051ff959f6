import {
  checkTriggers,
  PostgresError,
  resolveTable,
  resolveTableOid,
  type ResolvedTable,
  type TriggerReport,
} from '@pg-static-cache/postgres';
import type { BridgeContext } from './context.ts';

/** The tables a leader watches, with the trigger check that found them. */
export interface WatchedTables {
  readonly tables: readonly ResolvedTable[];
  readonly reports: readonly TriggerReport[];
}

/**
 * The configured tables, or else every table carrying our trigger (or calling our function),
 * resolved afresh; also refreshes the OID cache, so renamed tables are announced by their new name.
 * A configured table that has gone is skipped with a warning rather than failing the whole check.
 */
export async function discoverTables(ctx: BridgeContext): Promise<WatchedTables> {
  const { pool, config, triggerOptions, logger } = ctx;
  const tables: ResolvedTable[] = [];
  let reports: TriggerReport[];
  if (config.tables !== undefined) {
    for (const name of config.tables) {
      try {
        tables.push(await resolveTable(pool, name));
      } catch (error) {
        if (!(error instanceof PostgresError)) throw error;
        logger.warn({ component: 'tables', table: name, err: error }, 'configured table not found');
      }
    }
    reports =
      tables.length === 0
        ? []
        : await checkTriggers(pool, { ...triggerOptions, tables: tables.map((t) => t.sql) });
  } else {
    reports = await checkTriggers(pool, triggerOptions);
    // A table whose trigger was dropped no longer shows up in the check above, yet it is exactly
    // the one whose changes nobody announces: keep watching every table this bridge has watched,
    // so the drift check still covers it and the report says `missing`.
    const found = new Set(reports.map((report) => report.oid));
    const lost = ctx.tables.watchedOids().filter((oid) => !found.has(oid));
    for (const oid of [...found, ...lost]) {
      try {
        tables.push(await resolveTableOid(pool, oid));
      } catch (error) {
        // Dropped meanwhile: it has nothing left to announce.
        if (!(error instanceof PostgresError)) throw error;
      }
    }
    const lostTables = tables.filter((table) => !found.has(table.oid));
    if (lostTables.length > 0) {
      reports = [
        ...reports,
        ...(await checkTriggers(pool, { ...triggerOptions, tables: lostTables.map((t) => t.sql) })),
      ];
    }
  }
  ctx.tables.setWatched(tables);
  return { tables, reports };
}

/** The `tables` field of the status hash: the trigger check, one entry per table. */
export function tablesStatus(
  reports: readonly { readonly table: string; readonly state: string; readonly ok: boolean }[],
): string {
  return JSON.stringify(reports.map(({ table, state, ok }) => ({ table, state, ok })));
}
