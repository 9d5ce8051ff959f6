import { INVALID_REASONS, type InvalidReason } from './invalidation-source.ts';

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
}

/** Every counter at zero, mutable for the subscriber that owns it. */
export function zeroStats() {
  return {
    notifications: 0,
    invalid: 0,
    invalidByReason: Object.fromEntries(INVALID_REASONS.map((r) => [r, 0])) as Record<
      InvalidReason,
      number
    >,
    resyncs: 0,
    reloads: 0,
    failedReloads: 0,
    staleEpoch: 0,
    duplicates: 0,
    gaps: 0,
    heartbeatsMissed: 0,
  };
}

/** A snapshot callers may keep: later counting does not change it. */
export function copyStats(stats: SubscriberStats): SubscriberStats {
  return { ...stats, invalidByReason: { ...stats.invalidByReason } };
}
