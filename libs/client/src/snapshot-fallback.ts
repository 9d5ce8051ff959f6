/** Why a snapshot-mode load queried Postgres instead of using the stored snapshot. */
export type SnapshotFallbackReason =
  /** No snapshot is stored for the table (no worker yet, or the key expired or was lost). */
  | 'missing'
  /** The stored value failed to parse, its digest did not match, or a type parser refused a value. */
  | 'corrupt'
  /** The stored snapshot is older than a `snapshot` message announced. */
  | 'stale'
  /** An invalidate or resync was not followed by a covering snapshot within `snapshotWaitMs`. */
  | 'timeout'
  /** The cache has a `where` or `whereRaw` filter, which is SQL: a whole-table snapshot cannot apply it. */
  | 'where'
  /** The snapshot does not fit the cache: another table OID, a key column missing, or no primary key to order by. */
  | 'mismatch'
  /** Redis could not be read. */
  | 'unavailable'
  /** What the cache held claimed a WAL position Postgres contradicts: only Postgres is trusted. */
  | 'untrusted';

/** Every {@link SnapshotFallbackReason}, for counters that start at zero. */
export const SNAPSHOT_FALLBACK_REASONS: readonly SnapshotFallbackReason[] = Object.freeze([
  'missing',
  'corrupt',
  'stale',
  'timeout',
  'where',
  'mismatch',
  'unavailable',
  'untrusted',
]);
