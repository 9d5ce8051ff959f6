import type { EventEmitter } from 'node:events';

/** Connection state of a subscriber, the same union in every mode. */
export type SubscriberStatus = 'connecting' | 'ready' | 'reconnecting' | 'closed';

/** What a source tells the subscriber. */
export interface SourceEvents {
  /** Something changed in the table (or partition) with this OID. */
  invalidate: [oid: number];
  /** Events may have been lost (reconnect, gap): every cache must reload. */
  resync: [];
  status: [SubscriberStatus];
  /** A message that could not be understood; counted and dropped. */
  invalid: [reason: string];
  /** A connection problem worth logging; the source keeps retrying by itself. */
  warning: [error: Error];
}

/**
 * Where invalidations come from: Postgres LISTEN in `direct` mode, Redis in later modes. The
 * subscriber only ever sees these events, so every mode shares the freshness rules.
 */
export interface InvalidationSource extends EventEmitter<SourceEvents> {
  /** Resolves once events flow; anything committed after that is seen. */
  start(): Promise<void>;
  close(): Promise<void>;
}
