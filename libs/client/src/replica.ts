import {
  DEFAULT_REPLICA_WAIT_MS,
  ReplicaReads,
  type ReplicaFallback,
} from '@pg-static-cache/postgres';
import pg from 'pg';
import { ClientError } from './errors.ts';
import { msOption } from './ms-option.ts';

/** How an app hands a read replica to a subscriber: a URL, a pool config, or its own pool. */
export type ReplicaOption = string | pg.PoolConfig | pg.Pool;

/**
 * A subscriber's read replica: its pool (made from the option, and ended on close, unless it is
 * the app's own) and the reads that use it only once it replayed what a load must include.
 */
export class Replica {
  readonly reads: ReplicaReads;
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;

  constructor(option: ReplicaOption, waitOption: number | undefined, warn: (error: Error) => void) {
    if (
      typeof option !== 'string' &&
      (typeof option !== 'object' || (option as unknown) === null)
    ) {
      throw new ClientError(
        'INVALID_OPTIONS',
        'replica must be a connection string, a pool config or a pg.Pool',
      );
    }
    const waitMs = msOption('replicaWaitMs', waitOption, DEFAULT_REPLICA_WAIT_MS);
    this.#ownsPool = !(option instanceof pg.Pool);
    this.#pool =
      option instanceof pg.Pool
        ? option
        : new pg.Pool(
            typeof option === 'string'
              ? { connectionString: option, max: 4, connectionTimeoutMillis: CONNECT_TIMEOUT_MS }
              : { max: 4, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, ...option },
          );
    // An idle pooled client that loses its server emits here; without a listener it would crash the app.
    this.#pool.on('error', (error) => warn(error));
    this.reads = new ReplicaReads({
      replica: this.#pool,
      waitMs,
      reports: {
        started: (fallback) => warn(fallbackWarning(fallback)),
        ended: () => warn(new Error('the replica serves reads again')),
      },
    });
  }

  /** Ends the waits and (if it made it) the pool. Safe twice. */
  async close(): Promise<void> {
    this.reads.close();
    if (this.#ownsPool && !this.#pool.ended) await this.#pool.end().catch(() => undefined);
  }
}

// A replica that blackholes connections must not hold a load for the driver's default (forever).
const CONNECT_TIMEOUT_MS = 5_000;

function fallbackWarning({ reason, error }: ReplicaFallback): Error {
  return new Error(
    `reading the primary instead of the replica (${reason}): ${error.message}; ` +
      'further reads the primary serves are only counted until the replica serves one again',
    { cause: error },
  );
}
