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

/** When every app held the database's rows, and which one got there last. */
export interface Convergence {
  /** performance.now() of the last line needed. */
  readonly at: number;
  /** What that line was, e.g. `snapshot app: alpha` or `redis app: ready`. */
  readonly last: string;
}

/** What still differs, and the newest line that counts. */
function compare(
  apps: readonly WatchApp[],
  expected: Digests,
): { differences: string[]; newest: Convergence } {
  const differences: string[] = [];
  let newest: Convergence = { at: 0, last: '' };
  const consider = (at: number | undefined, what: string) => {
    if (at !== undefined && at > newest.at) newest = { at, last: what };
  };
  for (const app of apps) {
    const status = app.status();
    if (status?.value !== 'ready')
      differences.push(`${app.mode} app is ${status?.value ?? 'silent'}`);
    consider(status?.at, `${app.mode} app: ${status?.value ?? ''}`);
    for (const [table, digest] of expected) {
      const latest = app.latest(table);
      consider(latest?.at, `${app.mode} app: ${table}`);
      if (latest?.value.digest !== digest) {
        const held = latest === undefined ? 'nothing' : `version ${latest.value.version}`;
        differences.push(`${app.mode} app holds ${held} of ${table}, not the database's rows`);
      }
    }
  }
  return { differences, newest };
}

/**
 * Resolves with the moment from which every app held `expected` and was `ready`; rejects at the deadline saying what differs, or at once when an app broke its output
 * contract or exited.
 */
export function waitEqualToDatabase(
  apps: readonly WatchApp[],
  expected: Digests,
  timeoutMs: number,
): Promise<Convergence> {
  return new Promise<Convergence>((resolve, reject) => {
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
      const { differences, newest } = compare(apps, expected);
      if (differences.length === 0) {
        finish();
        resolve(newest);
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
