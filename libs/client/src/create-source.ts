import { DEFAULT_CHANNEL, type BackoffOptions } from '@pg-static-cache/postgres';
import { ProtocolError } from '@pg-static-cache/protocol';
import pg from 'pg';
import { DirectSource } from './direct-source.ts';
import { ClientError } from './errors.ts';
import type { InvalidationSource } from './invalidation-source.ts';
import { RedisSource } from './redis-source.ts';
import type { RedisOption } from './redis-connection.ts';
import type { ReplicaOption } from './replica.ts';
import { rejectRenamedOptions } from './renamed-options.ts';
import { signerFor } from './signing-key.ts';

/**
 * How a subscriber learns of changes and loads: `direct` LISTENs to Postgres itself (one session
 * per process); `redis` follows the bridge's messages; both query the table on every reload.
 * `snapshot` follows the bridge's messages too, but loads the snapshot a reload worker stored in
 * Redis, and queries Postgres only when that snapshot is missing, corrupt or too old.
 */
export type SubscriberMode = 'direct' | 'redis' | 'snapshot';

const MODES: readonly string[] = ['direct', 'redis', 'snapshot'] satisfies SubscriberMode[];

/** Where events come from and how to reach it; part of {@link SubscriberOptions}. */
export interface SourceOptions {
  /** @default 'direct' */
  readonly mode?: SubscriberMode;
  /**
   * Connection string, pool config, or a pool the app already has (its options are reused for
   * LISTEN). Snapshot mode parses snapshot values with this config's `types` when it has them.
   */
  readonly pg: string | pg.PoolConfig | pg.Pool;
  /**
   * A streaming read replica of that database, for the table queries of every mode (snapshot
   * mode's Postgres loads): connection string, pool config, or the app's pool (never ended by the
   * subscriber). A load reads it only once it replayed what the load must include (the event's WAL
   * position, else the primary's position when the load starts), so it never returns rows older
   * than the primary's; otherwise the primary serves the load, counted in
   * `stats.replicaFallbacks`. Events still come from the primary (a standby cannot LISTEN).
   * @default undefined (every load reads `pg`)
   */
  readonly replica?: ReplicaOption;
  /**
   * With `replica`: how long a load waits for the replica to replay its position before it reads
   * the primary instead. @default 2000
   */
  readonly replicaWaitMs?: number;
  /**
   * Redis and snapshot mode, and required there: URL, ioredis options, or the app's instance
   * (duplicated for the subscription and, in snapshot mode, for reading snapshots; the app's
   * instance is never closed by the subscriber). A Redis Cluster: a `redis-cluster://host:port,…`
   * URL or the app's `Cluster`; the subscription is sharded (SSUBSCRIBE) and names hash-tagged.
   */
  readonly redis?: RedisOption;
  /** Redis and snapshot mode: namespace of the channel `<namespace>:events` and snapshot keys. @default 'psc' */
  readonly namespace?: string;
  /**
   * Snapshot mode: how long a cache waits, after an invalidate or a resync, for a `snapshot`
   * message that covers it before it queries Postgres instead. @default 2000
   */
  readonly snapshotWaitMs?: number;
  /**
   * Redis and snapshot mode: the key (or keys, during a rotation) the bridge and workers sign
   * with (`PSC_SIGNING_KEY`). With one, unsigned or badly signed messages and snapshots are
   * dropped and counted; without one anybody who can write to Redis can write this app's
   * snapshot-mode caches. @default undefined (nothing verified)
   */
  readonly signingKey?: string | readonly string[];
  /** Direct mode: NOTIFY channel the triggers use. @default 'pg_static_cache_update' */
  readonly channel?: string;
  /**
   * Direct mode: how often the LISTEN session sends itself a NOTIFY to prove it still receives
   * (the bridge's PSC_LISTEN_HEARTBEAT_INTERVAL_MS). @default 5000
   */
  readonly listenHeartbeatIntervalMs?: number;
  /**
   * Direct mode: how long that heartbeat may take before the session counts as dead and is
   * replaced (the bridge's PSC_LISTEN_HEARTBEAT_TIMEOUT_MS). @default 3000
   */
  readonly listenHeartbeatTimeoutMs?: number;
  /**
   * Redis and snapshot mode: how long the bridge may stay silent before caches count as stale
   * (three of its 2 s heartbeats). @default 6000
   */
  readonly bridgeSilenceMs?: number;
  /** Reconnect and reload-retry delays. @default { baseMs: 100, capMs: 5000 } */
  readonly backoff?: BackoffOptions;
}

/** Checks the options (JavaScript callers and config files are not type-checked) and builds the source. */
export function createSource(options: SourceOptions): InvalidationSource {
  const mode: string = options.mode ?? 'direct';
  if (!MODES.includes(mode)) {
    throw new ClientError(
      'INVALID_OPTIONS',
      `unknown mode "${mode}" (expected direct, redis or snapshot)`,
    );
  }
  rejectRenamedOptions(options, mode);
  const { listenHeartbeatIntervalMs, listenHeartbeatTimeoutMs, bridgeSilenceMs, backoff } = options;
  const retry = backoff === undefined ? {} : { backoff };
  if (mode === 'direct') {
    return new DirectSource({
      connection: listenConnection(options.pg),
      channel: options.channel ?? DEFAULT_CHANNEL,
      ...(listenHeartbeatIntervalMs === undefined ? {} : { listenHeartbeatIntervalMs }),
      ...(listenHeartbeatTimeoutMs === undefined ? {} : { listenHeartbeatTimeoutMs }),
      ...retry,
    });
  }
  const { redis } = options;
  // Checked at run time: a JavaScript caller can pass anything, and a bad value must not reach ioredis.
  if (typeof redis !== 'string' && (typeof redis !== 'object' || (redis as unknown) === null)) {
    throw new ClientError(
      'INVALID_OPTIONS',
      `${mode} mode needs the \`redis\` option (URL, options or instance)`,
    );
  }
  try {
    return new RedisSource({
      redis,
      signer: signerFor(options.signingKey),
      ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
      ...(bridgeSilenceMs === undefined ? {} : { bridgeSilenceMs }),
      ...retry,
    });
  } catch (error) {
    if (error instanceof ProtocolError) {
      throw new ClientError('INVALID_OPTIONS', error.message, { cause: error });
    }
    throw error;
  }
}

function listenConnection(option: SourceOptions['pg']): string | pg.ClientConfig {
  return option instanceof pg.Pool ? option.options : option;
}
