import type { BackoffOptions } from '@pg-static-cache/postgres';
import {
  namesFor,
  parseSnapshot,
  type Signer,
  type Names,
  type Snapshot,
  type SnapshotMessage,
} from '@pg-static-cache/protocol';
import type pg from 'pg';
import type { ReloadReason } from './cache-reloader.ts';
import { ClientError, toError } from './errors.ts';
import type { ResyncCause } from './invalidation-source.ts';
import { lsnValue } from './lsn.ts';
import type { RedisOption } from './redis-connection.ts';
import type { SnapshotFallbackReason } from './snapshot-fallback.ts';
import { signerFor } from './signing-key.ts';
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
  readonly signingKey?: string | readonly string[];
}

/** Snapshot mode's half of a subscriber with these options, or undefined in other modes. */
export function snapshotModeFor(
  settings: SnapshotSettings,
  hooks: Pick<SnapshotModeOptions, 'stats' | 'request' | 'warn' | 'currentLsn'>,
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
    signer: signerFor(settings.signingKey),
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
  /** Verifies stored snapshots; with keys, unsigned or badly signed ones are not used. */
  readonly signer: Signer;
  readonly stats: MutableStats;
  /** Asks Postgres for its WAL position now (`pg_current_wal_lsn()`). */
  readonly currentLsn: () => Promise<bigint>;
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
  /** Highest WAL position Postgres itself reported to this process: positions up to it exist. */
  #ceiling = 0n;
  /** Highest LSN any message carried since the last Postgres answer; above it, a message lied. */
  #lsnClaimed = 0n;
  /** Caches whose held position awaits Postgres' word, and the one check running for all of them. */
  readonly #toVerify = new Set<AnyCache>();
  #verifying: Promise<void> | undefined;
  /** Kinds of lie already warned about: each is counted, but warned about once. */
  readonly #warnedLies = new Set<string>();
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
    if (lsn !== undefined) this.#claimed(lsn);
    for (const cache of caches) {
      if (lsn === undefined || unfit(cache) !== undefined) {
        this.#options.request(cache, 'change');
      } else if (this.#trackerOf(cache).invalidated(lsn) === 'verify') {
        this.#verify(cache);
      }
    }
  }

  /** A `snapshot` message; `caches` are those registered under its OID. */
  announced(caches: readonly AnyCache[], message: SnapshotMessage): void {
    this.#claimed(message.lsn);
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
    // The subscription was replaced: the path to Redis may have died under both connections, and
    // the reading one would only find out after a read timed out.
    if (cause === 'reconnect') this.#reader.reset();
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
    if (tracker.distrusted) return fallback('untrusted');
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
    const parsed = parseSnapshot(raw, this.#options.signer);
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
    tracker.swapped(snapshot, lsnValue(snapshot.lsn) <= this.#ceiling);
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
    const demandsAtStart = tracker.demands;
    // Read before the query starts, so the rows include every commit up to it.
    const lsnAtStart = await this.#currentLsn();
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

  #claimed(lsn: string): void {
    const value = lsnValue(lsn);
    if (value > this.#lsnClaimed) this.#lsnClaimed = value;
  }

  /**
   * Postgres' WAL position now, which also checks what messages claimed: every message received
   * so far was sent after its LSN was read, so a claim above the answer is a lie; and an answer
   * below an earlier one means the cluster was replaced (a restore, a new primary), so every
   * position held belongs to another history.
   */
  async #currentLsn(): Promise<bigint> {
    const claimed = this.#lsnClaimed;
    const current = await this.#options.currentLsn();
    if (claimed > current) {
      this.#lied('message-lsn', `a message claimed WAL position ${hex(claimed)}`, current);
      this.#lsnClaimed = current;
    }
    if (current < this.#ceiling) {
      this.#options.warn(
        new Error(
          `the database's WAL position went back from ${hex(this.#ceiling)} to ${hex(current)} ` +
            '(a restore, or a new cluster): every cache reloads from Postgres',
        ),
      );
      this.#ceiling = current;
      for (const [cache, tracker] of this.#trackers) {
        if (unfit(cache) === undefined) tracker.distrust();
      }
    }
    if (current > this.#ceiling) this.#ceiling = current;
    return current;
  }

  /** Asks Postgres whether the position `cache` holds exists; one query for every cache waiting. */
  #verify(cache: AnyCache): void {
    this.#toVerify.add(cache);
    if (this.#verifying !== undefined) return;
    this.#verifying = this.#runVerification().finally(() => {
      this.#verifying = undefined;
      // Asked for while the query ran: its answer may predate their positions.
      if (this.#toVerify.size > 0 && !this.#closed) {
        for (const waiting of this.#toVerify) this.#verify(waiting);
      }
    });
  }

  async #runVerification(): Promise<void> {
    // Let every invalidate of this tick join the one query.
    await Promise.resolve();
    const caches = [...this.#toVerify];
    this.#toVerify.clear();
    let current: bigint;
    try {
      current = await this.#currentLsn();
    } catch (error) {
      // Without Postgres' word the position is not trusted: load, and let the reload retry.
      if (!this.#closed) this.#options.warn(toError(error));
      for (const cache of caches) this.#trackerOf(cache).distrust();
      return;
    }
    for (const cache of caches) {
      const tracker = this.#trackerOf(cache);
      if (!tracker.checkedAgainst(current)) {
        const table = cache.table?.display ?? cache.options.table;
        this.#lied('snapshot-lsn', `the snapshot of ${table} claimed a WAL position`, current);
        tracker.distrust();
      }
    }
  }

  #lied(kind: string, claim: string, current: bigint): void {
    this.#options.stats.untrustedPositions += 1;
    if (this.#warnedLies.has(kind)) return;
    this.#warnedLies.add(kind);
    this.#options.warn(
      new Error(
        `${claim} ahead of the database's (${hex(current)}): ignored, the cache reloads from ` +
          'Postgres (further ones are only counted)',
      ),
    );
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

function hex(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffff_ffffn).toString(16).toUpperCase()}`;
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
