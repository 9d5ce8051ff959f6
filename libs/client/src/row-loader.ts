import type { ReplicaOutcome } from '@pg-static-cache/postgres';
import type { SnapshotDeltaMessage, SnapshotMessage } from '@pg-static-cache/protocol';
import type pg from 'pg';
import type { LoadTarget, ReloadReason } from './cache-reloader.ts';
import type { ResyncCause } from './invalidation-source.ts';
import type { SnapshotFallbackReason } from './snapshot-fallback.ts';
import type { AnyCache, Row } from './static-cache.ts';
import type { MutableStats } from './subscriber-stats.ts';
import type { TableBindings } from './table-bindings.ts';

/** Rows of one cache and their column names, from either place. */
export interface LoadedRows {
  readonly rows: readonly Row[];
  readonly columns: readonly string[];
}

/** What one load of a cache came to. */
export type LoadResult =
  /** Rows to swap in, and where they came from. */
  | (LoadedRows & {
      readonly kind: 'rows';
      readonly source: 'postgres' | 'snapshot';
      /** Snapshot mode: why the table was queried instead of using the stored snapshot. */
      readonly fallback?: SnapshotFallbackReason;
      /** With a replica, a table query: read from the replica, or why the primary served it. */
      readonly replica?: ReplicaOutcome;
      /** Snapshot mode: built from a worker's delta to the rows held, without reading the stored value. */
      readonly delta?: true;
    })
  /** The rows held are as new as anything stored: no swap, but the cache is fresh again. */
  | { readonly kind: 'unchanged' }
  /** The rows held are as new as anything stored, but a change is still awaited: no swap, status as it is. */
  | { readonly kind: 'waiting' };

/** What a row loader may use and ask of the subscriber that made it. */
export interface LoaderContext {
  readonly pool: pg.Pool;
  readonly bindings: TableBindings;
  readonly stats: MutableStats;
  /** Asks for a (single-flight) load of the cache that includes `lsn` (else everything committed so far). */
  readonly request: (cache: AnyCache, reason: ReloadReason, lsn?: bigint) => void;
  readonly warn: (error: Error) => void;
}

/**
 * Where a subscriber's rows come from, chosen once when the subscriber is built: Postgres (direct
 * and redis mode) or stored snapshots (snapshot mode). The subscriber tells it every event, asks
 * it for rows, swaps them in itself, and says when it did.
 */
export interface RowLoader {
  /** Opens what loads need; rejects if that cannot be reached. */
  start(): Promise<void>;
  /** An event said the tables of `caches` changed; `lsn` (redis messages) bounds the commit from above. */
  invalidated(caches: readonly AnyCache[], lsn: string | undefined): void;
  /** A reload worker announced a new snapshot of a table. */
  announced(message: SnapshotMessage | SnapshotDeltaMessage): void;
  /** Events may have been lost for `caches`; the subscriber asks for their loads right after. */
  resynced(caches: readonly AnyCache[], cause: ResyncCause, reason: ReloadReason): void;
  /**
   * The rows `cache` should hold now, including at least `target`. Rejects when they cannot be
   * had (the old rows stay).
   */
  load(cache: AnyCache, target: LoadTarget): Promise<LoadResult>;
  /** The rows of the last `load` of `cache` were swapped in (a swap can still fail: `map` may throw). */
  swapped(cache: AnyCache): void;
  /** Ends every wait and connection. Safe to call twice. */
  close(): Promise<void>;
}
