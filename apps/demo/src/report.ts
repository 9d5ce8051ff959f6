// The closing report: per app, the versions it serves and whether they equal the database, its
// commit→reload latencies; the table queries Postgres ran per change; the sessions everyone holds.
import type pg from 'pg';
import type { App } from './apps.ts';
import type { Mode } from './config.ts';
import { formatMs, type Narrator } from './narrator.ts';
import type { StepResult } from './scenario.ts';
import { DEMO_TABLES, type TableDigest } from './schema.ts';

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1] ?? Number.NaN;
}

/** Lays out rows with every column as wide as its widest cell. */
export function formatTable(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}

/** Why `app` does not serve exactly `expected` right now, or undefined when it does. */
export function problemOf(
  app: App,
  expected: Readonly<Record<string, TableDigest>>,
): string | undefined {
  for (const table of DEMO_TABLES) {
    const served = app.served(table);
    if (served?.digest !== expected[table]?.digest)
      return `${table}: digest differs from the database`;
  }
  const status = app.events().findLast((e) => e.event === 'status')?.status;
  return status === 'ready' ? undefined : `status ${status ?? 'unknown'}`;
}

/** Prints one line per app; the last column says `converged: …` or `NOT converged: …`. */
export function printReport(
  log: Narrator,
  apps: readonly App[],
  problems: readonly (string | undefined)[],
  steps: readonly StepResult[],
): void {
  const ms = (value: number): string => (Number.isNaN(value) ? '-' : formatMs(value));
  const rows = apps.map((app, i) => {
    const latencies = steps.flatMap((step) => step.latencies.get(app.name) ?? []);
    const problem = problems[i];
    return [
      app.name,
      String(app.pid ?? '-'),
      ...DEMO_TABLES.map((t) => `v${app.served(t)?.version ?? '-'}`),
      ms(percentile(latencies, 50)),
      ms(percentile(latencies, 100)),
      problem === undefined
        ? 'converged: digest matches the database'
        : `NOT converged: ${problem}`,
    ];
  });
  const header = ['app', 'pid', ...DEMO_TABLES, 'p50', 'max', 'result'];
  log.plain('');
  log.plain(`commit→reload latency over ${steps.length} steps, versions served at the end:`);
  for (const line of formatTable([header, ...rows])) log.plain(`  ${line}`);
  const other = steps.flatMap((step) =>
    step.from === undefined ? [] : [`${step.title} from ${step.from}`],
  );
  log.plain(
    "  (latency: the app's line read by the demo − COMMIT returned; just below 0 when the line was",
  );
  log.plain(`   read before COMMIT's reply${other.length > 0 ? `; ${other.join(', ')}` : ''})`);
  log.plain('');
}

/**
 * Table queries per table change over the steps of one commit without a resync (each change is
 * worth one snapshot, or one query per app), then over all steps, then what the other modes need.
 */
export function printQueries(
  log: Narrator,
  steps: readonly StepResult[],
  mode: Mode,
  apps: number,
): void {
  const sum = (list: readonly StepResult[], pick: (s: StepResult) => number): number =>
    list.reduce((total, step) => total + pick(step), 0);
  const counted = steps.filter((step) => step.queries !== undefined);
  const single = counted.filter((step) => (step.changes ?? 0) > 0);
  const changes = sum(single, (s) => s.changes ?? 0);
  if (changes === 0) return;
  const who = (list: readonly StepResult[]): string => {
    const apps = `${sum(list, (s) => s.queries?.apps ?? 0)} by the apps`;
    return mode === 'snapshot'
      ? `${sum(list, (s) => s.queries?.worker ?? 0)} by the workers + ${apps}`
      : apps;
  };
  const all = sum(single, (s) => (s.queries?.worker ?? 0) + (s.queries?.apps ?? 0));
  const perChange = String(Number((all / changes).toFixed(1)));
  const others =
    mode === 'snapshot'
      ? `redis and direct mode need one per app per change (${apps} here, 300 for 300 apps)`
      : 'snapshot mode needs ≈ 1 (one worker query per change, however many apps)';
  log.plain('table queries Postgres ran for the caches (pg_stat_statements):');
  log.plain(
    `  ${single.length} steps of one commit each changed ${changes} tables: ${who(single)} = ${perChange} per change`,
  );
  log.plain(`  all ${counted.length} steps: ${who(counted)}`);
  log.plain(
    `  queries per change: ${mode} mode ≈ ${perChange} per change for ${apps} apps; ${others}`,
  );
  log.plain('');
}

/** Prints how many Postgres sessions the apps (and bridges) hold, and what direct mode would need. */
export async function printSessions(
  db: pg.Pool,
  roles: { readonly apps: string; readonly bridges: string },
  mode: Mode,
  apps: number,
  log: Narrator,
): Promise<void> {
  const result = await db.query<{ apps: number; bridges: number }>(
    `SELECT count(*) FILTER (WHERE usename = $1)::int AS apps,
            count(*) FILTER (WHERE usename = $2)::int AS bridges
     FROM pg_catalog.pg_stat_activity`,
    [roles.apps, roles.bridges],
  );
  const count = result.rows[0] ?? { apps: 0, bridges: 0 };
  if (mode === 'direct') {
    log.line(
      `Postgres connections: ${count.apps} for ${apps} apps in direct mode (each app: a LISTEN session + its pool)`,
    );
    return;
  }
  log.line(
    `Postgres connections: ${count.apps + count.bridges} for ${apps} apps in ${mode} mode + 2 bridges (apps ${count.apps}: pools, no LISTEN; bridges ${count.bridges}: 1 LISTEN session for all apps, the rest pools${mode === 'snapshot' ? ' and reload workers' : ''})`,
  );
  log.detail(
    `direct mode would add 1 LISTEN session per app: 300 at 300 apps, where the bridges' ${count.bridges} stay ${count.bridges}`,
  );
}
