// The driver's own database actions: committing changes and finding an app's LISTEN session.
import { setTimeout as delay } from 'node:timers/promises';
import { quoteIdent } from '@pg-static-cache/postgres';
import type pg from 'pg';
import { preciseNow } from './app-events.ts';

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
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await db.query<{ pid: number }>(
      `SELECT pid FROM pg_catalog.pg_stat_activity
       WHERE usename = $1 AND application_name = $2
         AND (query LIKE 'LISTEN %' OR query LIKE 'SELECT pg_notify(%')`,
      [role, name],
    );
    const only = found.rows.length === 1 ? found.rows[0]?.pid : undefined;
    if (only !== undefined) return only;
    if (Date.now() > deadline) {
      throw new Error(`expected one LISTEN session of ${name}, found ${found.rows.length}`);
    }
    await delay(50);
  }
}
