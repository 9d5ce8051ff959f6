// What the redis-mode suites need instead of a real bridge: a publisher of hand-made messages that
// keeps epoch and seq like a leader would, and tables watched by a redis-mode subscriber.
import type { AnyCache } from '@pg-static-cache/client';
import type { ResolvedTable } from '@pg-static-cache/postgres';
import {
  namesFor,
  serializeMessage,
  Signer,
  type Message,
  type ResyncReason,
} from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import type pg from 'pg';
import {
  cachesOf,
  createTablesSchema,
  watchCaches,
  type TablesSchema,
  type Watched,
} from '../support/fixtures/direct-mode.ts';
import { redisUrl, uniqueName } from '../support/index.ts';

/** A leader as clients see it: messages on `<namespace>:events` with its epoch and the next seq. */
export class FakeBridge implements AsyncDisposable {
  readonly redis: Redis;
  readonly channel: string;
  epoch: number;
  seq = 0;
  /** Signs what {@link publish} sends (the bridge's `PSC_SIGNING_KEY`). @default no keys */
  signer = new Signer();
  #heartbeats: NodeJS.Timeout | undefined;

  constructor(url: string, namespace: string, epoch = 1) {
    this.redis = new Redis(url, { maxRetriesPerRequest: 1 });
    this.redis.on('error', () => undefined);
    this.channel = namesFor(namespace).events;
    this.epoch = epoch;
  }

  /** Who sends, in which term, and the next seq (or `seq` as given, to make a gap or a replay). */
  leaderFields(seq = (this.seq += 1)) {
    return { v: 1, bridge: 'fake-bridge', epoch: this.epoch, seq, at: Date.now() } as const;
  }

  /** Publishes raw text: anything at all, as a forger could. */
  async publishRaw(text: string): Promise<void> {
    await this.redis.publish(this.channel, text);
  }

  async publish(message: Message): Promise<void> {
    await this.publishRaw(serializeMessage(message, this.signer));
  }

  async invalidate(table: Pick<ResolvedTable, 'display' | 'oid'>): Promise<void> {
    await this.publish({
      ...this.leaderFields(),
      type: 'invalidate',
      table: table.display,
      oid: table.oid,
      lsn: '0/1',
    });
  }

  async resync(tables?: readonly string[], reason: ResyncReason = 'manual'): Promise<void> {
    await this.publish({
      ...this.leaderFields(),
      type: 'resync',
      reason,
      ...(tables === undefined ? {} : { tables: [...tables] }),
    });
  }

  async heartbeat(): Promise<void> {
    await this.publish({ ...this.leaderFields(), type: 'heartbeat' });
  }

  /** Sends a heartbeat every `intervalMs` until {@link stopHeartbeats}. */
  startHeartbeats(intervalMs: number): void {
    this.stopHeartbeats();
    this.#heartbeats = setInterval(() => void this.heartbeat().catch(() => undefined), intervalMs);
  }

  stopHeartbeats(): void {
    clearInterval(this.#heartbeats);
    this.#heartbeats = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.stopHeartbeats();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** Tables in a private schema, a started redis-mode subscriber of them, and a fake bridge. */
export interface RedisWatched extends Watched {
  readonly schema: TablesSchema;
  readonly caches: readonly AnyCache[];
  readonly bridge: FakeBridge;
  readonly namespace: string;
  /** The resolved table of cache `index`. */
  tableOf(index: number): ResolvedTable;
}

/** Options of {@link watchRedis}. */
export interface WatchRedisOptions {
  /** @default 60000: long, so that only tests about silence meet the watchdog */
  readonly bridgeSilenceMs?: number;
  /** Heartbeats from the fake bridge, started before the subscriber. @default none */
  readonly heartbeatEveryMs?: number;
  /** @default the shared test Redis */
  readonly redis?: string;
  /** Runs in the schema after the tables are made, before the subscriber starts. */
  readonly setupSql?: string;
  /** Tables to cache. @default `names` */
  readonly cached?: readonly string[];
  /** Builds the pool the subscriber queries through (the test ends it). @default a URL, so the subscriber owns its pool */
  readonly pool?: (url: string) => pg.Pool;
  /** The fake bridge signs with it and the subscriber verifies with it. @default unsigned */
  readonly signingKey?: string;
}

/** Creates `names` (rows 1..3 each) and starts a redis-mode subscriber with a cache per table. */
export async function watchRedis(
  names: readonly string[],
  options: WatchRedisOptions = {},
): Promise<RedisWatched> {
  const schema = await createTablesSchema(names, { prefix: 'psc_redis' });
  const namespace = uniqueName('ns');
  const url = options.redis ?? redisUrl();
  const bridge = new FakeBridge(url, namespace);
  if (options.signingKey !== undefined) bridge.signer = new Signer([options.signingKey]);
  const caches = cachesOf(options.cached ?? names);
  const watch = watchCaches({
    mode: 'redis',
    pg: options.pool?.(schema.url) ?? schema.url,
    redis: url,
    namespace,
    caches,
    bridgeSilenceMs: options.bridgeSilenceMs ?? 60_000,
    ...(options.signingKey === undefined ? {} : { signingKey: options.signingKey }),
  });
  const dispose = async () => {
    await watch.subscriber.close();
    await bridge[Symbol.asyncDispose]();
    await schema[Symbol.asyncDispose]();
  };
  try {
    if (options.setupSql !== undefined) await schema.pool.query(options.setupSql);
    if (options.heartbeatEveryMs !== undefined) bridge.startHeartbeats(options.heartbeatEveryMs);
    await watch.subscriber.start();
  } catch (error) {
    await dispose();
    throw error;
  }
  return {
    ...watch,
    schema,
    caches,
    bridge,
    namespace,
    tableOf(index) {
      const table = caches[index]?.table;
      if (table === undefined) throw new Error(`no resolved table for cache ${index}`);
      return table;
    },
    [Symbol.asyncDispose]: dispose,
  };
}

/** The reload reasons each cache saw after the first `from` reloads, by cache name. */
export function reasonsSince(watched: Watched, from: number): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const reload of watched.reloads.slice(from)) {
    (out[reload.cache.name] ??= []).push(reload.reason);
  }
  return out;
}
