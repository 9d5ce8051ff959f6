// The final word on each app: ask what its caches serve and compare with the database.
import type pg from 'pg';
import type { CacheState } from './app-events.ts';
import type { AppProcess } from './app-process-handle.ts';
import { DEMO_TABLES, tableDigests, type DemoTable } from './schema.ts';

/** What one app serves at the end, and whether all of it equals the database. */
export interface Verdict {
  readonly app: AppProcess;
  readonly tables: Readonly<Partial<Record<DemoTable, CacheState>>>;
  readonly converged: boolean;
  /** Why not, when not converged. */
  readonly problem: string | undefined;
}

/**
 * Asks every app for its caches' state until each serves the database's digests with status
 * `fresh`; a reload still in flight gets until the deadline (asked again after each app line).
 */
export async function verifyApps(
  apps: readonly AppProcess[],
  db: pg.Pool,
  schema: string,
  timeoutMs: number,
): Promise<Verdict[]> {
  const expected = await tableDigests(db, schema);
  const problemOf = (tables: Readonly<Record<string, CacheState>>): string | undefined => {
    for (const table of DEMO_TABLES) {
      const state = tables[table];
      if (state === undefined) return `${table}: no cache`;
      if (state.digest !== expected[table].digest)
        return `${table}: digest differs from the database`;
      if (state.status !== 'fresh') return `${table}: status ${state.status}`;
    }
    return undefined;
  };
  const ask = async (app: AppProcess, timeout: number): Promise<Verdict> => {
    try {
      const { tables } = await app.state(timeout);
      const problem = problemOf(tables);
      return { app, tables, converged: problem === undefined, problem };
    } catch (error) {
      const problem = error instanceof Error ? error.message : String(error);
      return { app, tables: {}, converged: false, problem };
    }
  };
  return Promise.all(
    apps.map(async (app): Promise<Verdict> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const verdict = await ask(app, Math.max(1, deadline - Date.now()));
        if (verdict.converged || app.exited !== undefined || Date.now() >= deadline) return verdict;
        // Not there yet: a reload may be running. Ask again after the app's next line.
        const mark = app.lines.length;
        await app
          .waitFor('another line', () => app.lines.length > mark, deadline - Date.now())
          .catch(() => undefined);
        if (Date.now() >= deadline) return verdict;
      }
    }),
  );
}
