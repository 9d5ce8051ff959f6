import { once } from 'node:events';
import {
  namesFor,
  parseRedisUrl,
  type ClusterNodeOptions,
  type Names,
} from '@pg-static-cache/protocol';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/**
 * How an app hands Redis to a subscriber: a URL (`redis://…`, or `redis-cluster://host:port,…` for
 * a Redis Cluster), ioredis options, or its own instance (a `Redis` or a `Cluster`).
 */
export type RedisOption = string | RedisOptions | Redis | Cluster;

/** A connection of ours: to one server, or to a cluster. */
export type RedisClient = Redis | Cluster;

const CLOSE_TIMEOUT_MS = 2_000;

/** Our settings for a connection; the reply mapping is pinned so the app's choice cannot matter. */
export type OurRedisOptions = RedisOptions & { replyMapping: 'legacy' };

type OurClusterOptions = ClusterOptions & {
  redisOptions: NonNullable<ClusterOptions['redisOptions']> & { replyMapping: 'legacy' };
};

/** What only a cluster connection needs. */
export interface ClusterSettings {
  /** Subscribes by SSUBSCRIBE, one subscriber connection per master. @default false */
  readonly sharded?: boolean;
}

// Any other string goes to ioredis as before (it also takes a socket path or `host:port`).
const CLUSTER_URL = /^rediss?-cluster:/i;

/** Whether `redis` names a cluster. A malformed cluster URL throws ProtocolError. */
function isCluster(redis: RedisOption): boolean {
  if (redis instanceof Cluster) return true;
  return (
    typeof redis === 'string' &&
    CLUSTER_URL.test(redis) &&
    parseRedisUrl(redis).layout === 'cluster'
  );
}

/** The names of `namespace` in the Redis `redis` names: hash-tagged in a cluster. */
export function namesIn(redis: RedisOption, namespace: string | undefined): Names {
  return namesFor(namespace, isCluster(redis) ? 'cluster' : 'single');
}

// A node connection's settings become the cluster's: retries, the offline queue and lazy connect
// are the cluster's own options there, and every node takes the URL's credentials.
function clusterOptions(
  ours: OurRedisOptions,
  settings: ClusterSettings,
  nodeOptions: ClusterNodeOptions = {},
): OurClusterOptions {
  const { retryStrategy, enableOfflineQueue, lazyConnect, ...node } = ours;
  return {
    ...(lazyConnect === undefined ? {} : { lazyConnect }),
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    // Not for single nodes (clusterNodeRetryStrategy): a node that died must be dropped so the
    // next command refreshes the slots and finds the replica promoted in its place.
    ...(retryStrategy === undefined ? {} : { clusterRetryStrategy: retryStrategy }),
    shardedSubscribers: settings.sharded ?? false,
    redisOptions: { ...node, ...nodeOptions },
  };
}

/**
 * A connection of our own built from the app's option, with `ours` winning over the app's
 * settings. The app's instance is duplicated, never used or closed by us.
 */
export function redisConnection(
  redis: RedisOption,
  ours: OurRedisOptions,
  settings: ClusterSettings = {},
): RedisClient {
  if (redis instanceof Redis) return redis.duplicate(ours);
  if (redis instanceof Cluster) return redis.duplicate(undefined, clusterOptions(ours, settings));
  if (typeof redis !== 'string') return new Redis({ ...redis, ...ours });
  const endpoint = CLUSTER_URL.test(redis) ? parseRedisUrl(redis) : undefined;
  if (endpoint?.layout !== 'cluster') return new Redis(redis, ours);
  return new Cluster([...endpoint.nodes], clusterOptions(ours, settings, endpoint.nodeOptions));
}

/** Disconnects and waits (bounded) for the socket to close, so no handle outlives its owner. */
export async function closeRedis(redis: RedisClient): Promise<void> {
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
