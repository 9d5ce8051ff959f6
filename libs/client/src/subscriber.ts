import { EventEmitter } from 'node:events';
import pg from 'pg';
import { CacheReloader, type LoadTarget, type ReloadReason } from './cache-reloader.ts';
import { createRowLoader } from './create-loader.ts';
import { createSource } from './create-source.ts';
import { ClientError } from './errors.ts';
import { msOption } from './ms-option.ts';
import type {
  InvalidationSource,
  InvalidReason,
  ResyncRequest,
  SubscriberStatus,
} from './invalidation-source.ts';
import type { LoadResult, RowLoader } from './row-loader.ts';
import { markFresh, markStale, swapRows, type AnyCache } from './static-cache.ts';
import { copyStats, zeroStats, type SubscriberStats } from './subscriber-stats.ts';
import { TableBindings } from './table-bindings.ts';

import type { SubscriberEvents, SubscriberOptions } from './subscriber-events.ts';

export type { AnyCache } from './static-cache.ts';
export type {
  ReloadEvent,
  StaleEvent,
  SubscriberEvents,
  SubscriberOptions,
} from './subscriber-events.ts';

const EVENTS_MAY_BE_MISSING = 'events may be missing: the subscriber is reconnecting';

/** Direct mode: how often every cached name is looked up again (a DROP or RENAME sends no NOTIFY). */
export const DEFAULT_TABLE_CHECK_INTERVAL_MS = 30_000;

/**
 * Keeps a set of caches equal to their tables: loads them all once events flow, reloads the ones
 * an event names, and reloads everything whenever events may have been lost.
 */
export class Subscriber extends EventEmitter<SubscriberEvents> {
  readonly options: Readonly<SubscriberOptions>;
  readonly #caches: readonly AnyCache[];
  readonly #ownsPool: boolean;
  readonly #pool: pg.Pool;
  readonly #reloaders = new Map<AnyCache, CacheReloader>();
  readonly #bindings: TableBindings;
  readonly #tableCheckMs: number;
  readonly #source: InvalidationSource;
  readonly #loader: RowLoader;
  /** Reasons already logged: a flood of bad messages is counted, but warned about once per kind. */
  readonly #warnedInvalid = new Set<InvalidReason>();
  #status: SubscriberStatus = 'connecting';
  #started = false;
  #stats = zeroStats();

  constructor(options: SubscriberOptions) {
    super();
    if (options.caches.length === 0) {
      throw new ClientError('NO_CACHES', 'a subscriber needs at least one StaticCache');
    }
    this.options = Object.freeze({ ...options, caches: Object.freeze([...options.caches]) });
    this.#caches = this.options.caches;
    // Built (not connected) here, so bad options fail at once rather than at start().
    this.#source = this.#wire(createSource(this.options));
    this.#tableCheckMs = tableCheckIntervalMs(this.options);
    this.#ownsPool = !(options.pg instanceof pg.Pool);
    this.#pool =
      options.pg instanceof pg.Pool
        ? options.pg
        : new pg.Pool(
            typeof options.pg === 'string' ? { connectionString: options.pg, max: 4 } : options.pg,
          );
    // An idle pooled client that loses its server emits here; without a listener it would crash the app.
    this.#pool.on('error', (error) => this.#warn(error));
    this.#bindings = new TableBindings(this.#pool, this.#caches, {
      reload: (cache) => this.#reloaderOf(cache).request('change'),
      warn: (error) => this.#warn(error),
    });
    this.#loader = createRowLoader(this.options, {
      pool: this.#pool,
      bindings: this.#bindings,
      stats: this.#stats,
      request: (cache, reason, lsn) => this.#reloaderOf(cache).request(reason, lsn),
      warn: (error) => this.#warn(error),
    });
  }

  /** Current connection state. */
  get status(): SubscriberStatus {
    return this.#status;
  }

  /** Counters since start. */
  get stats(): SubscriberStats {
    return copyStats(this.#stats);
  }

  /** The caches this subscriber keeps. */
  get caches(): readonly AnyCache[] {
    return this.#caches;
  }

  /**
   * Resolves every table, starts listening, then loads every cache. Listening first means a commit
   * that lands during the first load is not lost (Sequel loads first and can miss it).
   */
  async start(): Promise<void> {
    if (this.#started) throw new ClientError('ALREADY_STARTED', 'subscriber already started');
    this.#started = true;
    try {
      await this.#bindings.bindAll();
      await this.#source.start();
      await this.#loader.start();
      // close() may have run while LISTEN was being set up; nothing may load after it.
      if (this.#status === 'closed') {
        throw new ClientError('CLOSED', 'subscriber was closed while starting');
      }
      await Promise.all(this.#caches.map((cache) => this.#reloaderOf(cache).loadNow('start')));
      if (this.#status === 'connecting') this.#setStatus('ready');
      this.#bindings.checkEvery(this.#tableCheckMs);
    } catch (error) {
      await this.close();
      if (error instanceof ClientError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new ClientError('START_FAILED', `cannot start: ${message}`, { cause: error });
    }
  }

  /**
   * Reloads every cache now (e.g. after a bulk change made with triggers disabled). Snapshot mode
   * treats it as a resync from the bridge: stored snapshots load at once, and a cache that sees
   * no newer snapshot announced within `snapshotWaitMs` queries its table.
   */
  resyncAll(): void {
    this.#resync({ cause: 'message' });
  }

  /** Resolves when no reload is running or queued. */
  async idle(): Promise<void> {
    await Promise.all([...this.#reloaders.values()].map((r) => r.idle()));
  }

  /** Stops listening, retrying and (if it made it) the pool. Caches keep their last rows. Safe twice. */
  async close(): Promise<void> {
    if (this.#status === 'closed') return;
    this.#setStatus('closed');
    for (const reloader of this.#reloaders.values()) reloader.close();
    this.#bindings.close();
    await this.#source.close();
    await this.#loader.close();
    await this.idle();
    if (this.#ownsPool) await this.#pool.end().catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #wire(source: InvalidationSource): InvalidationSource {
    source.on('invalidate', (oid, lsn) => {
      this.#stats.notifications += 1;
      const caches = this.#bindings.byOid(oid);
      // A table we do not know by this OID may be one created or renamed under a name we follow.
      if (caches.length === 0) this.#bindings.unknownOid(oid);
      this.#loader.invalidated(caches, lsn);
    });
    source.on('snapshot', (message) => this.#loader.announced(message));
    source.on('resync', (request) => this.#resync(request));
    source.on('invalid', (reason, detail) => {
      this.#stats.invalid += 1;
      this.#stats.invalidByReason[reason] += 1;
      if (this.#warnedInvalid.has(reason)) return;
      this.#warnedInvalid.add(reason);
      this.#warn(
        new Error(`dropped a message (${reason}; further ones are only counted): ${detail}`),
      );
    });
    source.on('dropped', (reason) => {
      if (reason === 'stale-epoch') this.#stats.staleEpoch += 1;
      else this.#stats.duplicates += 1;
    });
    source.on('heartbeatMissed', (silentMs) => {
      this.#stats.heartbeatsMissed += 1;
      this.#warn(new Error(`no message from the bridge for ${silentMs} ms: caches are stale`));
    });
    source.on('warning', (error) => this.#warn(error));
    source.on('status', (status) => {
      if (this.#status === 'closed' || status === 'closed') return;
      // While reconnecting, events may be missing: caches are marked stale until the resync reload.
      if (status === 'reconnecting') {
        for (const cache of this.#caches) cache[markStale](new Error(EVENTS_MAY_BE_MISSING));
      }
      if (this.#status !== 'connecting' || status !== 'ready') this.#setStatus(status);
    });
    return source;
  }

  #resync({ cause, tables }: ResyncRequest): void {
    this.#stats.resyncs += 1;
    if (cause === 'gap') this.#stats.gaps += 1;
    const reason: ReloadReason = cause === 'reconnect' ? 'reconnect' : 'resync';
    // Listed names select among our own caches; a name we do not hold selects nothing.
    const caches = tables === undefined ? this.#caches : this.#bindings.byNames(tables);
    this.#loader.resynced(caches, cause, reason);
    for (const cache of caches) this.#reloaderOf(cache).request(reason);
  }

  #reloaderOf(cache: AnyCache): CacheReloader {
    let reloader = this.#reloaders.get(cache);
    if (reloader === undefined) {
      reloader = new CacheReloader(
        {
          load: (reason, target) => this.#load(cache, reason, target),
          failed: (error, retryInMs) => {
            this.#stats.failedReloads += 1;
            cache[markStale](error);
            this.emit('stale', { cache, error, retryInMs });
          },
        },
        this.options.backoff,
      );
      // Asked for after close(): it must not query the ended pool and then retry forever.
      if (this.#status === 'closed') reloader.close();
      this.#reloaders.set(cache, reloader);
    }
    return reloader;
  }

  async #load(cache: AnyCache, reason: ReloadReason, target: LoadTarget): Promise<void> {
    const started = performance.now();
    // A cache whose name was found naming no table, or another one, is re-resolved before
    // anything loads: a stored snapshot of the table that went away is no rows of its name.
    await this.#bindings.settle(cache);
    const result = await this.#loader.load(cache, target);
    switch (result.kind) {
      case 'unchanged':
        if (this.#status !== 'reconnecting') cache[markFresh]();
        return;
      case 'waiting':
        return;
      case 'rows':
        this.#swap(cache, reason, result, started);
        this.#loader.swapped(cache);
        return;
    }
  }

  #swap(
    cache: AnyCache,
    reason: ReloadReason,
    loaded: Extract<LoadResult, { kind: 'rows' }>,
    started: number,
  ): void {
    const swapped = cache[swapRows](loaded.rows, loaded.columns);
    // Rows loaded while events are not flowing may already be outdated by a change nobody told us
    // about: only the resync after the reconnect makes the cache fresh again.
    if (this.#status === 'reconnecting') cache[markStale](new Error(EVENTS_MAY_BE_MISSING));
    this.#stats.reloads += 1;
    this.emit('reload', {
      source: loaded.source,
      ...(loaded.fallback === undefined ? {} : { fallback: loaded.fallback }),
      ...(loaded.replica === undefined ? {} : { replica: loaded.replica }),
      ...(loaded.delta === undefined ? {} : { delta: loaded.delta }),
      cache,
      version: swapped.version,
      rows: loaded.rows.length,
      ms: performance.now() - started,
      reason,
      // Computed only when read (`watch` does): most apps never look at it.
      get digest() {
        return swapped.digest();
      },
    });
  }

  #setStatus(status: SubscriberStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.emit('status', status);
  }

  #warn(error: Error): void {
    if (this.listenerCount('warning') > 0) this.emit('warning', error);
  }
}

/** The `tableCheckIntervalMs` option, checked (JavaScript callers are not type-checked), with its per-mode default. */
function tableCheckIntervalMs(options: SubscriberOptions): number {
  const fallback = (options.mode ?? 'direct') === 'direct' ? DEFAULT_TABLE_CHECK_INTERVAL_MS : 0;
  return msOption('tableCheckIntervalMs', options.tableCheckIntervalMs, fallback);
}

/** Creates a subscriber; call `start()` to load the caches and begin following changes. */
export function createSubscriber(options: SubscriberOptions): Subscriber {
  return new Subscriber(options);
}
