// The steps that count what a change costs the database and what a big table costs a process:
// table queries per change for a fleet in each mode, and the 100,000-row table. A failure of
// either is reported in its place without losing the other results.
import type pg from 'pg';
import {
  BIG_TABLE,
  createBigTable,
  dropBigTable,
  measureBigTable,
  type BigTableOutcome,
  type BigTableResult,
} from './big-table.ts';
import type { BenchConfig } from './config.ts';
import { LocalTable } from './local-table.ts';
import { measureQueries, type QueriesOutcome } from './queries.ts';
import { ms } from './stats.ts';
import { OURS, SEQUEL, SNAPSHOT, watchCommand } from './systems.ts';
import type { BenchUrls } from './workload.ts';

/** What both steps need from the run. */
export interface StepContext {
  readonly config: BenchConfig;
  readonly urls: BenchUrls;
  /** The driver's copy of the bench table, which every change goes through. */
  readonly local: LocalTable;
  readonly nextSeq: () => number;
  readonly log: (line: string) => void;
}

/** Logs why `step` was not measured and returns it as the step's outcome. */
export function failed(
  step: string,
  error: unknown,
  log: (line: string) => void,
): { error: string } {
  const message = error instanceof Error ? error.message : String(error);
  log(`${step}: not measured: ${message}`);
  return { error: message };
}

/** Table queries and DB time per change, 20 processes per mode; undefined when skipped. */
export async function queriesStep(
  db: pg.Client,
  { config, urls, local, nextSeq, log }: StepContext,
): Promise<QueriesOutcome | undefined> {
  if (config.skipQueries) return undefined;
  const processes = config.connectionProcesses;
  log(`queries: ${processes} processes per mode, ${config.queryChanges} changes each`);
  try {
    const modes = await measureQueries(
      db,
      urls,
      { processes, changes: config.queryChanges, table: 'bench_items', local, nextSeq },
      log,
    );
    return { modes };
  } catch (error) {
    return failed('queries', error, log);
  }
}

/** Reload time and memory on the 100,000-row table per system; undefined when skipped. */
export async function bigTableStep(
  db: pg.Client,
  { config, urls, nextSeq, log }: StepContext,
): Promise<BigTableOutcome | undefined> {
  if (config.skipBig) return undefined;
  // --events: each version's `applied` line, said before watch computes the digest it prints.
  const systems = [
    watchCommand(OURS.system, 'direct', ['--events']),
    ...(config.skipSnapshot ? [] : [watchCommand(SNAPSHOT.system, 'snapshot', ['--events'])]),
    ...(config.skipSequel ? [] : [SEQUEL]),
  ];
  log(`big table: creating 100,000 rows`);
  try {
    await createBigTable(db);
    const local = await LocalTable.load(db, BIG_TABLE);
    const results: BigTableResult[] = [];
    for (const system of systems) {
      const result = await measureBigTable(db, system, urls, {
        updates: config.bigUpdates,
        local,
        nextSeq,
      });
      log(
        `big table ${result.system}: reload ${ms(result.reloadMs)} ms, RSS ${result.rssAfterReloadsMiB.toFixed(0)} MiB`,
      );
      results.push(result);
    }
    return { results };
  } catch (error) {
    return failed('big table', error, log);
  } finally {
    await dropBigTable(db).catch(() => undefined);
  }
}
