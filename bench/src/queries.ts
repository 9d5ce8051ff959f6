// Table queries and their database time per change for a fleet of processes in each of our modes:
// N processes hold the bench table, then single-row changes go one at a time, each waiting until
// every process reports the new row; pg_stat_statements counts the table's `SELECT * FROM` before
// and after (the subscribers' reloads, Sequel's and the reload worker's are all that statement).
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { BridgeProcess } from './bridge-process.ts';
import { startFleet } from './fleet.ts';
import { timeUpdateEverywhere } from './latency.ts';
import type { LocalTable } from './local-table.ts';
import type { SubscriberProcess } from './subscriber-process.ts';
import { BRIDGED, OURS, SNAPSHOT, type SubscriberCommand } from './systems.ts';
import { BENCH_DATABASE, BENCH_TABLE, type BenchUrls } from './workload.ts';

/** A change's reloads are all reported; a bridge's worker may still be storing its snapshot. */
const SETTLE_MS = 1_000;
/** How long every process together may take to report one change. */
const CHANGE_DEADLINE_MS = 30_000;

/** One mode's table queries per change. */
export interface ModeQueries {
  readonly system: string;
  readonly processes: number;
  readonly changes: number;
  readonly queries: number;
  /** Sum of pg_stat_statements' total_exec_time of those queries. */
  readonly execMs: number;
  readonly queriesPerChange: number;
  readonly execMsPerChange: number;
}

/** What the query count measured, or why it could not. */
export type QueriesOutcome =
  { readonly modes: readonly ModeQueries[] } | { readonly error: string };

interface Totals {
  readonly calls: number;
  readonly ms: number;
}

/** Makes sure pg_stat_statements can be read in the bench database (the cluster preloads it). */
export async function enableStatements(db: pg.Client): Promise<void> {
  await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
}

async function tableQueries(db: pg.Client, table: string): Promise<Totals> {
  const result = await db.query<{ calls: string; ms: number }>(
    `SELECT coalesce(sum(s.calls), 0)::text AS calls, coalesce(sum(s.total_exec_time), 0)::float8 AS ms
       FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname = $1 AND s.query LIKE 'SELECT * FROM %' AND s.query LIKE $2`,
    [BENCH_DATABASE, `%${table}%`],
  );
  const row = result.rows[0];
  return { calls: Number(row?.calls ?? 0), ms: row?.ms ?? 0 };
}

async function measureMode(
  db: pg.Client,
  command: SubscriberCommand,
  urls: BenchUrls,
  options: QueryOptions,
): Promise<ModeQueries> {
  const subscribers: SubscriberProcess[] = [];
  let bridge: BridgeProcess | undefined;
  try {
    if (command.bridged === true) bridge = await BridgeProcess.start(urls);
    // Not gated: the measurement starts once all have loaded (and snapshot mode loads from Redis).
    const members = [
      { command, count: options.processes, options: { ...urls, table: BENCH_TABLE } },
    ];
    await startFleet(members, subscribers);
    // The bridge's start-up resync (its worker's snapshots) is not a change's.
    await sleep(SETTLE_MS);
    const before = await tableQueries(db, options.table);
    for (let i = 0; i < options.changes; i += 1) {
      const change = await timeUpdateEverywhere(db, subscribers, {
        ...options,
        deadlineMs: CHANGE_DEADLINE_MS,
      });
      const late = subscribers.find((_, w) => change.arrived[w] === undefined);
      if (late !== undefined) {
        throw new Error(
          `${late.system}: change ${change.expected.token ?? '?'} not reported in time`,
        );
      }
    }
    await sleep(SETTLE_MS);
    const after = await tableQueries(db, options.table);
    const queries = after.calls - before.calls;
    const execMs = after.ms - before.ms;
    return {
      system: command.system,
      processes: options.processes,
      changes: options.changes,
      queries,
      execMs,
      queriesPerChange: queries / options.changes,
      execMsPerChange: execMs / options.changes,
    };
  } finally {
    await Promise.all(subscribers.map((s) => s.stop()));
    await bridge?.stop();
  }
}

/** Settings of the query count. */
export interface QueryOptions {
  readonly processes: number;
  readonly changes: number;
  /** The table's name as it appears in the statements (`bench_items`). */
  readonly table: string;
  /** The driver's copy of the bench table, which the changes go through. */
  readonly local: LocalTable;
  readonly nextSeq: () => number;
}

/** Direct, redis and snapshot mode in turn (each with its own fresh bridge where it needs one). */
export async function measureQueries(
  db: pg.Client,
  urls: BenchUrls,
  options: QueryOptions,
  log: (line: string) => void,
): Promise<ModeQueries[]> {
  await enableStatements(db);
  const modes: ModeQueries[] = [];
  for (const command of [OURS, BRIDGED, SNAPSHOT]) {
    const result = await measureMode(db, command, urls, options);
    log(
      `queries ${result.system}: ${result.queriesPerChange.toFixed(2)} queries and ${result.execMsPerChange.toFixed(2)} DB ms per change`,
    );
    modes.push(result);
  }
  return modes;
}
