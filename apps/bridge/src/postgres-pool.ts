import pg from 'pg';
import type { Logger } from 'pino';
import type { BridgeConfig } from './config.ts';

/** A pool of `max` sessions on the configured database, named `name` in pg_stat_activity. */
export function createPool(
  config: BridgeConfig,
  max: number,
  logger: Logger,
  name: string = config.applicationName,
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.databaseUrl,
    application_name: name,
    max,
    keepAlive: true,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection must not crash the process; the next checkout reconnects.
  pool.on('error', (error) =>
    logger.warn({ component: 'postgres', err: error }, 'idle connection lost'),
  );
  return pool;
}
