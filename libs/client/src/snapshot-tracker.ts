import type { Snapshot, SnapshotMessage } from '@pg-static-cache/protocol';
import type { ReloadReason } from './cache-reloader.ts';
import { lsnValue } from './lsn.ts';

/** How a stored snapshot compares with what a cache holds and waits for. */
export type SnapshotVerdict =
  /** Newer than the rows held: swap it in. */
  | 'newer'
  /** Not newer than the rows held (the same snapshot, an older one, or older than a Postgres load). */
  | 'held'
  /** Older than a `snapshot` message announced: the stored value went back, so ask Postgres. */
  | 'stale';

/**
 * What one cache holds and still waits for in snapshot mode, and the deadline of that wait.
 *
 * Freshness is measured in WAL positions, which only grow whatever happens to Redis:
 * - the rows held include every commit up to `heldLsn`: a snapshot's `lsn` (read before its query),
 *   or for a Postgres load the highest LSN any message had carried when the query started (each
 *   was read from Postgres before, so the query sees those commits);
 * - an `invalidate` with LSN L (read after the commit was notified) is covered by any snapshot
 *   whose `lsn` ≥ L. Until one arrives the cache keeps its rows rather than querying Postgres at
 *   once: the worker is already making that snapshot, and N processes querying the table is what
 *   snapshots exist to avoid. If none comes within `waitMs` of the first uncovered invalidate (a
 *   slow or failed job, no worker, a lost message), the next load goes to Postgres;
 * - a resync means events may have been lost before the bridge or the worker heard of them, so
 *   the stored snapshot may predate a change (and a resync of the bridge may arrive disguised as a
 *   gap, new epoch or silence). The cache loads the stored snapshot at once, then waits the same
 *   way for a `snapshot` message received after the resync;
 * - a snapshot is swapped in only if its version is above the last one swapped (versions only
 *   move forward) and its `lsn` is not below `heldLsn` (so a late snapshot never undoes a newer
 *   Postgres load). A Postgres load leaves the snapshot version alone.
 */
export class SnapshotTracker {
  readonly #waitMs: number;
  readonly #onOverdue: (reason: ReloadReason) => void;
  #swappedVersion = 0;
  #swappedDigest: string | undefined;
  #heldLsn = 0n;
  /** Highest version a `snapshot` message announced that no load has reached yet. */
  #wantVersion = 0;
  /** Highest invalidate LSN not yet covered by the rows held (0 when none). */
  #wantLsn = 0n;
  /** A resync happened and no `snapshot` message for the table arrived since. */
  #awaiting = false;
  #overdue = false;
  #demands = 0;
  #reason: ReloadReason = 'change';
  #timer: NodeJS.Timeout | undefined;

  /** `onOverdue` asks for the load that will go to Postgres. */
  constructor(waitMs: number, onOverdue: (reason: ReloadReason) => void) {
    this.#waitMs = waitMs;
    this.#onOverdue = onOverdue;
  }

  /** The version of the snapshot last swapped in (0 before any). */
  get swappedVersion(): number {
    return this.#swappedVersion;
  }

  /** Something is awaited: an invalidate's commit not yet held, or a snapshot after a resync. */
  get waiting(): boolean {
    return this.#wantLsn > this.#heldLsn || this.#awaiting;
  }

  /** A wait outlived its deadline: the next load must go to Postgres. */
  get overdue(): boolean {
    return this.#overdue;
  }

  /** Counts every demand, so a Postgres load can tell whether one arrived while it ran. */
  get demands(): number {
    return this.#demands;
  }

  /** An `invalidate` with this LSN named the table. */
  invalidated(lsn: string): void {
    const value = lsnValue(lsn);
    // The rows held already include that commit.
    if (value <= this.#heldLsn) return;
    if (value > this.#wantLsn) this.#wantLsn = value;
    this.#demand('change');
  }

  /**
   * A resync. After a re-subscribe the versions seen are forgotten as well: a Redis restart may
   * have lost the worker's counter, and remembering versions no worker will reach again would
   * refuse every snapshot. `heldLsn` still keeps the rows from going back.
   */
  resynced(reason: ReloadReason, forgetVersions: boolean): void {
    if (forgetVersions) {
      this.#swappedVersion = 0;
      this.#wantVersion = 0;
    }
    this.#awaiting = true;
    this.#demand(reason);
  }

  /** A `snapshot` message for the table: true when it announces something newer than the rows held. */
  announced(message: SnapshotMessage): boolean {
    if (message.version <= this.#swappedVersion || lsnValue(message.lsn) < this.#heldLsn) {
      return false;
    }
    if (message.version > this.#wantVersion) this.#wantVersion = message.version;
    this.#awaiting = false;
    this.#demands += 1;
    this.#settle();
    return true;
  }

  /** Whether a stored snapshot should be swapped in. */
  judge(snapshot: Snapshot): SnapshotVerdict {
    if (snapshot.version < this.#wantVersion) return 'stale';
    const same = snapshot.digest === this.#swappedDigest;
    if (
      same ||
      snapshot.version <= this.#swappedVersion ||
      lsnValue(snapshot.lsn) < this.#heldLsn
    ) {
      return 'held';
    }
    return 'newer';
  }

  /** Whether swapping `snapshot` in would meet everything awaited. */
  covers(snapshot: Snapshot): boolean {
    return !this.#awaiting && lsnValue(snapshot.lsn) >= this.#wantLsn;
  }

  /** A load found nothing newer than the rows held: no announced version is outstanding. */
  held(snapshot: Snapshot): void {
    if (snapshot.version >= this.#wantVersion) this.#wantVersion = 0;
  }

  /** `snapshot` was swapped in. */
  swapped(snapshot: Snapshot): void {
    this.#swappedVersion = snapshot.version;
    this.#swappedDigest = snapshot.digest;
    const lsn = lsnValue(snapshot.lsn);
    if (lsn > this.#heldLsn) this.#heldLsn = lsn;
    if (snapshot.version >= this.#wantVersion) this.#wantVersion = 0;
    this.#settle();
  }

  /** A Postgres load that started when the highest LSN seen was `lsnAtStart` and `demands` had this value. */
  loadedFromPostgres(lsnAtStart: bigint, demandsAtStart: number): void {
    if (lsnAtStart > this.#heldLsn) this.#heldLsn = lsnAtStart;
    this.#overdue = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#demands === demandsAtStart) {
      // Everything asked for before the query started is in its result.
      this.#wantLsn = 0n;
      this.#wantVersion = 0;
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
