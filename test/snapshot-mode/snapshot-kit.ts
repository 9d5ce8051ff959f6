// What the snapshot-mode suites need until the reload worker exists: snapshots written into Redis
// in the exact stored format (from a TEXT-mode query), `snapshot` messages, a redis-mode bridge
// stand-in, and a count of the table queries the subscriber makes.
import type { AnyCache, StaticCache, SubscriberOptions } from '@pg-static-cache/client';
import {
  resolveTable,
  selectRowsSql,
  TEXT_VALUES,
  type ResolvedTable,
} from '@pg-static-cache/postgres';
import { createSnapshot, namesFor, type Names, type Snapshot } from '@pg-static-cache/protocol';
import pg from 'pg';
import { watchCaches, type Watched } from '../support/fixtures/direct-mode.ts';
import { FakeBridge } from '../redis-mode/fake-bridge.ts';
import { createTestSchema, redisUrl, uniqueName, type TestSchema } from '../support/index.ts';
import { recordQueries } from '../support/recorded-queries.ts';

/** The counter generation of every snapshot this kit writes. */
export const GENERATION = 'kit';

/** Builds and stores snapshots of tables in a schema, like the reload worker will. */
export class SnapshotWriter implements AsyncDisposable {
  readonly names: Names;
  readonly #text: pg.Pool;
  readonly #bridge: FakeBridge;

  constructor(url: string, names: Names, bridge: FakeBridge) {
    this.names = names;
    this.#bridge = bridge;
    this.#text = new pg.Pool({ connectionString: url, max: 1, types: TEXT_VALUES });
    this.#text.on('error', () => undefined);
  }

  /** The table's rows now, in primary-key order, with the LSN read before the query. */
  async take(table: string, version: number, sql?: string): Promise<Snapshot> {
    const resolved = await resolveTable(this.#text, table);
    const lsn = await this.lsn();
    const result = await this.#text.query<(string | null)[]>({
      text: sql ?? selectRowsSql(resolved),
      rowMode: 'array',
    });
    return createSnapshot({
      table: resolved.display,
      oid: resolved.oid,
      version,
      generation: GENERATION,
      fields: result.fields.map(({ name, dataTypeID }) => ({ name, dataTypeID })),
      rows: result.rows,
      lsn,
      at: Date.now(),
    });
  }

  /** pg_current_wal_lsn() now. */
  async lsn(): Promise<string> {
    const result = await this.#text.query<[string]>({
      text: 'SELECT pg_current_wal_lsn()::text',
      rowMode: 'array',
    });
    const lsn = result.rows[0]?.[0];
    if (lsn === undefined) throw new Error('no LSN');
    return lsn;
  }

  /** Stores a snapshot, or any text at all, under the key of `table` (`schema.name`). */
  async store(table: string, value: Snapshot | string): Promise<void> {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    await this.#bridge.redis.set(this.names.snapshot(table), text);
  }

  /** Publishes the `snapshot` message of a stored snapshot (`fields` override its parts). */
  async announce(snapshot: Snapshot, fields: Partial<Snapshot> = {}): Promise<void> {
    const { table, oid, version, generation, digest, lsn, at } = { ...snapshot, ...fields };
    await this.#bridge.publish({
      v: 1,
      type: 'snapshot',
      table,
      oid,
      version,
      generation,
      key: this.names.snapshot(table),
      digest,
      lsn,
      at,
      worker: 'test-worker',
    });
  }

  /** Takes and stores (without announcing) a snapshot of `table`. */
  async put(table: string, version: number, sql?: string): Promise<Snapshot> {
    const snapshot = await this.take(table, version, sql);
    await this.store(snapshot.table, snapshot);
    return snapshot;
  }

  /** Takes, stores and announces a snapshot of `table`. */
  async publish(table: string, version: number): Promise<Snapshot> {
    const snapshot = await this.put(table, version);
    await this.announce(snapshot);
    return snapshot;
  }

  /** Publishes an `invalidate` of `table` with an LSN read now, as the bridge does after a commit. */
  async invalidate(table: Pick<ResolvedTable, 'display' | 'oid'>): Promise<void> {
    await this.#bridge.publish({
      ...this.#bridge.leaderFields(),
      type: 'invalidate',
      table: table.display,
      oid: table.oid,
      lsn: await this.lsn(),
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#text.end();
  }
}

/** A `beforeStart` that stores version 1 of each table, as a worker would have before the app starts. */
export function storedFirst(...tables: string[]): (writer: SnapshotWriter) => Promise<void> {
  return async (writer) => {
    for (const table of tables) await writer.put(table, 1);
  };
}

/** A schema, a snapshot-mode subscriber of its caches, and everything to drive it. */
export interface SnapshotWatched extends Watched {
  readonly schema: TestSchema;
  readonly bridge: FakeBridge;
  readonly writer: SnapshotWriter;
  /** The pool the subscriber queries through. */
  readonly pool: pg.Pool;
  /** How many times the subscriber has queried a table's rows so far. */
  tableQueries(): number;
  /** The resolved table of a started cache. */
  tableOf(cache: AnyCache): ResolvedTable;
}

/** Options of {@link watchSnapshots}. */
export interface WatchSnapshotsOptions {
  /** Runs in the schema before anything else. */
  readonly setupSql: string;
  readonly caches: readonly StaticCache[];
  /** @default 500: short, so that timeouts are quick to test */
  readonly snapshotWaitMs?: number;
  /** Runs before the subscriber starts, e.g. to store the first snapshots. */
  readonly beforeStart?: (writer: SnapshotWriter) => Promise<unknown>;
  /** `types` of the pool the subscriber queries through. @default node-postgres' */
  readonly poolTypes?: pg.CustomTypesConfig;
  /** Extra subscriber options. */
  readonly subscriber?: Partial<SubscriberOptions>;
}

/** Sets up a schema and starts a snapshot-mode subscriber of `caches` on a fresh namespace. */
export async function watchSnapshots(options: WatchSnapshotsOptions): Promise<SnapshotWatched> {
  const schema = await createTestSchema('psc_snap');
  const names = namesFor(uniqueName('ns'));
  const bridge = new FakeBridge(redisUrl(), names.namespace);
  const writer = new SnapshotWriter(schema.url, names, bridge);
  const pool = new pg.Pool({
    connectionString: schema.url,
    max: 4,
    ...(options.poolTypes === undefined ? {} : { types: options.poolTypes }),
  });
  pool.on('error', () => undefined);
  const texts = recordQueries(pool);
  const watch = watchCaches({
    mode: 'snapshot',
    pg: pool,
    redis: redisUrl(),
    namespace: names.namespace,
    caches: options.caches,
    bridgeSilenceMs: 60_000,
    snapshotWaitMs: options.snapshotWaitMs ?? 500,
    ...options.subscriber,
  });
  const dispose = async () => {
    await watch.subscriber.close();
    await pool.end();
    await writer[Symbol.asyncDispose]();
    await bridge[Symbol.asyncDispose]();
    await schema[Symbol.asyncDispose]();
  };
  try {
    await schema.pool.query(options.setupSql);
    await options.beforeStart?.(writer);
    await watch.subscriber.start();
  } catch (error) {
    await dispose();
    throw error;
  }
  return {
    ...watch,
    schema,
    bridge,
    writer,
    pool,
    tableQueries: () => texts.filter((text) => text.startsWith('SELECT * FROM')).length,
    tableOf(cache) {
      if (cache.table === undefined) throw new Error(`cache ${cache.name} has not started`);
      return cache.table;
    },
    [Symbol.asyncDispose]: dispose,
  };
}
