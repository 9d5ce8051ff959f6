import type { EventEmitter } from 'node:events';
import type {
  RejectReason,
  SnapshotDeltaMessage,
  SnapshotMessage,
} from '@pg-static-cache/protocol';

/** Connection state of a subscriber, the same union in every mode. */
export type SubscriberStatus = 'connecting' | 'ready' | 'reconnecting' | 'closed';

/** Why a message was dropped: the protocol's reasons, or a NOTIFY payload that is not an OID (direct mode). */
export type InvalidReason = RejectReason | 'not-an-oid';

/** Every {@link InvalidReason}, for counters that start at zero. */
export const INVALID_REASONS: readonly InvalidReason[] = Object.freeze([
  'too-large',
  'not-json',
  'unknown-version',
  'invalid',
  'unsigned',
  'bad-signature',
  'not-an-oid',
]);

/** Why a well-formed message had no effect. */
export type DropReason = 'stale-epoch' | 'duplicate';

/** What may have lost events, or who asked for the resync. */
export type ResyncCause =
  /** The connection (LISTEN or Redis subscription) was re-established. */
  | 'reconnect'
  /** A `seq` was skipped within the leader's epoch. */
  | 'gap'
  /** A new leader epoch began. */
  | 'new-epoch'
  /**
   * Unsigned messages only: a message behind the position held (an older epoch, a seq already
   * seen). The position may have been forged, so the client follows the message and resyncs.
   */
  | 'out-of-order'
  /** The leader was silent longer than the heartbeat deadline and is heard again. */
  | 'silence'
  /** The bridge sent a `resync` message. */
  | 'message';

/** A request to reload every cache, or only those of the listed tables. */
export interface ResyncRequest {
  readonly cause: ResyncCause;
  /** `schema.name` of tables (or partitions) to reload; every cache when absent. */
  readonly tables?: readonly string[];
}

/** What a source tells the subscriber. */
export interface SourceEvents {
  /**
   * Something changed in the table (or partition) with this OID; `lsn` (redis mode) bounds the
   * commit's WAL position from above.
   */
  invalidate: [oid: number, lsn?: string];
  /** A reload worker stored a new snapshot of a table (redis source only; unfenced). */
  snapshot: [SnapshotMessage | SnapshotDeltaMessage];
  /** Events may have been lost (reconnect, gap, new leader, silence) or a resync was asked for. */
  resync: [ResyncRequest];
  status: [SubscriberStatus];
  /** A message that could not be understood; counted and dropped. */
  invalid: [reason: InvalidReason, detail: string];
  /** A well-formed message that was ignored; counted. */
  dropped: [reason: DropReason];
  /** The leader said nothing for `silentMs`: events may be lost until it is heard again. */
  heartbeatMissed: [silentMs: number];
  /** A connection problem worth logging; the source keeps retrying by itself. */
  warning: [error: Error];
}

/**
 * Where invalidations come from: Postgres LISTEN in `direct` mode, Redis in `redis` mode. The
 * subscriber only ever sees these events, so every mode shares the freshness rules.
 */
export interface InvalidationSource extends EventEmitter<SourceEvents> {
  /** Resolves once events flow; anything committed after that is seen. */
  start(): Promise<void>;
  close(): Promise<void>;
}
