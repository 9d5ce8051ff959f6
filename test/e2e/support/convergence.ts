// The one verdict every e2e scenario ends with: each app process reports, for each table, the
// digest the database gives now, and says its subscriber is `ready` (events flow, caches fresh).
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { tableDigest } from '../../support/index.ts';
import type { WatchProcess } from '../../support/watch-process.ts';

const POLL_MS = 20;

/** Why the apps have not converged yet, or undefined when they have. */
async function divergence(
  apps: readonly WatchProcess[],
  db: pg.Pool,
  tables: readonly string[],
): Promise<string | undefined> {
  const expected = new Map<string, string>();
  try {
    for (const table of tables) expected.set(table, await tableDigest(db, table));
  } catch (error) {
    // A restarting cluster: the next round asks again.
    return `the database did not answer: ${error instanceof Error ? error.message : String(error)}`;
  }
  const problems: string[] = [];
  apps.forEach((app, index) => {
    const status = app.lastStatus();
    if (status !== 'ready') problems.push(`app ${index} is ${status ?? 'silent'}`);
    for (const table of tables) {
      if (app.digestOf(table) !== expected.get(table))
        problems.push(`app ${index} ${table} differs`);
    }
  });
  return problems.length === 0 ? undefined : problems.join(', ');
}

/** The last lines each app printed, for a failure message. */
export function describeApps(apps: readonly WatchProcess[]): string {
  return apps
    .map((app, index) => {
      const recent = app.events.slice(-8).map((event) => JSON.stringify(event));
      recent.push(...app.invalid.slice(-3).map((text) => `unparsable: ${text.slice(0, 300)}`));
      const stderr = app.stderr.trim().split('\n').slice(-5).join('\n');
      return `--- app ${index} (pid ${app.pid}) ---\n${recent.join('\n')}\n${stderr}`;
    })
    .join('\n');
}

/**
 * Waits until every app holds, for every table, exactly what the database holds, and is `ready`.
 * The digests are read again on every round, so a late commit is waited for too. Rejects after
 * `timeoutMs` saying what still differs; `context` adds detail (bridge logs) to that message.
 */
export async function waitConverged(
  apps: readonly WatchProcess[],
  db: pg.Pool,
  tables: readonly string[],
  timeoutMs: number,
  context: () => string = () => '',
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const problem = await divergence(apps, db, tables);
    if (problem === undefined) return;
    if (performance.now() > deadline) {
      throw new Error(
        `not converged within ${timeoutMs} ms: ${problem}\n${describeApps(apps)}\n${context()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** The reasons of the reloads `app` reported from event `from` on. */
export function reloadReasons(app: WatchProcess, from = 0): string[] {
  return app.events.slice(from).flatMap((e) => (e.event === 'reload' ? [e.reason] : []));
}
