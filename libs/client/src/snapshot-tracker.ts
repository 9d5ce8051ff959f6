import { lsnValue } from '@pg-static-cache/postgres';
import type { Snapshot, SnapshotMessage } from '@pg-static-cache/protocol';
import type { ReloadReason } from './cache-reloader.ts';

/** How a stored snapshot compares with what a cache holds and waits for. */
export type SnapshotVerdict =
  /** Newer than the rows held: swap it in. */
  | 'newer'
  /** Not newer than the rows held (the same snapshot, an older one, or older than a Postgres load). */
  | 'held'
  /** Older than a `snapshot` message announced: the stored value went back, so ask Postgres. */
  | 'stale';

/** What an invalidate asks of a cache. */
export type InvalidateVerdict =
  /** The rows held include the commit, by a position Postgres vouched for: nothing to do. */
  | 'held'
  /** Not held yet: a covering snapshot is awaited (or Postgres past the deadline). */
  | 'wait'
  /**
   * The rows held claim to include the commit, but only a snapshot said so: ask Postgres whether
   * that position exists before trusting it ({@link SnapshotTracker.checkedAgainst}).
   */
  | 'verify';

/** What judging a snapshot looks at. */
type Judged = Pick<Snapshot, 'generation' | 'version' | 'digest' | 'lsn'>;

/** A snapshot's place in its table's version sequence: versions compare only within a generation. */
export interface Position {
  readonly generation: string;
  readonly version: number;
}

/** Whether `candidate` comes after `held` (anything does after nothing; another generation counts as after). */
export function isAfter(candidate: Position, held: Position | undefined): boolean {
  return (
    held === undefined ||
    candidate.generation !== held.generation ||
    candidate.version > held.version
  );
}

/**
 * What one cache holds and still waits for in snapshot mode, and the deadline of that wait.
 *
 * Freshness is measured in WAL positions, which only grow on one cluster, and trust in them comes
 * from Postgres, never from Redis alone (a message or a stored value may be forged, replayed, or
 * from a cluster since replaced):
 * - the rows held include every commit up to `heldLsn`: for a Postgres load, the position
 *   Postgres reported just before the query (trusted); for a snapshot, the `lsn` its worker read
 *   before its query (trusted only once Postgres reports a position at or beyond it);
 * - an `invalidate` with LSN L (read after the commit was notified) is covered by any snapshot
 *   whose `lsn` ≥ L. Until one arrives the cache keeps its rows rather than querying Postgres at
 *   once: the worker is already making that snapshot, and N processes querying the table is what
 *   snapshots exist to avoid. If none comes within `waitMs` of the first uncovered invalidate (a
 *   slow or failed job, no worker, a lost message), the next load goes to Postgres. An invalidate
 *   that the rows held seem to cover is skipped only when Postgres vouched for `heldLsn`;
 *   otherwise the caller checks the position first, and a position Postgres has not reached is a
 *   lie: the cache then distrusts what it holds and reloads from Postgres;
 * - a resync means events may have been lost before the bridge or the worker heard of them, so
 *   the stored snapshot may predate a change. The cache loads the stored snapshot at once, then
 *   waits the same way for a `snapshot` message received after the resync. A resync also
 *   withdraws Postgres' word for `heldLsn`: the cluster behind the bridge may have changed;
 * - a snapshot is swapped in only if it comes after the last one swapped (a higher version of the
 *   same counter generation, or another generation: the counter restarted) and its `lsn` is not
 *   below `heldLsn` (so a late snapshot never undoes a newer Postgres load).
 */
export class SnapshotTracker {
  readonly #waitMs: number;
  readonly #onOverdue: (reason: ReloadReason) => void;
  #swapped: Position | undefined;
  #swappedDigest: string | undefined;
  #heldLsn = 0n;
  /** Postgres reported a position at or beyond `heldLsn` since it was set. */
  #heldTrusted = true;
  /** Highest position a `snapshot` message announced that no load has reached yet. */
  #want: Position | undefined;
  /** Highest invalidate LSN not yet covered by the rows held (0 when none). */
  #wantLsn = 0n;
  /** A resync happened and no `snapshot` message for the table arrived since. */
  #awaiting = false;
  #overdue = false;
  /** What is held cannot be trusted: the next load must query Postgres. */
  #distrusted = false;
  #demands = 0;
  #reason: ReloadReason = 'change';
  #timer: NodeJS.Timeout | undefined;

  /** `onOverdue` asks for the load that will go to Postgres. */
  constructor(waitMs: number, onOverdue: (reason: ReloadReason) => void) {
    this.#waitMs = waitMs;
    this.#onOverdue = onOverdue;
  }

  /** The version of the snapshot last swapped in (0 before any, and after a distrust). */
  get swappedVersion(): number {
    return this.#swapped?.version ?? 0;
  }

  /** Something is awaited: an invalidate's commit not yet held, or a snapshot after a resync. */
  get waiting(): boolean {
    return this.#wantLsn > this.#heldLsn || this.#awaiting;
  }

  /** The next load must go to Postgres: a wait outlived its deadline, or what is held was distrusted. */
  get overdue(): boolean {
    return this.#overdue || this.#distrusted;
  }

  /** What is held was distrusted: no stored snapshot may stand in for the Postgres load. */
  get distrusted(): boolean {
    return this.#distrusted;
  }

  /** Counts every demand, so a Postgres load can tell whether one arrived while it ran. */
  get demands(): number {
    return this.#demands;
  }

  /** An `invalidate` with this LSN named the table. */
  invalidated(lsn: string): InvalidateVerdict {
    const value = lsnValue(lsn);
    if (value <= this.#heldLsn) return this.#heldTrusted ? 'held' : 'verify';
    if (value > this.#wantLsn) this.#wantLsn = value;
    this.#demand('change');
    return 'wait';
  }

  /**
   * Postgres reported `current` as its WAL position, after a 'verify'. True when that vouches for
   * the position held; false when the position held is ahead of the database, i.e. a lie (or from
   * a cluster since replaced), after which the caller calls {@link distrust}.
   */
  checkedAgainst(current: bigint): boolean {
    if (this.#heldLsn > current) return false;
    this.#heldTrusted = true;
    return true;
  }

  /**
   * Forgets every position held or announced (they came from something Postgres contradicts) and
   * asks for a load from Postgres at once.
   */
  distrust(): void {
    this.#heldLsn = 0n;
    this.#heldTrusted = true;
    this.#swapped = undefined;
    this.#swappedDigest = undefined;
    this.#want = undefined;
    this.#distrusted = true;
    this.#demands += 1;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#onOverdue('resync');
  }

  /**
   * A resync. After a re-subscribe the versions seen are forgotten as well: a Redis restart may
   * have lost the worker's counter. `heldLsn` still keeps the rows from going back, but must be
   * vouched for again before it lets an invalidate be skipped.
   */
  resynced(reason: ReloadReason, forgetVersions: boolean): void {
    if (forgetVersions) {
      this.#swapped = undefined;
      this.#want = undefined;
    }
    this.#heldTrusted = this.#heldLsn === 0n;
    this.#awaiting = true;
    this.#demand(reason);
  }

  /** A `snapshot` message for the table: true when it announces something newer than the rows held. */
  announced(message: Pick<SnapshotMessage, 'generation' | 'version' | 'lsn'>): boolean {
    if (!isAfter(message, this.#swapped) || lsnValue(message.lsn) < this.#heldLsn) return false;
    if (isAfter(message, this.#want)) this.#want = message;
    this.#awaiting = false;
    this.#demands += 1;
    this.#settle();
    return true;
  }

  /** Whether the rows held are exactly the snapshot of `version` in `generation` whose digest is `digest`. */
  holds(generation: string, version: number, digest: string): boolean {
    return (
      this.#swapped?.generation === generation &&
      this.#swapped.version === version &&
      this.#swappedDigest === digest
    );
  }

  /** Whether a stored snapshot should be swapped in. */
  judge(snapshot: Judged): SnapshotVerdict {
    const want = this.#want;
    if (want?.generation === snapshot.generation && snapshot.version < want.version) {
      return 'stale';
    }
    if (
      snapshot.digest === this.#swappedDigest ||
      !isAfter(snapshot, this.#swapped) ||
      lsnValue(snapshot.lsn) < this.#heldLsn
    ) {
      return 'held';
    }
    return 'newer';
  }

  /** Whether swapping `snapshot` in would meet everything awaited. */
  covers(snapshot: Pick<Snapshot, 'lsn'>): boolean {
    return !this.#awaiting && lsnValue(snapshot.lsn) >= this.#wantLsn;
  }

  /** A load found nothing newer than the rows held: no announced version is outstanding. */
  held(snapshot: Snapshot): void {
    if (this.#want !== undefined && !isAfter(this.#want, snapshot)) this.#want = undefined;
    // An announcement of another generation than the one stored will not be found there either.
    if (this.#want?.generation !== snapshot.generation) this.#want = undefined;
  }

  /** `snapshot` was swapped in; `trusted` when Postgres already reported a position at or beyond its `lsn`. */
  swapped(snapshot: Snapshot, trusted: boolean): void {
    this.#swapped = snapshot;
    this.#swappedDigest = snapshot.digest;
    const lsn = lsnValue(snapshot.lsn);
    if (lsn > this.#heldLsn) {
      this.#heldLsn = lsn;
      this.#heldTrusted = trusted;
    }
    this.held(snapshot);
    this.#settle();
  }

  /**
   * A Postgres load whose query started after Postgres reported `lsnAtStart` (so its rows are
   * exactly those up to there), when `demands` had the value `demandsAtStart`.
   */
  loadedFromPostgres(lsnAtStart: bigint, demandsAtStart: number): void {
    this.#heldLsn = lsnAtStart;
    this.#heldTrusted = true;
    this.#distrusted = false;
    this.#overdue = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#demands === demandsAtStart) {
      // Everything asked for before the query started is in its result.
      this.#wantLsn = 0n;
      this.#want = undefined;
      this.#awaiting = false;
      return;
    }
    // Asked for while the query ran, so perhaps not in its result: wait for it afresh.
    this.#settle();
    this.#arm();
  }

  /** Stops the deadline timer. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #demand(reason: ReloadReason): void {
    this.#demands += 1;
    // The deadline runs from the first demand not yet met: a stream of invalidates cannot push it back.
    if (this.#timer === undefined && !this.#overdue) this.#reason = reason;
    this.#arm();
  }

  #arm(): void {
    if (!this.waiting || this.#timer !== undefined || this.#overdue) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#overdue = true;
      this.#onOverdue(this.#reason);
    }, this.#waitMs);
  }

  /** Drops what the rows held now cover; ends the wait when nothing is left. */
  #settle(): void {
    if (this.#wantLsn <= this.#heldLsn) this.#wantLsn = 0n;
    if (this.waiting) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#overdue = false;
  }
}
