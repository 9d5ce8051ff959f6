import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from './config.ts';
import { CliError } from './errors.ts';

/** A connection to one Redis server or to a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * ioredis settings for a one-shot command: connect only when asked, never reconnect, fail a
 * command rather than queue it, so an unreachable Redis ends the run within connectTimeoutMs.
 */
export function redisOptions(config: Pick<RedisConfig, 'connectionName' | 'connectTimeoutMs'>) {
  return {
    lazyConnect: true,
    connectionName: config.connectionName,
    connectTimeout: config.connectTimeoutMs,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  } as const satisfies RedisOptions;
}

function createClient(config: RedisConfig): RedisClient {
  const { endpoint } = config;
  if (endpoint.layout === 'single') return new Redis(config.url, redisOptions(config));
  const { lazyConnect, enableOfflineQueue, retryStrategy, ...node } = redisOptions(config);
  return new Cluster([...endpoint.nodes], {
    lazyConnect,
    enableOfflineQueue,
    clusterRetryStrategy: retryStrategy,
    // A command (status, resync) subscribes to one channel at most: sharded in a cluster.
    shardedSubscribers: true,
    redisOptions: { ...node, ...endpoint.nodeOptions },
  });
}

// ioredis' disconnect() of a connection that already ended waits 2 s (disconnectTimeout) for a
// `close` that never comes again, which would hold a failed command's exit back.
function disconnect(redis: RedisClient): void {
  if (redis.status !== 'end') redis.disconnect();
}

/** Connects a new connection, turning ioredis' bare "Connection is closed." into the reason it closed. */
async function connect(config: RedisConfig): Promise<RedisClient> {
  const redis = createClient(config);
  // The reason only arrives as an `error` event; later errors reject the pending command anyway.
  let reason: Error | undefined;
  redis.on('error', (error: Error) => (reason ??= error));
  try {
    await redis.connect();
    return redis;
  } catch (error) {
    disconnect(redis);
    const cause = reason ?? (error instanceof Error ? error : new Error(String(error)));
    throw new CliError('REDIS_UNREACHABLE', `cannot connect to Redis: ${cause.message}`, { cause });
  }
}

/** The Redis connections of one command run; `await using` disconnects them all. */
export class RedisSession implements AsyncDisposable {
  /** The command connection. */
  readonly redis: RedisClient;
  readonly #config: RedisConfig;
  readonly #opened: RedisClient[] = [];

  private constructor(config: RedisConfig, redis: RedisClient) {
    this.#config = config;
    this.redis = redis;
    this.#opened.push(redis);
  }

  /** Connects the command connection; CliError REDIS_UNREACHABLE when Redis cannot be reached. */
  static async open(config: RedisConfig): Promise<RedisSession> {
    return new RedisSession(config, await connect(config));
  }

  /** One more connection, for SUBSCRIBE (a subscribed connection can do nothing but pub/sub). */
  async subscriber(): Promise<RedisClient> {
    const redis = await connect(this.#config);
    this.#opened.push(redis);
    return redis;
  }

  /** Disconnects every connection; safe twice. */
  close(): void {
    for (const redis of this.#opened.splice(0)) disconnect(redis);
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** Connects once and disconnects: CliError REDIS_UNREACHABLE now rather than a retry loop later. */
export async function checkRedis(config: RedisConfig): Promise<void> {
  disconnect(await connect(config));
}
