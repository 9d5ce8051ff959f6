import type { BackoffOptions } from '@pg-static-cache/postgres';
import {
  namesFor,
  parseSnapshot,
  type Names,
  type Snapshot,
  type SnapshotMessage,
} from '@pg-static-cache/protocol';
import type pg from 'pg';
import type { ReloadReason } from './cache-reloader.ts';
import { ClientError } from './errors.ts';
import type { ResyncCause } from './invalidation-source.ts';
import { lsnValue } from './lsn.ts';
import type { RedisOption } from './redis-connection.ts';
import type { SnapshotFallbackReason } from './snapshot-fallback.ts';
import { SnapshotReader } from './snapshot-reader.ts';
import { snapshotRows, typeParsersOf, type TypeParsers } from './snapshot-rows.ts';
import { SnapshotTracker } from './snapshot-tracker.ts';
import type { AnyCache, Row } from './static-cache.ts';
import type { MutableStats } from './subscriber-stats.ts';

/** How long a cache waits for the snapshot that covers an invalidate or a resync. */
export const DEFAULT_SNAPSHOT_WAIT_MS = 2_000;

/** The `snapshotWaitMs` option, checked (JavaScript callers are not type-checked). */
export function snapshotWaitMs(option: number | undefined): number {
  const waitMs = option ?? DEFAULT_SNAPSHOT_WAIT_MS;
  if (!Number.isFinite(waitMs) || waitMs < 0) {
    throw new ClientError('INVALID_OPTIONS', `snapshotWaitMs must be a number ≥ 0, not ${waitMs}`);
  }
  return waitMs;
}

/** The subscriber options snapshot mode reads (see `SourceOptions`). */
export interface SnapshotSettings {
  readonly mode?: string;
  readonly pg: string | pg.PoolConfig | pg.Pool;
  readonly redis?: RedisOption;
  readonly namespace?: string;
  readonly snapshotWaitMs?: number;
  readonly backoff?: BackoffOptions;
}

/** Snapshot mode's half of a subscriber with these options, or undefined in other modes. */
export function snapshotModeFor(
  settings: SnapshotSettings,
  hooks: Pick<SnapshotModeOptions, 'stats' | 'request' | 'warn'>,
): SnapshotMode | undefined {
  if (settings.mode !== 'snapshot') return undefined;
  const { redis, backoff } = settings;
  // createSource refuses snapshot mode without `redis` first; checked again for the type.
  if (redis === undefined) throw new ClientError('INVALID_OPTIONS', 'snapshot mode needs redis');
  return new SnapshotMode({
    ...hooks,
    redis,
    names: namesFor(settings.namespace),
    ...(backoff === undefined ? {} : { backoff }),
    waitMs: snapshotWaitMs(settings.snapshotWaitMs),
    types: typeParsersOf(settings.pg),
  });
}

/** Rows of one cache and their column names, from either place. */
export interface LoadedRows {
  readonly rows: readonly Row[];
  readonly columns: readonly string[];
}

/** Where the rows of a reload came from. */
export type LoadSource =
  | { readonly source: 'snapshot' }
  | { readonly source: 'postgres'; readonly fallback?: SnapshotFallbackReason };

/** What the subscriber does for a load, whichever place the rows come from. */
export interface LoadSteps {
  /** The table query of direct and redis mode. */
  query(): Promise<LoadedRows>;
  /** Swaps the rows in and reports the reload; throws if the cache refuses them. */
  swap(loaded: LoadedRows, from: LoadSource): void;
  /** The rows held are as new as anything stored: no swap, but the cache is fresh again. */
  unchanged(): void;
}

/** Settings and hooks of {@link SnapshotMode}. */
export interface SnapshotModeOptions {
  readonly redis: RedisOption;
  readonly names: Names;
  readonly backoff?: BackoffOptions;
  readonly waitMs: number;
  readonly types: TypeParsers;
  readonly stats: MutableStats;
  /** Asks for a (single-flight) load of the cache. */
  readonly request: (cache: AnyCache, reason: ReloadReason) => void;
  readonly warn: (error: Error) => void;
}

/**
 * Snapshot mode's half of the subscriber: events arrive exactly as in redis mode, but a load reads
 * the table's snapshot from Redis and queries Postgres only when the snapshot cannot be trusted
 * (see {@link SnapshotTracker} for when a snapshot counts as fresh enough).
 */
export class SnapshotMode {
  readonly #options: SnapshotModeOptions;
  readonly #reader: SnapshotReader;
  readonly #trackers = new Map<AnyCache, SnapshotTracker>();
  /** Highest LSN any message carried: a Postgres query started later sees every commit up to it. */
  #lsnSeen = 0n;
  #closed = false;

  constructor(options: SnapshotModeOptions) {
    this.#options = options;
    this.#reader = new SnapshotReader(options.redis, options.names, options.backoff);
  }

  /** Connects the reading connection; rejects if Redis cannot be reached. */
  start(): Promise<void> {
    return this.#reader.start();
  }

  /** Ends every wait and the connection. Safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const tracker of this.#trackers.values()) tracker.close();
    await this.#reader.close();
  }

  /** An invalidate for `caches`: wait for the snapshot that covers it (or load now if none can). */
  invalidated(caches: readonly AnyCache[], lsn: string | undefined): void {
    if (lsn !== undefined) this.#saw(lsn);
    for (const cache of caches) {
      if (lsn === undefined || unfit(cache) !== undefined) this.#options.request(cache, 'change');
      else this.#trackerOf(cache).invalidated(lsn);
    }
  }

  /** A `snapshot` message; `caches` are those registered under its OID. */
  announced(caches: readonly AnyCache[], message: SnapshotMessage): void {
    this.#saw(message.lsn);
    for (const cache of caches) {
      // A snapshot of one partition is not the rows of the partitioned table that holds it.
      if (cache.table?.oid !== message.oid || unfit(cache) !== undefined) continue;
      this.#options.stats.snapshotMessages += 1;
      if (this.#trackerOf(cache).announced(message)) this.#options.request(cache, 'change');
      else this.#options.stats.snapshotMessagesIgnored += 1;
    }
  }

  /** A resync of `caches`; the subscriber asks for their loads right after. */
  resynced(caches: readonly AnyCache[], cause: ResyncCause, reason: ReloadReason): void {
    for (const cache of caches) {
      if (unfit(cache) === undefined) {
        this.#trackerOf(cache).resynced(reason, cause === 'reconnect');
      }
    }
  }

  /** Loads `cache` from its snapshot, or from Postgres when the snapshot cannot be used. */
  async load(cache: AnyCache, steps: LoadSteps): Promise<void> {
    const table = cache.table;
    if (table === undefined) throw new ClientError('CLOSED', 'cache table not resolved');
    const tracker = this.#trackerOf(cache);
    const fallback = (reason: SnapshotFallbackReason) => this.#fromPostgres(tracker, reason, steps);
    const misfit = unfit(cache);
    if (misfit !== undefined) return fallback(misfit);
    let raw: Buffer | null;
    try {
      raw = await this.#reader.read(table.display);
    } catch (error) {
      // A load that was running when the subscriber closed: nothing to warn about or fall back to.
      if (this.#closed) throw new ClientError('CLOSED', 'subscriber closed', { cause: error });
      this.#unusable(table.display, 'cannot be read', error);
      return fallback('unavailable');
    }
    if (raw === null) return fallback('missing');
    this.#options.stats.snapshotBytes += raw.length;
    const parsed = parseSnapshot(raw);
    if (!parsed.ok) {
      this.#unusable(table.display, `is corrupt (${parsed.reason}: ${parsed.detail})`);
      return fallback('corrupt');
    }
    const snapshot = parsed.snapshot;
    if (!fits(snapshot, cache)) return fallback('mismatch');
    const verdict = tracker.judge(snapshot);
    if (verdict === 'stale') return fallback('stale');
    // Overdue: the awaited snapshot did not come in time; only one that covers it may stand in.
    if (tracker.overdue && !(verdict === 'newer' && tracker.covers(snapshot))) {
      return fallback('timeout');
    }
    if (verdict === 'held') {
      tracker.held(snapshot);
      // While a wait runs the cache is knowingly behind: its status stays as it is.
      if (!tracker.waiting) steps.unchanged();
      return;
    }
    let rows: Row[];
    try {
      rows = snapshotRows(snapshot, this.#options.types);
    } catch (error) {
      // The digest proves the value is what the worker stored, not that a parser accepts it.
      this.#unusable(table.display, 'has a value the type parsers refuse', error);
      return fallback('corrupt');
    }
    steps.swap(
      { rows, columns: snapshot.fields.map((field) => field.name) },
      { source: 'snapshot' },
    );
    tracker.swapped(snapshot);
    this.#options.stats.snapshotLoads += 1;
    return;
  }

  async #fromPostgres(
    tracker: SnapshotTracker,
    reason: SnapshotFallbackReason,
    steps: LoadSteps,
  ): Promise<void> {
    const { stats } = this.#options;
    stats.snapshotFallbacks += 1;
    stats.snapshotFallbacksByReason[reason] += 1;
    const lsnAtStart = this.#lsnSeen;
    const demandsAtStart = tracker.demands;
    const loaded = await steps.query();
    steps.swap(loaded, { source: 'postgres', fallback: reason });
    tracker.loadedFromPostgres(lsnAtStart, demandsAtStart);
  }

  #unusable(table: string, problem: string, cause?: unknown): void {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    this.#options.warn(
      new Error(`snapshot of ${table} ${problem}${detail}; loading from Postgres`, { cause }),
    );
  }

  #saw(lsn: string): void {
    const value = lsnValue(lsn);
    if (value > this.#lsnSeen) this.#lsnSeen = value;
  }

  #trackerOf(cache: AnyCache): SnapshotTracker {
    let tracker = this.#trackers.get(cache);
    if (tracker === undefined) {
      tracker = new SnapshotTracker(this.#options.waitMs, (reason) =>
        this.#options.request(cache, reason),
      );
      this.#trackers.set(cache, tracker);
    }
    return tracker;
  }
}

/**
 * Why a cache can never load from a snapshot: `where` is SQL, which a whole-table snapshot
 * cannot apply (filtering in JavaScript would not mean the same); and a table without a primary
 * key has no order the snapshot and the cache's query are sure to share.
 */
function unfit(cache: AnyCache): SnapshotFallbackReason | undefined {
  if (cache.options.where !== undefined) return 'where';
  if (cache.table?.primaryKey.length === 0) return 'mismatch';
  return undefined;
}

/** The snapshot is of this cache's table and has every column the cache is keyed by. */
function fits(snapshot: Snapshot, cache: AnyCache): boolean {
  const table = cache.table;
  if (table === undefined || snapshot.oid !== table.oid || snapshot.table !== table.display) {
    return false;
  }
  const names = new Set(snapshot.fields.map((field) => field.name));
  return cache.keyColumns.every((column) => names.has(column));
}
