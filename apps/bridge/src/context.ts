import type { ResolvedTable, TriggerOptions } from '@pg-static-cache/postgres';
import type { InvalidateMessage, Message, Names, ResyncMessage } from '@pg-static-cache/protocol';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { BridgeConfig } from './config.ts';
import type { LeaderLock } from './leader-lock.ts';
import type { LsnReader } from './lsn-reader.ts';
import type { BridgeMetrics } from './metrics.ts';
import type { Presence } from './presence.ts';
import type { ResyncReport } from './scheduled-resync.ts';
import type { TableCache } from './table-cache.ts';

/** Internal extension points (reload jobs are added through these, see reload-queue.ts). */
export interface BridgeHooks {
  /**
   * After each invalidate is published, with the watched table the changed relation belongs to
   * (the relation itself when it is not part of a watched table). Errors are logged, never thrown.
   */
  readonly onInvalidate?: (
    message: InvalidateMessage,
    table: ResolvedTable,
  ) => void | Promise<void>;
  /** After each resync is published (its `tables`, or all when absent). Errors are logged, never thrown. */
  readonly onResync?: (message: ResyncMessage) => void | Promise<void>;
}

/** Everything one bridge's parts share: config, connections, metrics, logger. Built once by the bridge. */
export interface BridgeContext {
  readonly config: BridgeConfig;
  readonly names: Names;
  readonly triggerOptions: TriggerOptions;
  /** General pool: lock polling, catalog lookups, scheduled resync. */
  readonly pool: pg.Pool;
  /** LSN reads on the notification path, on their own connection so a long digest cannot delay them. */
  readonly lsn: LsnReader;
  /** Commands: lease, fenced publishes, status (never in subscriber mode). */
  readonly redis: Redis;
  readonly metrics: BridgeMetrics;
  readonly logger: Logger;
  readonly lock: LeaderLock;
  readonly tables: TableCache;
  readonly presence: Presence;
  readonly hooks: BridgeHooks;
  /** Called for every message that went out. */
  readonly onPublished: (message: Message) => void;
  /** Called with each scheduled resync report. */
  readonly onReport: (report: ResyncReport) => void;
}
