import { backoffDelay, FailureStreak } from '@pg-static-cache/postgres';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** What a connection is for; it names the connection in CLIENT LIST and in logs. */
export type RedisRole = 'commands' | 'control' | 'queue' | 'worker' | 'region';

/** What only some connections need. */
export interface RedisConnectionOptions {
  /**
   * Fail a command that has no answer after this long. A region's Redis that hangs must fail its
   * publishes (its messages are then owed a resync) rather than hold them for ever. @default none
   */
  readonly commandTimeoutMs?: number;
}

/**
 * A Redis connection for the bridge: connects when asked (so startup can fail fast on a bad URL),
 * retries forever with capped, jittered backoff afterwards, and fails a command after one
 * reconnect rather than queueing it for long: a late lease renewal or heartbeat is worse than a
 * missing one, and a lost publish shows up to clients as a seq gap, which they answer with a resync.
 * The `worker` role is BullMQ's, which needs commands to wait for Redis however long it takes.
 */
export function createRedis(
  url: string,
  role: RedisRole,
  logger: Logger,
  options: RedisConnectionOptions = {},
): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectionName: `psc-bridge-${role}`,
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    connectTimeout: 5_000,
    ...(options.commandTimeoutMs === undefined ? {} : { commandTimeout: options.commandTimeoutMs }),
    retryStrategy: (times) => backoffDelay(times - 1, { baseMs: 100, capMs: 2_000 }),
  });
  const log = logger.child({ component: 'redis', connection: role });
  // One line per outage, not one per reconnect attempt.
  const outage = new FailureStreak<Error>({
    started: (error) => log.warn({ err: error }, 'Redis connection error; reconnecting'),
    ended: () => log.info('Redis connection ready again'),
  });
  redis.on('error', (error) => outage.fail(error));
  redis.on('ready', () => outage.succeed());
  return redis;
}
