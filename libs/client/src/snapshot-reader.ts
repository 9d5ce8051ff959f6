import { backoffDelay, type BackoffOptions } from '@pg-static-cache/postgres';
import type { Names } from '@pg-static-cache/protocol';
import {
  closeRedis,
  redisConnection,
  type RedisClient,
  type RedisOption,
} from './redis-connection.ts';

/** A GET of a large snapshot takes milliseconds; one that takes this long goes to Postgres instead. */
const READ_TIMEOUT_MS = 10_000;

/**
 * Reads stored snapshots over a connection of its own: the subscription connection can only do
 * pub/sub, and the app's instance may have settings (a key prefix, a blocked pipeline) of its own.
 */
export class SnapshotReader {
  readonly #redis: RedisClient;
  readonly #names: Names;

  constructor(redis: RedisOption, names: Names, backoff?: BackoffOptions) {
    this.#names = names;
    this.#redis = redisConnection(redis, {
      lazyConnect: true,
      replyMapping: 'legacy',
      // Keys are our namespace's, whatever prefix the app's own commands use.
      keyPrefix: '',
      // While Redis is away a read fails at once and the cache loads from Postgres instead of
      // waiting for the reconnect.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: READ_TIMEOUT_MS,
      retryStrategy: (times) => backoffDelay(times - 1, backoff),
    });
    // Connection trouble is reported by the subscription connection; a failed read by its caller.
    this.#redis.on('error', () => undefined);
  }

  /** Connects; rejects if Redis cannot be reached. */
  async start(): Promise<void> {
    await this.#redis.connect();
  }

  /**
   * The stored value of `table`'s snapshot (`schema.name`), or null when there is none. A read
   * that times out replaces the connection: its path may be dead without a FIN or RST ever
   * arriving, and every later read would wait out the timeout too.
   */
  async read(table: string): Promise<Buffer | null> {
    try {
      return await this.#redis.getBuffer(this.#names.snapshot(table));
    } catch (error) {
      if (error instanceof Error && /timed out/i.test(error.message)) this.reset();
      throw error;
    }
  }

  /** Drops the connection and opens a new one (reads fail fast until it is up). */
  reset(): void {
    if (this.#redis.status === 'end') return;
    this.#redis.disconnect(true);
  }

  /** Closes the connection. Safe to call twice. */
  async close(): Promise<void> {
    await closeRedis(this.#redis);
  }
}
