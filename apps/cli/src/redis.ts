import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from './config.ts';
import { CliError } from './errors.ts';

/**
 * ioredis settings for a one-shot command: connect only when asked, never reconnect, fail a
 * command rather than queue it, so an unreachable Redis ends the run within connectTimeoutMs.
 */
export function redisOptions(config: RedisConfig) {
  return {
    lazyConnect: true,
    connectionName: config.connectionName,
    connectTimeout: config.connectTimeoutMs,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  } as const satisfies RedisOptions;
}

// ioredis' disconnect() of a connection that already ended waits 2 s (disconnectTimeout) for a
// `close` that never comes again, which would hold a failed command's exit back.
function disconnect(redis: Redis): void {
  if (redis.status !== 'end') redis.disconnect();
}

/** Connects a new connection, turning ioredis' bare "Connection is closed." into the reason it closed. */
async function connect(config: RedisConfig): Promise<Redis> {
  const redis = new Redis(config.url, redisOptions(config));
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
  readonly redis: Redis;
  readonly #config: RedisConfig;
  readonly #opened: Redis[] = [];

  private constructor(config: RedisConfig, redis: Redis) {
    this.#config = config;
    this.redis = redis;
    this.#opened.push(redis);
  }

  /** Connects the command connection; CliError REDIS_UNREACHABLE when Redis cannot be reached. */
  static async open(config: RedisConfig): Promise<RedisSession> {
    return new RedisSession(config, await connect(config));
  }

  /** One more connection, for SUBSCRIBE (a subscribed connection can do nothing but pub/sub). */
  async subscriber(): Promise<Redis> {
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
