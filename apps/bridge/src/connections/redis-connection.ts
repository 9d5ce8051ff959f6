import { backoffDelay, FailureStreak } from '@pg-static-cache/postgres';
import { namesFor, parseRedisUrl, type Names } from '@pg-static-cache/protocol';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

/** A connection to one Redis server or to a Redis Cluster; the commands the bridge uses are the same. */
export type RedisClient = Redis | Cluster;

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

/** The names of `namespace` in the Redis at `url`: hash-tagged when it is a cluster. */
export function namesOn(url: string, namespace: string): Names {
  return namesFor(namespace, parseRedisUrl(url).layout);
}

const retryStrategy = (times: number): number =>
  backoffDelay(times - 1, { baseMs: 100, capMs: 2_000 });

/**
 * A Redis connection for the bridge: connects when asked (so startup can fail fast on a bad URL),
 * retries forever with capped, jittered backoff afterwards, and fails a command after one
 * reconnect rather than queueing it for long: a late lease renewal or heartbeat is worse than a
 * missing one, and a lost publish shows up to clients as a seq gap, which they answer with a resync.
 * The `worker` role is BullMQ's, which needs commands to wait for Redis however long it takes.
 * A `redis-cluster://` URL gives a cluster connection whose subscriptions are sharded (SSUBSCRIBE).
 */
export function createRedis(
  url: string,
  role: RedisRole,
  logger: Logger,
  options: RedisConnectionOptions = {},
): RedisClient {
  const settings = {
    lazyConnect: true,
    connectionName: `psc-bridge-${role}`,
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    connectTimeout: 5_000,
    ...(options.commandTimeoutMs === undefined ? {} : { commandTimeout: options.commandTimeoutMs }),
  } as const satisfies RedisOptions;
  const endpoint = parseRedisUrl(url);
  const redis =
    endpoint.layout === 'single'
      ? new Redis(url, { ...settings, retryStrategy })
      : new Cluster([...endpoint.nodes], {
          lazyConnect: true,
          clusterRetryStrategy: retryStrategy,
          // No clusterNodeRetryStrategy: a node that died must be dropped, not redialled, so
          // that the next command refreshes the slots and finds the replica promoted in its place
          // (redialled, every command to its slots failed until the test's timeout).
          shardedSubscribers: role === 'control',
          redisOptions: { ...settings, ...endpoint.nodeOptions },
        });
  const log = logger.child({ component: 'redis', connection: role });
  // One line per outage, not one per reconnect attempt.
  const outage = new FailureStreak<Error>({
    started: (error) => log.warn({ err: error }, 'Redis connection error; reconnecting'),
    ended: () => log.info('Redis connection ready again'),
  });
  redis.on('error', (error: Error) => outage.fail(error));
  redis.on('ready', () => outage.succeed());
  return redis;
}

/** PUBLISH, or SPUBLISH in a cluster (sharded pub/sub: the message goes to one shard, not all). */
export function publish(
  redis: RedisClient,
  names: Names,
  channel: string,
  text: string,
): Promise<unknown> {
  return names.layout === 'cluster' ? redis.spublish(channel, text) : redis.publish(channel, text);
}

/**
 * SUBSCRIBEs (SSUBSCRIBE in a cluster) `redis` to `channel` and hands each of its messages to
 * `onMessage`; resolves once Redis acknowledged it.
 */
export async function subscribe(
  redis: RedisClient,
  names: Names,
  channel: string,
  onMessage: (text: string) => void,
): Promise<void> {
  const sharded = names.layout === 'cluster';
  redis.on(sharded ? 'smessage' : 'message', (from: string, text: string) => {
    if (from === channel) onMessage(text);
  });
  await (sharded ? redis.ssubscribe(channel) : redis.subscribe(channel));
}
