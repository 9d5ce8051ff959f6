// The soak's verdict after each quiet period: every app's newest version of every table has the
// digest the database gives, and every app says `ready`. Re-checked on each line an app prints, so
// the moment of convergence is when the last line it needed arrived, not when a poll noticed.
import type pg from 'pg';
import { tableDigest, waitFor } from '../support/index.ts';
import type { SoakTable } from './soak-tables.ts';
import type { WatchApp } from './watch-app.ts';

/** Digest per table (by its `watch` name). */
export type Digests = ReadonlyMap<string, string>;

/** Each table's digest as the database holds it now; retried while Postgres is coming back. */
export async function databaseDigests(
  db: pg.Pool,
  tables: readonly SoakTable[],
  timeoutMs: number,
): Promise<Digests> {
  const digests = new Map<string, string>();
  let lastError = '';
  await waitFor(
    'the database to answer',
    async () => {
      try {
        for (const table of tables) digests.set(table.display, await tableDigest(db, table.sql));
        return true;
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
        return false;
      }
    },
    timeoutMs,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)} (last error: ${lastError})`);
  });
  return digests;
}

/** What still differs, and when the newest line that counts arrived. */
function compare(
  apps: readonly WatchApp[],
  expected: Digests,
): { differences: string[]; lastArrival: number } {
  const differences: string[] = [];
  let lastArrival = 0;
  for (const app of apps) {
    const status = app.status();
    if (status?.value !== 'ready')
      differences.push(`${app.mode} app is ${status?.value ?? 'silent'}`);
    lastArrival = Math.max(lastArrival, status?.at ?? 0);
    for (const [table, digest] of expected) {
      const latest = app.latest(table);
      lastArrival = Math.max(lastArrival, latest?.at ?? 0);
      if (latest?.value.digest !== digest) {
        const held = latest === undefined ? 'nothing' : `version ${latest.value.version}`;
        differences.push(`${app.mode} app holds ${held} of ${table}, not the database's rows`);
      }
    }
  }
  return { differences, lastArrival };
}

/**
 * Resolves with the moment (performance.now()) from which every app held `expected` and was
 * `ready`; rejects at the deadline saying what differs, or at once when an app broke its output
 * contract or exited.
 */
export function waitEqualToDatabase(
  apps: readonly WatchApp[],
  expected: Digests,
  timeoutMs: number,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const unsubscribes: (() => void)[] = [];
    const finish = (): void => {
      clearTimeout(timer);
      for (const unsubscribe of unsubscribes) unsubscribe();
    };
    const check = (): void => {
      const broken = apps.flatMap((app) => app.problems().map((p) => `${app.mode} app: ${p}`));
      if (broken.length > 0) {
        finish();
        reject(new Error(broken.join('; ')));
        return;
      }
      const { differences, lastArrival } = compare(apps, expected);
      if (differences.length === 0) {
        finish();
        resolve(lastArrival);
      }
    };
    const timer = setTimeout(() => {
      finish();
      const { differences } = compare(apps, expected);
      reject(
        new Error(`not equal to the database within ${timeoutMs} ms: ${differences.join('; ')}`),
      );
    }, timeoutMs);
    for (const app of apps) unsubscribes.push(app.onChange(check));
    check();
  });
}
