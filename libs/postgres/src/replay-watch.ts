import { PostgresError } from './errors.ts';
import type { Queryable } from './table.ts';
import { lsnText, lsnValue } from './wal-position.ts';

/** Where a hot standby is: replaying (up to `replayed`), or not in recovery at all (promoted, or a primary). */
export type ReplayState =
  { readonly recovery: true; readonly replayed: bigint } | { readonly recovery: false };

/** How a wait for a replica's replay ended. */
export type ReplayWait =
  | { readonly outcome: 'replayed' }
  /** It answered, but had not replayed the position when the wait ran out. */
  | { readonly outcome: 'lagging'; readonly replayed: bigint }
  /** It failed, did not answer in time, or is no replica. */
  | { readonly outcome: 'unavailable'; readonly error: Error };

/** The replay position of the server `db` reaches now. */
export async function replayState(db: Queryable): Promise<ReplayState> {
  const result = await db.query<{ recovery: unknown; replayed: unknown }>(
    'SELECT pg_catalog.pg_is_in_recovery() AS recovery, pg_catalog.pg_last_wal_replay_lsn()::text AS replayed',
  );
  const row = result.rows[0];
  if (row?.recovery !== true) return { recovery: false };
  // NULL only before a standby replayed anything; it accepts no queries then, but 0 is the truth.
  return {
    recovery: true,
    replayed: typeof row.replayed === 'string' ? lsnValue(row.replayed) : 0n,
  };
}

/** Error of a server asked for its replay position that is not replaying WAL. */
export function notInRecovery(): PostgresError {
  return new PostgresError(
    'NOT_A_REPLICA',
    'the replica is not in recovery (promoted, or a primary): it may not be behind the primary any more',
  );
}

/** Poll delays of {@link ReplayWatch}: the first, doubling to the cap. */
export interface ReplayPollOptions {
  /** @default 5 */
  readonly firstMs?: number;
  /**
   * A lagging replica's replay is seen at most this long after it happened: one poll per process
   * however many reads wait, so a short cap costs a few trivial queries a second while any wait.
   * @default 20
   */
  readonly capMs?: number;
}

interface Waiter {
  readonly target: bigint;
  readonly resolve: (wait: ReplayWait) => void;
  timer: NodeJS.Timeout | undefined;
  /** What the replica last said while this waited. */
  replayed: bigint | undefined;
}

/**
 * Waits for a hot standby to replay WAL positions, for every waiter of the process with one poll
 * loop: one `pg_last_wal_replay_lsn()` at a time however many reloads wait, the first at once,
 * then 5 ms apart doubling to 20 ms while any waiter is left, none while nobody waits. An
 * answer settles every waiter it covers; a failed poll or a server not in recovery settles all of
 * them at once (`unavailable`), so nobody waits out the bound for a replica that is down.
 */
export class ReplayWatch {
  readonly #db: Queryable;
  readonly #firstMs: number;
  readonly #capMs: number;
  readonly #waiters = new Set<Waiter>();
  #looping = false;
  /** Ends the pause between polls early (on close). */
  #wake: (() => void) | undefined;
  #closed = false;

  constructor(db: Queryable, options: ReplayPollOptions = {}) {
    this.#db = db;
    this.#firstMs = options.firstMs ?? 5;
    this.#capMs = options.capMs ?? 20;
  }

  /** Resolves once the replica has replayed `target`, or after `waitMs` with why it had not. */
  waitFor(target: bigint, waitMs: number): Promise<ReplayWait> {
    if (this.#closed) {
      return Promise.resolve({ outcome: 'unavailable', error: closed() });
    }
    return new Promise((resolve) => {
      const waiter: Waiter = { target, resolve, timer: undefined, replayed: undefined };
      waiter.timer = setTimeout(() => this.#settle(waiter, expired(waiter, waitMs)), waitMs);
      this.#waiters.add(waiter);
      if (!this.#looping) void this.#loop();
    });
  }

  /** Ends the loop; every waiter is told `unavailable`. Safe twice. */
  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiters)
      this.#settle(waiter, { outcome: 'unavailable', error: closed() });
    this.#wake?.();
  }

  async #loop(): Promise<void> {
    this.#looping = true;
    let delay = this.#firstMs;
    try {
      while (this.#waiters.size > 0 && !this.#closed) {
        this.#answer(await this.#poll());
        if (this.#waiters.size === 0) break;
        await this.#pause(delay);
        delay = Math.min(delay * 2, this.#capMs);
      }
    } finally {
      this.#looping = false;
    }
  }

  async #poll(): Promise<ReplayState | Error> {
    try {
      return await replayState(this.#db);
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  #answer(state: ReplayState | Error): void {
    if (state instanceof Error || !state.recovery) {
      const error = state instanceof Error ? state : notInRecovery();
      for (const waiter of this.#waiters) this.#settle(waiter, { outcome: 'unavailable', error });
      return;
    }
    for (const waiter of this.#waiters) {
      if (state.replayed >= waiter.target) this.#settle(waiter, { outcome: 'replayed' });
      else waiter.replayed = state.replayed;
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#wake?.(), ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  #settle(waiter: Waiter, wait: ReplayWait): void {
    if (!this.#waiters.delete(waiter)) return;
    clearTimeout(waiter.timer);
    waiter.resolve(wait);
  }
}

function expired(waiter: Waiter, waitMs: number): ReplayWait {
  const target = lsnText(waiter.target);
  return waiter.replayed === undefined
    ? {
        outcome: 'unavailable',
        error: new PostgresError(
          'CONNECTION_FAILED',
          `the replica did not answer within ${waitMs} ms (waiting for ${target})`,
        ),
      }
    : { outcome: 'lagging', replayed: waiter.replayed };
}

function closed(): PostgresError {
  return new PostgresError('CLOSED', 'closed');
}
