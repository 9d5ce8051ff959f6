import { backoffDelay } from '@pg-static-cache/postgres';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

/**
 * A Redis connection for the bridge: connects when asked (so startup can fail fast on a bad URL),
 * retries forever with capped, jittered backoff afterwards, and fails a command after one
 * reconnect rather than queueing it for long: a late lease renewal or heartbeat is worse than a
 * missing one, and a lost publish shows up to clients as a seq gap, which they answer with a resync.
 */
export function createRedis(url: string, role: 'commands' | 'control', logger: Logger): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectionName: `psc-bridge-${role}`,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
    retryStrategy: (times) => backoffDelay(times - 1, { baseMs: 100, capMs: 2_000 }),
  });
  const log = logger.child({ component: 'redis', connection: role });
  let failing = false;
  // One line per outage, not one per reconnect attempt.
  redis.on('error', (error) => {
    if (!failing) log.warn({ err: error }, 'Redis connection error; reconnecting');
    failing = true;
  });
  redis.on('ready', () => {
    if (failing) log.info('Redis connection ready again');
    failing = false;
  });
  return redis;
}
