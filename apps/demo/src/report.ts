// The closing table: per app process, versions served, commit→reload latency, and the verdict.
import type { AppMode } from './app-events.ts';
import { formatMs, type Narrator } from './narrator.ts';
import type { StepResult } from './scenario.ts';
import { DEMO_TABLES } from './schema.ts';
import type { Verdict } from './verify.ts';

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

/** Lays out rows under a header with every column as wide as its widest cell. */
export function formatTable(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

const ms = (value: number): string => (Number.isNaN(value) ? '-' : formatMs(value));

/** Prints one line per app process; the last column says `converged: …` or `NOT converged: …`. */
export function printReport(
  log: Narrator,
  verdicts: readonly Verdict[],
  steps: readonly StepResult[],
): void {
  const header = ['process', 'pid', ...DEMO_TABLES, 'p50', 'max', 'result'];
  const rows = verdicts.map((verdict) => {
    const { app } = verdict;
    const latencies = steps.flatMap((step) => {
      const value = step.latencies.get(app.name);
      return value === undefined ? [] : [value];
    });
    const versions = DEMO_TABLES.map((table) => {
      const version = verdict.tables[table]?.version ?? app.served(table)?.version;
      return version === undefined ? '-' : `v${version}`;
    });
    const result = verdict.converged
      ? 'converged: digest matches the database'
      : `NOT converged: ${verdict.problem ?? 'unknown'}`;
    return [
      app.name,
      String(app.pid ?? '-'),
      ...versions,
      ms(percentile(latencies, 50)),
      ms(percentile(latencies, 100)),
      result,
    ];
  });
  log.plain('');
  log.plain(`commit→reload latency over ${steps.length} steps, versions served at the end:`);
  for (const line of formatTable([header, ...rows])) log.plain(`  ${line}`);
  log.plain(
    '  (latency: app swapped the rows − COMMIT returned to the driver, both performance.timeOrigin + now;',
  );
  const timedOtherwise = steps.flatMap((step) =>
    step.from === undefined ? [] : [`${step.title} from ${step.from}`],
  );
  const last =
    "   a value just below 0 means the app reloaded before the driver's event loop read COMMIT's reply";
  if (timedOtherwise.length === 0) {
    log.plain(`${last})`);
  } else {
    log.plain(`${last};`);
    log.plain(`   timed from another moment: ${timedOtherwise.join(', ')})`);
  }
  log.plain('');
}

const total = (steps: readonly StepResult[], pick: (step: StepResult) => number): number =>
  steps.reduce((sum, step) => sum + pick(step), 0);

/** A ratio for people: `1`, `3`, `1.3`. */
const ratio = (value: number): string => String(Number(value.toFixed(1)));

/**
 * The closing lines on table queries: per table change over the steps that were one commit
 * without a resync (each change is worth one snapshot, or one query per app), then over all steps,
 * then what the other modes need.
 */
export function printQueries(
  log: Narrator,
  steps: readonly StepResult[],
  mode: AppMode,
  apps: number,
): void {
  const counted = steps.filter((step) => step.queries !== undefined);
  const single = counted.filter((step) => (step.changes ?? 0) > 0);
  const worker = (list: readonly StepResult[]) => total(list, (s) => s.queries?.worker ?? 0);
  const byApps = (list: readonly StepResult[]) => total(list, (s) => s.queries?.apps ?? 0);
  const changes = total(single, (s) => s.changes ?? 0);
  if (changes === 0) return;
  const perChange = ratio((worker(single) + byApps(single)) / changes);
  const uncounted = steps.length - counted.length;
  const who = (list: readonly StepResult[]): string =>
    mode === 'snapshot'
      ? `${worker(list)} by the workers + ${byApps(list)} by the apps`
      : `${byApps(list)} by the apps`;
  log.plain(
    'table queries Postgres ran for the caches (pg_stat_statements; attempts that failed are not counted):',
  );
  log.plain(
    `  ${single.length} steps of one commit each changed ${changes} tables: ${who(single)} = ${perChange} per change`,
  );
  log.plain(
    `  all ${counted.length} steps${uncounted > 0 ? ` (${uncounted} not counted)` : ''}: ${who(counted)}`,
  );
  const others =
    mode === 'snapshot'
      ? `redis and direct mode need one per app per change (${apps} here, 300 for 300 apps)`
      : 'snapshot mode needs ≈ 1 (one worker query per change, however many apps)';
  log.plain(
    `  queries per change: ${mode} mode ≈ ${perChange} per change for ${apps} apps; ${others}`,
  );
  log.plain('');
}
