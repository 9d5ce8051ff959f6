// The closing table: per app process, versions served, commit→reload latency, and the verdict.
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
