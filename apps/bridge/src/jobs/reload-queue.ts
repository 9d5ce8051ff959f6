import type { ResolvedTable } from '@pg-static-cache/postgres';
import type { Names } from '@pg-static-cache/protocol';
import { Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { BridgeConfig } from '../config.ts';
import { toError } from '../errors.ts';
import { queueStateOf } from './queue-state.ts';
import { createRedis, type RedisClient } from '../connections/redis-connection.ts';
import { RELOAD_JOB, reloadJobOptions, type ReloadJobData } from './reload-job.ts';
import { ReloadQueueMetrics, type ReloadTrigger } from './reload-metrics.ts';

/** A table to reload. */
export type ReloadTarget = Pick<ResolvedTable, 'display' | 'oid'>;

/** What a {@link ReloadQueue} needs. */
export interface ReloadQueueOptions {
  readonly config: BridgeConfig;
  /** The names of the queue's Redis: the queue is `names.queue`, its keys under `names.queuePrefix`. */
  readonly names: Names;
  readonly logger: Logger;
  /** Where the enqueue and queue depth metrics go (the bridge's registry); none for a region's queue. */
  readonly registry: Registry | undefined;
  /** The Redis of the queue. @default config.redisUrl (the home Redis) */
  readonly redisUrl?: string;
  /** How long a scrape waits for the queue's counts. @default QUEUE_DEPTH_TIMEOUT_MS */
  readonly depthTimeoutMs?: number;
}

/**
 * The producer side of the reload queue: the leader's publishing adds a job per table to reload
 * (see Publisher). Every bridge has one (Bull Board shows the queue from any of them); only the
 * leader adds jobs.
 */
export class ReloadQueue implements AsyncDisposable {
  /** The BullMQ queue (for Bull Board and tests). */
  readonly queue: Queue<ReloadJobData>;
  readonly #config: BridgeConfig;
  readonly #connection: RedisClient;
  readonly #metrics: ReloadQueueMetrics | undefined;
  readonly #log: Logger;
  #closing: Promise<void> | undefined;

  constructor(options: ReloadQueueOptions) {
    const { config, logger } = options;
    this.#config = config;
    this.#log = logger.child({ component: 'reload-queue' });
    const { registry } = options;
    this.#metrics =
      registry === undefined
        ? undefined
        : new ReloadQueueMetrics(registry, () => queueStateOf(this.queue), options.depthTimeoutMs);
    // Its own connection: a slow job add must not delay lease renewals on the commands connection.
    this.#connection = createRedis(options.redisUrl ?? config.redisUrl, 'queue', logger);
    // Connecting before BullMQ sees it: BullMQ connects a connection that has not started itself,
    // and a first attempt that fails (a region's Redis down when the bridge starts) would leave the
    // queue failing for good. Started, it waits until Redis is ready, then works.
    this.#connection.connect().catch(() => undefined);
    const { queue, queuePrefix } = options.names;
    this.queue = new Queue<ReloadJobData>(queue, {
      connection: this.#connection,
      prefix: queuePrefix,
    });
    // Connection errors are logged by createRedis, once per outage; BullMQ re-emits them here.
    this.queue.on('error', () => undefined);
  }

  /**
   * Adds a reload job for each table (coalescing per table, see reloadJobOptions); `lsn` is the
   * event's. Rejects when Redis does not take them; the caller logs it.
   */
  async add(tables: readonly ReloadTarget[], lsn: string, trigger: ReloadTrigger): Promise<void> {
    const at = Date.now();
    try {
      await Promise.all(
        tables.map(({ display, oid }) =>
          this.queue.add(
            RELOAD_JOB,
            { table: display, oid, lsn, at },
            reloadJobOptions(this.#config, display),
          ),
        ),
      );
    } catch (error) {
      this.#metrics?.enqueueErrors.inc();
      throw error;
    }
    this.#metrics?.enqueued.inc({ trigger }, tables.length);
    this.#log.debug({ tables: tables.map((t) => t.display), trigger }, 'reload jobs added');
  }

  /** Closes the queue and its connection; safe twice. */
  close(): Promise<void> {
    this.#closing ??= this.queue
      .close()
      .catch((error: unknown) =>
        this.#log.warn({ err: toError(error) }, 'closing the queue failed'),
      )
      .finally(() => this.#connection.disconnect());
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
