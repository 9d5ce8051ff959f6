import type { ReplicaOutcome } from '@pg-static-cache/postgres';
import type { ReloadReason } from './cache-reloader.ts';
import type { SourceOptions } from './create-source.ts';
import type { SubscriberStatus } from './invalidation-source.ts';
import type { SnapshotFallbackReason } from './snapshot-fallback.ts';
import type { AnyCache } from './static-cache.ts';

/** Everything a subscriber needs (see {@link SourceOptions} for the mode's settings); frozen on creation. */
export interface SubscriberOptions extends SourceOptions {
  readonly caches: readonly AnyCache[];
  /**
   * How often every cache's table name is looked up again, so that a table dropped, renamed away
   * or swapped in under the name is noticed although no trigger fires (0: never). Direct mode
   * needs it unless the `sql_drop` event trigger is installed (`install --event-trigger`); in
   * redis and snapshot mode the bridge's scheduled check does it for every app.
   * @default 30000 in direct mode, 0 in redis and snapshot mode
   */
  readonly tableCheckIntervalMs?: number;
}

/** A cache swapped in new rows. */
export interface ReloadEvent {
  readonly cache: AnyCache;
  readonly version: number;
  readonly rows: number;
  /** SHA-256 hex of this version's rows (the `watch` digest), computed when first read. */
  readonly digest: string;
  /** Time spent loading (querying, or reading and parsing a snapshot) and swapping. */
  readonly ms: number;
  readonly reason: ReloadReason;
  /** Where the rows came from: a table query, or (snapshot mode) a snapshot stored in Redis. */
  readonly source: 'postgres' | 'snapshot';
  /** Snapshot mode: the snapshot was built from the worker's delta to the rows held (no read of the stored value). */
  readonly delta?: true;
  /** Snapshot mode: why the table was queried instead of using the snapshot. */
  readonly fallback?: SnapshotFallbackReason;
  /**
   * With a `replica`, rows from a table query: `replica` when the replica served them, else why
   * the primary did (`lagging`, `unavailable`).
   */
  readonly replica?: ReplicaOutcome;
}

/** A reload failed; the cache keeps serving its last good rows. */
export interface StaleEvent {
  readonly cache: AnyCache;
  readonly error: Error;
  readonly retryInMs: number;
}

/** Typed events of {@link Subscriber}. */
export interface SubscriberEvents {
  reload: [ReloadEvent];
  stale: [StaleEvent];
  status: [SubscriberStatus];
  /** Connection trouble or a dropped message; the subscriber recovers by itself. */
  warning: [Error];
}
