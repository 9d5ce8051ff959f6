import {
  currentWalPosition,
  lsnText,
  lsnValue,
  type BackoffOptions,
} from '@pg-static-cache/postgres';
import {
  parseSnapshot,
  snapshotContentDigest,
  type Signer,
  type Names,
  type Snapshot,
  type SnapshotDeltaMessage,
  type SnapshotMessage,
} from '@pg-static-cache/protocol';
import type { ReloadReason } from './cache-reloader.ts';
import { deltaRows } from './delta-rows.ts';
import { ClientError, toError } from './errors.ts';
import type { ResyncCause } from './invalidation-source.ts';
import { msOption } from './ms-option.ts';
import type { PostgresLoader } from './postgres-loader.ts';
import type { RedisOption } from './redis-connection.ts';
import type { LoadResult, LoaderContext, RowLoader } from './row-loader.ts';
import type { SnapshotFallbackReason } from './snapshot-fallback.ts';
import { SnapshotReader } from './snapshot-reader.ts';
import { snapshotRows, type ParsedSnapshot, type TypeParsers } from './snapshot-rows.ts';
import { isAfter, SnapshotTracker } from './snapshot-tracker.ts';
import type { AnyCache, Row } from './static-cache.ts';

/** How long a cache waits for the snapshot that covers an invalidate or a resync. */
export const DEFAULT_SNAPSHOT_WAIT_MS = 2_000;

/** The `snapshotWaitMs` option, checked (JavaScript callers are not type-checked). */
export function snapshotWaitMs(option: number | undefined): number {
  return msOption('snapshotWaitMs', option, DEFAULT_SNAPSHOT_WAIT_MS);
}

/** Settings of {@link SnapshotLoader}. */
export interface SnapshotLoaderOptions {
  readonly context: LoaderContext;
  /** Loads what a snapshot cannot stand in for. */
  readonly postgres: PostgresLoader;
  readonly redis: RedisOption;
  readonly names: Names;
  readonly backoff?: BackoffOptions;
  readonly waitMs: number;
  readonly types: TypeParsers;
  /** Verifies stored snapshots; with keys, unsigned or badly signed ones are not used. */
  readonly signer: Signer;
}

/** What a load returned, kept until the subscriber says it swapped the rows in. */
type Unswapped =
  | { readonly source: 'snapshot'; readonly snapshot: Snapshot; readonly delta: boolean }
  | { readonly source: 'postgres'; readonly lsnAtStart: bigint; readonly demandsAtStart: number };

/**
 * Snapshot mode's rows: events arrive exactly as in redis mode, but a load reads the table's
 * snapshot from Redis and queries Postgres only when the snapshot cannot be trusted (see
 * {@link SnapshotTracker} for when a snapshot counts as fresh enough). An invalidate does not ask
 * for a load at once: the worker is already making the snapshot that covers it.
 */
export class SnapshotLoader implements RowLoader {
  readonly #options: SnapshotLoaderOptions;
  readonly #context: LoaderContext;
  readonly #reader: SnapshotReader;
  readonly #trackers = new Map<AnyCache, SnapshotTracker>();
  readonly #unswapped = new Map<AnyCache, Unswapped>();
  /** The snapshot each cache's rows came from, while they still do: its next one parses only what changed. */
  readonly #parsed = new Map<AnyCache, ParsedSnapshot>();
  /** The newest delta announced for each cache and not loaded yet. */
  readonly #deltas = new Map<AnyCache, SnapshotDeltaMessage>();
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

  constructor(options: SnapshotLoaderOptions) {
    this.#options = options;
    this.#context = options.context;
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
    await Promise.all([this.#reader.close(), this.#options.postgres.close()]);
  }

  /** An invalidate for `caches`: wait for the snapshot that covers it (or load now if none can). */
  invalidated(caches: readonly AnyCache[], lsn: string | undefined): void {
    if (lsn !== undefined) this.#claimed(lsn);
    for (const cache of caches) {
      if (lsn === undefined || unfit(cache) !== undefined) {
        this.#context.request(cache, 'change');
      } else if (this.#trackerOf(cache).invalidated(lsn) === 'verify') {
        this.#verify(cache);
      }
    }
  }

  /**
   * A `snapshot` message: the caches registered under its OID load it if it is newer. A
   * `snapshot-delta` comes right before the `snapshot` message of its version: kept, the load
   * applies it to the rows held when they are its base, and that `snapshot` message then asks for
   * nothing more.
   */
  announced(message: SnapshotMessage | SnapshotDeltaMessage): void {
    const { bindings, stats } = this.#context;
    const caches = bindings.byOid(message.oid);
    // A table we do not know by this OID may be one created or renamed under a name we follow.
    if (caches.length === 0) bindings.unknownOid(message.oid);
    this.#claimed(message.lsn);
    for (const cache of caches) {
      // A snapshot of one partition is not the rows of the partitioned table that holds it.
      if (cache.table?.oid !== message.oid || unfit(cache) !== undefined) continue;
      stats.snapshotMessages += 1;
      const delta = this.#deltas.get(cache);
      if (message.type === 'snapshot-delta') {
        if (delta === undefined || isAfter(message, delta)) this.#deltas.set(cache, message);
      } else if (delta !== undefined && !isAfter(message, delta)) {
        // The version's delta will be loaded: reading the stored value too would be for nothing.
        stats.snapshotMessagesIgnored += 1;
        continue;
      }
      if (this.#trackerOf(cache).announced(message)) this.#context.request(cache, 'change');
      else stats.snapshotMessagesIgnored += 1;
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

  /** `cache`'s rows from its snapshot, or from Postgres when the snapshot cannot be used. */
  async load(cache: AnyCache): Promise<LoadResult> {
    this.#unswapped.delete(cache);
    const table = cache.table;
    if (table === undefined) throw new ClientError('CLOSED', 'cache table not resolved');
    const tracker = this.#trackerOf(cache);
    const fallback = (reason: SnapshotFallbackReason) => this.#fromPostgres(cache, tracker, reason);
    const misfit = unfit(cache);
    if (misfit !== undefined) return fallback(misfit);
    if (tracker.distrusted) return fallback('untrusted');
    const delta = this.#deltas.get(cache);
    this.#deltas.delete(cache);
    const applied = delta === undefined ? undefined : this.#fromDelta(cache, tracker, delta);
    if (applied !== undefined) return applied;
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
    this.#context.stats.snapshotBytes += raw.length;
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
      return { kind: tracker.waiting ? 'waiting' : 'unchanged' };
    }
    let rows: Row[];
    try {
      rows = snapshotRows(snapshot, this.#options.types, this.#parsed.get(cache));
    } catch (error) {
      // The digest proves the value is what the worker stored, not that a parser accepts it.
      this.#unusable(table.display, 'has a value the type parsers refuse', error);
      return fallback('corrupt');
    }
    this.#unswapped.set(cache, { source: 'snapshot', snapshot, delta: false });
    const columns = snapshot.fields.map((field) => field.name);
    return { kind: 'rows', rows, columns, source: 'snapshot' };
  }

  /** What the last load of `cache` returned is now held: its position and version count from now. */
  swapped(cache: AnyCache): void {
    const loaded = this.#unswapped.get(cache);
    if (loaded === undefined) return;
    this.#unswapped.delete(cache);
    const tracker = this.#trackerOf(cache);
    if (loaded.source === 'postgres') {
      this.#parsed.delete(cache);
      tracker.loadedFromPostgres(loaded.lsnAtStart, loaded.demandsAtStart);
      return;
    }
    const { snapshot } = loaded;
    // The cache's rows are the snapshot's, index for index (unchanged ones carried over as they were).
    const rows = cache.rows() as readonly Row[];
    this.#parsed.set(cache, { snapshot, rows });
    tracker.swapped(snapshot, lsnValue(snapshot.lsn) <= this.#ceiling);
    this.#context.stats.snapshotLoads += 1;
    if (loaded.delta && !this.#options.signer.enabled) this.#checkLater(cache, snapshot);
  }

  /**
   * The rows of `delta` applied to the snapshot the cache holds, when it holds exactly the
   * delta's base and the delta fits it; undefined otherwise (the caller reads the stored value).
   */
  #fromDelta(
    cache: AnyCache,
    tracker: SnapshotTracker,
    delta: SnapshotDeltaMessage,
  ): LoadResult | undefined {
    const base = this.#parsed.get(cache);
    if (base === undefined || !tracker.holds(delta.generation, delta.from, delta.fromDigest)) {
      return undefined;
    }
    if (tracker.judge(delta) !== 'newer' || (tracker.overdue && !tracker.covers(delta))) {
      return undefined;
    }
    const built = deltaRows(base, delta, this.#options.types);
    if ('problem' in built) {
      this.#unusable(cache.name, built.problem, built.cause);
      return undefined;
    }
    const { snapshot, rows } = built;
    if (!fits(snapshot, cache)) return undefined;
    this.#unswapped.set(cache, { source: 'snapshot', snapshot, delta: true });
    const columns = snapshot.fields.map((field) => field.name);
    return { kind: 'rows', rows, columns, source: 'snapshot', delta: true };
  }

  /**
   * Unsigned, rows built from a delta are checked against the worker's digest right after they
   * are served rather than before: the check stringifies the whole table, the cost deltas save.
   * A mismatch (a bug, or a forged delta) is warned about and the cache reloads from Postgres.
   * Signed, the signature already vouches for the delta, and the base was the worker's own.
   */
  #checkLater(cache: AnyCache, snapshot: Snapshot): void {
    setImmediate(() => {
      if (this.#closed || snapshotContentDigest(snapshot) === snapshot.digest) return;
      this.#unusable(cache.name, 'built from a delta does not match its digest');
      this.#parsed.delete(cache);
      this.#trackerOf(cache).distrust();
    });
  }

  async #fromPostgres(
    cache: AnyCache,
    tracker: SnapshotTracker,
    reason: SnapshotFallbackReason,
  ): Promise<LoadResult> {
    const { stats } = this.#context;
    stats.snapshotFallbacks += 1;
    stats.snapshotFallbacksByReason[reason] += 1;
    const demandsAtStart = tracker.demands;
    // Read before the query starts, so the rows include every commit up to it: the primary's
    // include it once the query starts, a replica's only once it replayed it, so it is also what
    // a replica read waits for (never less, or the position held would claim commits it lacks).
    const lsnAtStart = await this.#currentLsn();
    const loaded = await this.#options.postgres.query(cache, lsnAtStart);
    this.#unswapped.set(cache, { source: 'postgres', lsnAtStart, demandsAtStart });
    return { kind: 'rows', ...loaded, source: 'postgres', fallback: reason };
  }

  #unusable(table: string, problem: string, cause?: unknown): void {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    this.#context.warn(
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
    const current = await currentWalPosition(this.#context.pool);
    if (claimed > current) {
      this.#lied('message-lsn', `a message claimed WAL position ${lsnText(claimed)}`, current);
      this.#lsnClaimed = current;
    }
    if (current < this.#ceiling) {
      this.#context.warn(
        new Error(
          `the database's WAL position went back from ${lsnText(this.#ceiling)} to ${lsnText(current)} ` +
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
      if (!this.#closed) this.#context.warn(toError(error));
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
    this.#context.stats.untrustedPositions += 1;
    if (this.#warnedLies.has(kind)) return;
    this.#warnedLies.add(kind);
    this.#context.warn(
      new Error(
        `${claim} ahead of the database's (${lsnText(current)}): ignored, the cache reloads from ` +
          'Postgres (further ones are only counted)',
      ),
    );
  }

  #trackerOf(cache: AnyCache): SnapshotTracker {
    let tracker = this.#trackers.get(cache);
    if (tracker === undefined) {
      tracker = new SnapshotTracker(this.#options.waitMs, (reason) =>
        this.#context.request(cache, reason),
      );
      this.#trackers.set(cache, tracker);
    }
    return tracker;
  }
}

/**
 * Why a cache can never load from a snapshot: `where` (or `whereRaw`) is SQL, which a whole-table snapshot
 * cannot apply (filtering in JavaScript would not mean the same); and a table without a primary
 * key has no order the snapshot and the cache's query are sure to share.
 */
function unfit(cache: AnyCache): SnapshotFallbackReason | undefined {
  if (cache.filter !== undefined) return 'where';
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
