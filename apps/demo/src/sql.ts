// The driver's own database actions: committing changes, finding an app's LISTEN session,
// counting the sessions the apps and bridges hold.
import { quoteIdent } from '@pg-static-cache/postgres';
import type pg from 'pg';
import { preciseNow } from './app-events.ts';
import { pollUntil } from './waiting.ts';

/** Runs statements in one transaction with the demo schema on the search_path; resolves with the time COMMIT (or ROLLBACK) returned. */
export async function transaction(
  db: pg.Pool,
  schema: string,
  statements: readonly string[],
  end: 'COMMIT' | 'ROLLBACK' = 'COMMIT',
): Promise<number> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL search_path TO ${quoteIdent(schema)}`);
    for (const statement of statements) await client.query(statement);
    await client.query(end);
    return preciseNow();
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * The backend pid of the LISTEN session of the app whose `application_name` is `name`. Its last
 * statement is its LISTEN or, later, its heartbeat `pg_notify`; the app's pool sessions only ever
 * SELECT from tables and the catalog. Polls until exactly one is found, as a reconnecting app may
 * briefly have none.
 */
export async function findListenBackend(
  db: pg.Pool,
  role: string,
  name: string,
  timeoutMs: number,
): Promise<number> {
  let found = 0;
  return pollUntil(
    () => `single LISTEN session of ${name} (found ${found})`,
    async () => {
      const result = await db.query<{ pid: number }>(
        `SELECT pid FROM pg_catalog.pg_stat_activity
         WHERE usename = $1 AND application_name = $2
           AND (query LIKE 'LISTEN %' OR query LIKE 'SELECT pg_notify(%')`,
        [role, name],
      );
      found = result.rows.length;
      return found === 1 ? result.rows[0]?.pid : undefined;
    },
    timeoutMs,
  );
}

/** Open Postgres sessions of the apps, of the bridges, and of the bridges' reload workers. */
export interface SessionCount {
  readonly apps: number;
  readonly bridges: number;
  readonly workers: number;
}

/**
 * Counts the sessions in pg_stat_activity of the apps (by their role) and of the bridges and
 * their workers (by the bridge role and each one's application_name), so other clients of the
 * same server do not count.
 */
export async function countSessions(
  db: pg.Pool,
  appRole: string,
  bridgeRole: string,
  applicationNames: { readonly bridges: string; readonly workers: string },
): Promise<SessionCount> {
  const result = await db.query<SessionCount>(
    `SELECT count(*) FILTER (WHERE usename = $1)::int AS apps,
            count(*) FILTER (WHERE usename = $2 AND application_name = $3)::int AS bridges,
            count(*) FILTER (WHERE usename = $2 AND application_name = $4)::int AS workers
     FROM pg_catalog.pg_stat_activity`,
    [appRole, bridgeRole, applicationNames.bridges, applicationNames.workers],
  );
  const row = result.rows[0];
  return { apps: row?.apps ?? 0, bridges: row?.bridges ?? 0, workers: row?.workers ?? 0 };
}
