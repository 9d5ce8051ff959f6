import { once } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';

/** How an app hands Redis to a subscriber: a URL, ioredis options, or its own instance. */
export type RedisOption = string | RedisOptions | Redis;

const CLOSE_TIMEOUT_MS = 2_000;

/** Our settings for a connection; the reply mapping is pinned so the app's choice cannot matter. */
export type OurRedisOptions = RedisOptions & { replyMapping: 'legacy' };

/**
 * A connection of our own built from the app's option, with `ours` winning over the app's
 * settings. The app's instance is duplicated, never used or closed by us.
 */
export function redisConnection(redis: RedisOption, ours: OurRedisOptions): Redis {
  if (redis instanceof Redis) return redis.duplicate(ours);
  return typeof redis === 'string' ? new Redis(redis, ours) : new Redis({ ...redis, ...ours });
}

/** Disconnects and waits (bounded) for the socket to close, so no handle outlives its owner. */
export async function closeRedis(redis: Redis): Promise<void> {
  // While waiting to reconnect there is no socket, so no `end` would come: disconnect() just
  // cancels the timer. Otherwise wait for the socket to close.
  const ended = redis.status === 'end' || redis.status === 'reconnecting';
  const end = ended ? Promise.resolve() : once(redis, 'end');
  redis.disconnect();
  // Bounded all the same: close() must never hang on a socket that refuses to say goodbye.
  let timer: NodeJS.Timeout | undefined;
  const giveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)));
  await Promise.race([end, giveUp]).finally(() => clearTimeout(timer));
}
