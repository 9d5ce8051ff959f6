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
/** Reads that fail while the connection is not ready for this long replace it (see `read`). */
const STUCK_MS = 5_000;

export class SnapshotReader {
  readonly #open: () => RedisClient;
  readonly #names: Names;
  #redis: RedisClient;
  /** performance.now() of the first read that failed on a connection not ready; undefined after a success. */
  #unreadySince: number | undefined;
  #closed = false;

  constructor(redis: RedisOption, names: Names, backoff?: BackoffOptions) {
    this.#names = names;
    this.#open = () => {
      const connection = redisConnection(redis, {
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
      connection.on('error', () => undefined);
      return connection;
    };
    this.#redis = this.#open();
  }

  /** Connects; rejects if Redis cannot be reached. */
  async start(): Promise<void> {
    await this.#redis.connect();
  }

  /**
   * The stored value of `table`'s snapshot (`schema.name`), or null when there is none. A read
   * that times out replaces the connection: its path may be dead without a FIN or RST ever
   * arriving, and every later read would wait out the timeout too. So do reads that keep failing
   * on a connection that has not been ready for {@link STUCK_MS}: a cluster client can stay
   * "not ready" after a failover while the subscription beside it recovered.
   */
  async read(table: string): Promise<Buffer | null> {
    try {
      const value = await this.#redis.getBuffer(this.#names.snapshot(table));
      this.#unreadySince = undefined;
      return value;
    } catch (error) {
      const now = performance.now();
      if (this.#redis.status !== 'ready') this.#unreadySince ??= now;
      const stuck = this.#unreadySince !== undefined && now - this.#unreadySince > STUCK_MS;
      if (stuck || (error instanceof Error && /timed out/i.test(error.message))) this.reset();
      throw error;
    }
  }

  /** Drops the connection and opens a new one (reads fail fast until it is up). */
  reset(): void {
    if (this.#closed) return;
    const old = this.#redis;
    this.#redis = this.#open();
    this.#unreadySince = undefined;
    this.#redis.connect().catch(() => undefined);
    old.disconnect();
  }

  /** Closes the connection. Safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    await closeRedis(this.#redis);
  }
}
