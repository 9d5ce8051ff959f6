import type { RedisClient } from './redis-connection.ts';
import type pg from 'pg';
import { BridgeError, toError } from '../errors.ts';

/** Connects every Redis connection; rejects with BridgeError START_FAILED naming the cause. */
export async function connectRedis(...connections: RedisClient[]): Promise<void> {
  // ioredis rejects connect() with a bare "Connection is closed."; the cause is in its error event.
  let redisError: Error | undefined;
  const [first] = connections;
  first?.once('error', (error: Error) => (redisError ??= error));
  await Promise.all(connections.map((redis): Promise<unknown> => redis.connect())).catch(
    (error: unknown) => {
      const cause = redisError ?? toError(error);
      throw new BridgeError('START_FAILED', `cannot reach Redis: ${cause.message}`, { cause });
    },
  );
}

/** One round trip to Postgres; rejects with BridgeError START_FAILED naming the cause. */
export async function checkPostgres(pool: pg.Pool): Promise<void> {
  await pool.query('SELECT 1').catch((error: unknown) => {
    const cause = toError(error);
    throw new BridgeError('START_FAILED', `cannot reach Postgres: ${cause.message}`, { cause });
  });
}
