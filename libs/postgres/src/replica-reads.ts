import type pg from 'pg';
import { PostgresError } from './errors.ts';
import { FailureStreak, type FailureStreakReports } from './failure-streak.ts';
import { notInRecovery, replayState, ReplayWatch, type ReplayPollOptions } from './replay-watch.ts';
import type { Queryable } from './table.ts';
import { lsnText } from './wal-position.ts';

/** Why a read meant for the replica went to the primary. */
export type ReplicaFallbackReason =
  /** The replica had not replayed the read's position within the wait. */
  | 'lagging'
  /** The replica was down, failed, or is not a replica of the primary (any more). */
  | 'unavailable';

/** Every {@link ReplicaFallbackReason}, for counters that start at zero. */
export const REPLICA_FALLBACK_REASONS: readonly ReplicaFallbackReason[] = Object.freeze([
  'lagging',
  'unavailable',
]);

/** Where a read went: the replica, or the primary and why. */
export type ReplicaOutcome = 'replica' | ReplicaFallbackReason;

/** A read the primary served instead of the replica, and why. */
export interface ReplicaFallback {
  readonly reason: ReplicaFallbackReason;
  readonly error: Error;
}

/** How long a read waits for the replica to replay its position before it reads the primary. */
export const DEFAULT_REPLICA_WAIT_MS = 2_000;

/** Settings of {@link ReplicaReads}. */
export interface ReplicaReadsOptions {
  /** The replica's pool (its owner ends it). */
  readonly replica: pg.Pool;
  /** How long a read waits for the replica's replay. */
  readonly waitMs: number;
  readonly poll?: ReplayPollOptions;
  /** The first fallback of a streak, and the replica read that ended it. */
  readonly reports: FailureStreakReports<ReplicaFallback>;
}

type Attempt<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly fallback: ReplicaFallback };

/**
 * Reads from a hot standby only what it is sure to have: a read for WAL position L (a commit's,
 * or the primary's position when the read was asked for) runs on the replica once the replica has
 * replayed L, so its rows include every commit up to L and never older ones. Waiting is bounded;
 * past the bound, or when the replica is down, fails or turned out to be no replica of this
 * primary, the primary serves the read. Slower, never staler.
 */
export class ReplicaReads {
  readonly #replica: pg.Pool;
  readonly #waitMs: number;
  readonly #watch: ReplayWatch;
  readonly #streak: FailureStreak<ReplicaFallback>;
  /** Set once the replica's system identifier was found to be the primary's. */
  #sameCluster = false;

  constructor(options: ReplicaReadsOptions) {
    this.#replica = options.replica;
    this.#waitMs = options.waitMs;
    this.#watch = new ReplayWatch(options.replica, options.poll);
    this.#streak = new FailureStreak(options.reports);
  }

  /**
   * `read` on the replica once it has replayed `target`, else on `primary`; says which. A
   * replica's failure falls back; the primary's propagates.
   */
  async read<T>(
    target: bigint,
    primary: Queryable,
    read: (db: Queryable) => Promise<T>,
  ): Promise<{ readonly value: T; readonly outcome: ReplicaOutcome }> {
    const attempt = await this.#fromReplica(target, primary, read);
    if (attempt.ok) {
      this.#streak.succeed();
      return { value: attempt.value, outcome: 'replica' };
    }
    this.#streak.fail(attempt.fallback);
    return { value: await read(primary), outcome: attempt.fallback.reason };
  }

  /** Ends every wait (those reads go to the primary). Safe twice. */
  close(): void {
    this.#watch.close();
  }

  async #fromReplica<T>(
    target: bigint,
    primary: Queryable,
    read: (db: Queryable) => Promise<T>,
  ): Promise<Attempt<T>> {
    try {
      await this.#checkCluster(primary);
    } catch (error) {
      return unavailable(error);
    }
    const waited = await this.#watch.waitFor(target, this.#waitMs);
    if (waited.outcome === 'lagging') return lagging(target, waited.replayed, this.#waitMs);
    if (waited.outcome === 'unavailable') return unavailable(waited.error);
    let client: pg.PoolClient;
    try {
      client = await this.#replica.connect();
    } catch (error) {
      return unavailable(error);
    }
    let broken: Error | undefined;
    try {
      // Asked again in the session that reads: the wait's answer came from another session, and
      // a replica restarted since then may have come back behind it. Within one session the
      // replay position only moves forward, so the read sees at least this much.
      const state = await replayState(client);
      if (!state.recovery) return unavailable(notInRecovery());
      if (state.replayed < target) return lagging(target, state.replayed, this.#waitMs);
      return { ok: true, value: await read(client) };
    } catch (error) {
      broken = error instanceof Error ? error : new Error(String(error));
      return unavailable(broken);
    } finally {
      client.release(broken);
    }
  }

  // LSNs of another cluster order nothing of ours: a replica URL pointing at the wrong server
  // would pass every wait at once and serve its rows as new. Checked until it matches once.
  async #checkCluster(primary: Queryable): Promise<void> {
    if (this.#sameCluster) return;
    const [ours, theirs] = await Promise.all([
      systemIdentifier(primary),
      systemIdentifier(this.#replica),
    ]);
    if (ours !== theirs) {
      throw new PostgresError(
        'NOT_A_REPLICA',
        `the replica belongs to another cluster (system identifier ${theirs}, the primary's ${ours})`,
      );
    }
    this.#sameCluster = true;
  }
}

async function systemIdentifier(db: Queryable): Promise<string> {
  const result = await db.query<{ id: unknown }>(
    'SELECT system_identifier::text AS id FROM pg_catalog.pg_control_system()',
  );
  const id = result.rows[0]?.id;
  if (typeof id !== 'string') throw new TypeError('pg_control_system() returned no row');
  return id;
}

function unavailable(error: unknown): Attempt<never> {
  const cause = error instanceof Error ? error : new Error(String(error));
  return { ok: false, fallback: { reason: 'unavailable', error: cause } };
}

function lagging(target: bigint, replayed: bigint, waitMs: number): Attempt<never> {
  const error = new Error(
    `the replica had replayed ${lsnText(replayed)}, not yet ${lsnText(target)}, within ${waitMs} ms`,
  );
  return { ok: false, fallback: { reason: 'lagging', error } };
}
