import { performance } from 'node:perf_hooks';
import { FailureStreak, type Queryable } from '@pg-static-cache/postgres';
import { parseLease, type Names } from '@pg-static-cache/protocol';
import type { RedisClient } from '../connections/redis-connection.ts';
import type { Logger } from 'pino';
import { toError } from '../errors.ts';
import type { LeaderLock } from './leader-lock.ts';
import type { BridgeMetrics } from '../ops/metrics.ts';
import type { Presence } from './presence.ts';

/** What one standby poll concluded. */
export type PollOutcome =
  /** Nobody holds the leader lock (or we just fenced its holder): try to take it now. */
  | 'free'
  /** A live leader holds it, or we cannot tell (never fence on an error). */
  | 'held';

/** Whether the last poll reached each service; a standby is ready only when both answer. */
export interface ServiceHealth {
  readonly postgres: boolean;
  readonly redis: boolean;
}

/** What a {@link StandbyWatch} needs. */
export interface StandbyWatchParts {
  readonly presence: Pick<Presence, 'write'>;
  readonly lock: LeaderLock;
  /** Where the lock holder is looked up, and fenced from. */
  readonly db: Queryable;
  /** Where the lease is read. */
  readonly redis: Pick<RedisClient, 'get'>;
  readonly names: Pick<Names, 'leader'>;
  /** A lock holder without a lease for this long is fenced. */
  readonly leaseMs: number;
  readonly metrics: Pick<BridgeMetrics, 'fencings'>;
  readonly logger: Logger;
}

/** A poll that could not reach a service: what it reached, and the error. */
interface Unreachable {
  readonly health: ServiceHealth;
  readonly error: unknown;
}

/**
 * A standby's view of the leader. The lock holder is found in pg_locks (one cheap query per
 * poll instead of a new session per poll); its lease is read from Redis. A lock held while the
 * lease is absent (or vouches for another backend) continuously for leaseMs, by this standby's own
 * clock, means a leader alive to Postgres but unable to renew: paused, stuck, or cut off from
 * Redis. Its backend is terminated (fencing) so the lock frees. Observing for a whole leaseMs
 * after the lease already expired means a Redis restart alone never fences a healthy leader, which
 * recreates its lease within renewMs.
 */
export class StandbyWatch {
  readonly #parts: StandbyWatchParts;
  readonly #log: Logger;
  // One line per outage, not one per poll.
  readonly #unreachable: FailureStreak<Unreachable>;
  #suspectSince: number | undefined;
  #epochFloor = 1;
  #health: ServiceHealth = { postgres: false, redis: false };

  constructor(parts: StandbyWatchParts) {
    this.#parts = parts;
    const log = parts.logger.child({ component: 'standby' });
    this.#log = log;
    this.#unreachable = new FailureStreak({
      started: ({ health, error }) =>
        log.warn(
          { ...health, err: error === undefined ? undefined : toError(error) },
          'standby cannot reach a service',
        ),
      ended: () => log.info('standby reaches Postgres and Redis again'),
    });
  }

  /** Reachability seen by the last poll. */
  get health(): ServiceHealth {
    return this.#health;
  }

  /** One above the highest epoch seen in a lease: a term of ours must not start lower. */
  get epochFloor(): number {
    return this.#epochFloor;
  }

  /** Raises the floor (after our own term ended). */
  noteEpoch(epoch: number): void {
    this.#epochFloor = Math.max(this.#epochFloor, epoch + 1);
  }

  /** Announces this standby, looks at the lock and lease, fences a silent leader when due. */
  async poll(): Promise<PollOutcome> {
    const { presence, lock, db, redis, names, leaseMs, metrics } = this.#parts;
    const redisUp = presence.write('standby').then(
      () => true,
      () => false,
    );
    let holder: number | undefined;
    try {
      holder = await lock.holder(db);
    } catch (error) {
      this.#setHealth({ postgres: false, redis: await redisUp }, error);
      this.#suspectSince = undefined;
      return 'held';
    }
    let leaseText: string | null;
    try {
      leaseText = await redis.get(names.leader);
    } catch (error) {
      this.#setHealth({ postgres: true, redis: false }, error);
      this.#suspectSince = undefined;
      return 'held';
    }
    this.#setHealth({ postgres: true, redis: await redisUp });
    const lease = parseLease(leaseText);
    if (lease !== undefined) this.noteEpoch(lease.epoch);
    if (holder === undefined) {
      this.#suspectSince = undefined;
      return 'free';
    }
    if (lease?.backendPid === holder) {
      this.#suspectSince = undefined;
      return 'held';
    }
    const now = performance.now();
    this.#suspectSince ??= now;
    if (now - this.#suspectSince < leaseMs) return 'held';
    this.#suspectSince = undefined;
    this.#log.warn(
      { pid: holder, lease: lease ?? null, leaseMs },
      'the leader lock holder has had no lease for leaseMs: terminating its backend (fencing)',
    );
    try {
      const terminated = await lock.terminate(db, holder, Math.min(leaseMs, 5_000));
      metrics.fencings.inc();
      if (!terminated) this.#log.warn({ pid: holder }, 'fenced backend did not exit in time');
    } catch (error) {
      this.#log.error(
        { err: toError(error), pid: holder },
        'fencing failed (missing pg_signal_backend?)',
      );
      return 'held';
    }
    return 'free';
  }

  #setHealth(health: ServiceHealth, error?: unknown): void {
    this.#health = health;
    if (health.postgres && health.redis) this.#unreachable.succeed();
    else this.#unreachable.fail({ health, error });
  }
}
