export {
  StaticCache,
  type StaticCacheOptions,
  type CacheStatus,
  type Row,
} from './static-cache.ts';
export { sql, type SqlFragment } from './sql.ts';
export { Subscriber, createSubscriber, type AnyCache } from './subscriber.ts';
export type {
  SubscriberOptions,
  SubscriberEvents,
  ReloadEvent,
  StaleEvent,
} from './subscriber-events.ts';
export type { SubscriberMode, SourceOptions } from './create-source.ts';
export type { SubscriberStats } from './subscriber-stats.ts';
export type { SnapshotFallbackReason } from './snapshot-fallback.ts';
export { DEFAULT_SNAPSHOT_WAIT_MS } from './snapshot-loader.ts';
export { DEFAULT_REPLICA_WAIT_MS, type ReplicaOutcome } from '@pg-static-cache/postgres';
export type { ReplicaOption } from './replica.ts';
export { RedisSource, DEFAULT_BRIDGE_SILENCE_MS, type RedisSourceOptions } from './redis-source.ts';
export type {
  InvalidationSource,
  SourceEvents,
  SubscriberStatus,
  InvalidReason,
  DropReason,
  ResyncCause,
  ResyncRequest,
} from './invalidation-source.ts';
export type { ReloadReason } from './cache-reloader.ts';
export { ClientError, type ClientErrorCode } from './errors.ts';
