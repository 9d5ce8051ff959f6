export {
  StaticCache,
  type StaticCacheOptions,
  type CacheStatus,
  type Row,
} from './static-cache.ts';
export {
  Subscriber,
  createSubscriber,
  type AnyCache,
  type SubscriberMode,
  type SubscriberOptions,
  type SubscriberEvents,
  type SubscriberStats,
  type ReloadEvent,
  type StaleEvent,
} from './subscriber.ts';
export type { SubscriberStatus } from './invalidation-source.ts';
export type { ReloadReason } from './cache-reloader.ts';
export { ClientError, type ClientErrorCode } from './errors.ts';
