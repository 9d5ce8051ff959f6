// `@pg-static-cache/client/metrics`: Prometheus metrics of a subscriber and its caches, for an
// app's own prom-client registry. A subpath of its own, so that the main entry never loads
// prom-client (an optional peer dependency). Gauges and counters are read from the subscriber
// when the registry is scraped, so nothing here keeps a second copy of its state.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ClientError } from './errors.ts';
import type { SubscriberStatus } from './invalidation-source.ts';
import type { AnyCache } from './static-cache.ts';
import type { ReloadEvent } from './subscriber-events.ts';
import type { Subscriber } from './subscriber.ts';

/** Buckets of `psc_client_cache_reload_duration_seconds`: a 1 ms snapshot read to a 30 s query. */
export const DEFAULT_RELOAD_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]);

/** Options of {@link registerCacheMetrics}. */
export interface CacheMetricsOptions {
  /** Buckets of the reload duration histogram, in seconds. @default DEFAULT_RELOAD_BUCKETS */
  readonly buckets?: readonly number[];
}

/** The metrics {@link registerCacheMetrics} added; `unregister()` takes them out again. */
export interface CacheMetrics extends Disposable {
  /** Removes the metrics from the registry and stops observing reloads. Safe twice. */
  unregister(): void;
}

const STATUSES: readonly SubscriberStatus[] = ['connecting', 'ready', 'reconnecting', 'closed'];

/** The labels of a cache's series: its table (`schema.name` once resolved) and its name. */
function cacheLabels(cache: AnyCache): { table: string; cache: string } {
  return { table: cache.table?.display ?? cache.options.table, cache: cache.name };
}

/**
 * Adds the metrics of `subscriber` and its caches to `registry` (one subscriber per registry):
 *
 * - per cache, labels `table` and `cache`: `psc_client_cache_rows`, `psc_client_cache_version`,
 *   `psc_client_cache_age_seconds` (since the rows served were loaded), `psc_client_cache_stale`
 *   (0 only while fresh) and the histogram `psc_client_cache_reload_duration_seconds` (label
 *   `source`: postgres or snapshot);
 * - per subscriber: `psc_client_subscriber_status{status}` and the counters of
 *   `subscriber.stats` (`psc_client_*_total`); every one is listed in docs/metrics.md.
 *
 * Throws ClientError INVALID_OPTIONS when `registry` already holds them.
 */
export function registerCacheMetrics(
  subscriber: Subscriber,
  registry: Registry,
  options: CacheMetricsOptions = {},
): CacheMetrics {
  if (registry.getSingleMetric('psc_client_cache_rows') !== undefined) {
    throw new ClientError(
      'INVALID_OPTIONS',
      'this registry already holds cache metrics: register one subscriber per registry',
    );
  }
  const registers = [registry];
  const names: string[] = [];
  const caches = subscriber.caches;

  const cacheGauge = (
    name: string,
    help: string,
    value: (cache: AnyCache) => number | undefined,
  ) => {
    names.push(name);
    return new Gauge({
      name,
      help,
      labelNames: ['table', 'cache'],
      registers,
      collect() {
        this.reset();
        for (const cache of caches) {
          const v = value(cache);
          if (v !== undefined) this.set(cacheLabels(cache), v);
        }
      },
    });
  };
  cacheGauge('psc_client_cache_rows', 'Rows the cache holds', (cache) => cache.size);
  cacheGauge(
    'psc_client_cache_version',
    'Version of the rows the cache serves: 0 before the first load, +1 per reload that swapped rows',
    (cache) => cache.version,
  );
  cacheGauge(
    'psc_client_cache_age_seconds',
    'Seconds since the rows the cache serves were loaded (absent before the first load); grows while the table does not change, so alert on psc_client_cache_stale',
    (cache) => {
      const loadedAt = cache.loadedAt;
      return loadedAt === undefined ? undefined : (Date.now() - loadedAt.getTime()) / 1000;
    },
  );
  cacheGauge(
    'psc_client_cache_stale',
    '0 while the cache is fresh; 1 while its reloads fail or events may be missing (it serves its last good rows), or before its first load',
    (cache) => (cache.status === 'fresh' ? 0 : 1),
  );

  names.push('psc_client_subscriber_status');
  new Gauge({
    name: 'psc_client_subscriber_status',
    help: '1 for the subscriber status now (connecting, ready, reconnecting, closed), 0 for the others',
    labelNames: ['status'],
    registers,
    collect() {
      for (const status of STATUSES) this.set({ status }, subscriber.status === status ? 1 : 0);
    },
  });

  // Counters that mirror subscriber.stats, set from the subscriber's own counts at scrape time.
  type Stats = Subscriber['stats'];
  const totalCounter = (name: string, help: string, count: (stats: Stats) => number) => {
    names.push(name);
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(count(subscriber.stats));
      },
    });
  };
  const reasonCounter = (
    name: string,
    help: string,
    count: (stats: Stats) => Readonly<Record<string, number>>,
  ) => {
    names.push(name);
    new Counter({
      name,
      help,
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, value] of Object.entries(count(subscriber.stats))) {
          this.inc({ reason }, value);
        }
      },
    });
  };
  reasonCounter(
    'psc_client_invalid_messages_total',
    'Messages dropped as unreadable, by reason (too-large, not-json, unknown-version, invalid, unsigned, bad-signature, not-an-oid)',
    (stats) => stats.invalidByReason,
  );
  totalCounter(
    'psc_client_resyncs_total',
    'Resyncs: every cache (or the listed ones) reloaded because events may have been lost',
    (stats) => stats.resyncs,
  );
  totalCounter(
    'psc_client_seq_gaps_total',
    'Skipped message seqs seen (each caused a resync): messages lost between the bridge and this app',
    (stats) => stats.gaps,
  );
  totalCounter(
    'psc_client_heartbeats_missed_total',
    'Times the bridge stayed silent past the heartbeat deadline (redis and snapshot mode)',
    (stats) => stats.heartbeatsMissed,
  );
  totalCounter(
    'psc_client_reload_failures_total',
    'Reloads that failed (the cache kept its last good rows and retried with backoff)',
    (stats) => stats.failedReloads,
  );
  reasonCounter(
    'psc_client_snapshot_fallbacks_total',
    'Snapshot mode: loads that queried Postgres instead of using a stored snapshot, by reason',
    (stats) => stats.snapshotFallbacksByReason,
  );
  totalCounter(
    'psc_client_replica_reads_total',
    'Table queries the read replica served, once it had replayed what they had to include',
    (stats) => stats.replicaReads,
  );
  reasonCounter(
    'psc_client_replica_fallbacks_total',
    'Table queries meant for the read replica that the primary served, by reason: lagging (not replayed within replicaWaitMs) or unavailable (down, failing, or no replica of the primary)',
    (stats) => stats.replicaFallbacksByReason,
  );
  totalCounter(
    'psc_client_untrusted_positions_total',
    'WAL positions from a message or snapshot that Postgres contradicted (forged, or from a replaced cluster); each made the cache query Postgres',
    (stats) => stats.untrustedPositions,
  );

  names.push('psc_client_cache_reload_duration_seconds');
  const duration = new Histogram({
    name: 'psc_client_cache_reload_duration_seconds',
    help: 'Time to load and swap a new version of a cache, by source: postgres (a table query) or snapshot (read from Redis)',
    labelNames: ['table', 'cache', 'source'],
    buckets: [...(options.buckets ?? DEFAULT_RELOAD_BUCKETS)],
    registers,
  });
  const observe = (event: ReloadEvent) =>
    duration.observe({ ...cacheLabels(event.cache), source: event.source }, event.ms / 1000);
  subscriber.on('reload', observe);

  let registered = true;
  const unregister = () => {
    if (!registered) return;
    registered = false;
    subscriber.off('reload', observe);
    for (const name of names) registry.removeSingleMetric(name);
  };
  return { unregister, [Symbol.dispose]: unregister };
}
