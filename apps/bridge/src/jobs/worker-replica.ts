import { ReplicaReads, type Queryable } from '@pg-static-cache/postgres';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { BridgeConfig } from '../config.ts';
import { createPool } from '../connections/postgres-pool.ts';
import type { ReloadWorkerMetrics } from './reload-metrics.ts';

/**
 * A reload worker's read replica (PSC_REPLICA_URL): table queries run there once it has replayed
 * the job's WAL position, else on the primary, counted in `psc_reload_replica_*` and logged once
 * per streak.
 */
export class WorkerReplica {
  readonly #pool: pg.Pool;
  readonly #reads: ReplicaReads;
  readonly #metrics: ReloadWorkerMetrics;

  private constructor(
    config: BridgeConfig & { readonly replicaUrl: string },
    logger: Logger,
    metrics: ReloadWorkerMetrics,
  ) {
    const log = logger.child({ component: 'replica' });
    // The worker's own pool settings, on the replica's URL.
    this.#pool = createPool(
      { ...config, databaseUrl: config.replicaUrl },
      config.workerConcurrency + 1,
      logger,
      'pg-static-cache-worker',
    );
    this.#metrics = metrics;
    this.#reads = new ReplicaReads({
      replica: this.#pool,
      waitMs: config.replicaWaitMs,
      reports: {
        started: ({ reason, error }) =>
          log.warn(
            { reason, err: { message: error.message } },
            'reading the primary instead of the replica (further fallbacks are only counted until the replica serves a read again)',
          ),
        ended: () => log.info('the replica serves reads again'),
      },
    });
  }

  /** The worker's replica, or undefined when none is configured. */
  static of(config: BridgeConfig, logger: Logger, metrics: ReloadWorkerMetrics) {
    const { replicaUrl } = config;
    return replicaUrl === undefined
      ? undefined
      : new WorkerReplica({ ...config, replicaUrl }, logger, metrics);
  }

  /** `read` on the replica once it replayed `target`, else on `primary`; rejects only with the primary's error. */
  async read<T>(
    target: bigint,
    primary: Queryable,
    read: (db: Queryable) => Promise<T>,
  ): Promise<T> {
    const { value, outcome } = await this.#reads.read(target, primary, read);
    if (outcome === 'replica') this.#metrics.replicaReads.inc();
    else this.#metrics.replicaFallbacks.inc({ reason: outcome });
    return value;
  }

  /** Ends the waits and the pool. */
  async close(): Promise<void> {
    this.#reads.close();
    await this.#pool.end();
  }
}
