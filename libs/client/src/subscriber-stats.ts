import { REPLICA_FALLBACK_REASONS, type ReplicaFallbackReason } from '@pg-static-cache/postgres';
import { INVALID_REASONS, type InvalidReason } from './invalidation-source.ts';
import { SNAPSHOT_FALLBACK_REASONS, type SnapshotFallbackReason } from './snapshot-fallback.ts';

/** Counters for metrics and tests. */
export interface SubscriberStats {
  /** Invalidations received (NOTIFY payloads or `invalidate` messages), whether or not a cache matched. */
  readonly notifications: number;
  /** Messages dropped as unreadable, in all. */
  readonly invalid: number;
  /** {@link invalid}, by reason. */
  readonly invalidByReason: Readonly<Record<InvalidReason, number>>;
  readonly resyncs: number;
  readonly reloads: number;
  readonly failedReloads: number;
  /** Messages from an older leader epoch, dropped. */
  readonly staleEpoch: number;
  /** Messages whose `seq` was already seen in the epoch (replays), ignored. */
  readonly duplicates: number;
  /** Skipped `seq`s, each of which caused a full resync. */
  readonly gaps: number;
  /** Times the leader stayed silent past the heartbeat deadline. */
  readonly heartbeatsMissed: number;
  /** Snapshot mode: `snapshot` messages received for the table of a cache held, counted per cache. */
  readonly snapshotMessages: number;
  /** Snapshot mode: {@link snapshotMessages} not newer than the rows held (out of order, replayed), ignored. */
  readonly snapshotMessagesIgnored: number;
  /** Snapshot mode: reloads swapped in from a Redis snapshot, without a table query. */
  readonly snapshotLoads: number;
  /** Snapshot mode: loads that queried Postgres instead, in all. */
  readonly snapshotFallbacks: number;
  /** {@link snapshotFallbacks}, by reason. */
  readonly snapshotFallbacksByReason: Readonly<Record<SnapshotFallbackReason, number>>;
  /** Snapshot mode: bytes of stored snapshots read from Redis. */
  readonly snapshotBytes: number;
  /**
   * Snapshot mode: WAL positions from a message or a snapshot that Postgres contradicted (ahead
   * of the database): forged, or from a cluster since replaced. Each made the cache reload from Postgres.
   */
  readonly untrustedPositions: number;
  /** With a `replica`: table queries it served, having replayed what they had to include. */
  readonly replicaReads: number;
  /** With a `replica`: table queries the primary served instead (the replica lagged past `replicaWaitMs`, was down or failed). */
  readonly replicaFallbacks: number;
  /** {@link replicaFallbacks}, by reason. */
  readonly replicaFallbacksByReason: Readonly<Record<ReplicaFallbackReason, number>>;
}

/** Counters at zero, one per reason. */
function zeroByReason<K extends string>(reasons: readonly K[]): Record<K, number> {
  return Object.fromEntries(reasons.map((reason) => [reason, 0])) as Record<K, number>;
}

/** Every counter at zero, mutable for the subscriber that owns it. */
export function zeroStats() {
  return {
    notifications: 0,
    invalid: 0,
    invalidByReason: zeroByReason(INVALID_REASONS),
    resyncs: 0,
    reloads: 0,
    failedReloads: 0,
    staleEpoch: 0,
    duplicates: 0,
    gaps: 0,
    heartbeatsMissed: 0,
    snapshotMessages: 0,
    snapshotMessagesIgnored: 0,
    snapshotLoads: 0,
    snapshotFallbacks: 0,
    snapshotFallbacksByReason: zeroByReason(SNAPSHOT_FALLBACK_REASONS),
    snapshotBytes: 0,
    untrustedPositions: 0,
    replicaReads: 0,
    replicaFallbacks: 0,
    replicaFallbacksByReason: zeroByReason(REPLICA_FALLBACK_REASONS),
  };
}

/** The mutable counters a subscriber (and its snapshot mode) count in. */
export type MutableStats = ReturnType<typeof zeroStats>;

/** A snapshot callers may keep: later counting does not change it. */
export function copyStats(stats: SubscriberStats): SubscriberStats {
  return {
    ...stats,
    invalidByReason: { ...stats.invalidByReason },
    snapshotFallbacksByReason: { ...stats.snapshotFallbacksByReason },
    replicaFallbacksByReason: { ...stats.replicaFallbacksByReason },
  };
}
