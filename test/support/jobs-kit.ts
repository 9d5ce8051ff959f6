// Shared by the reload-job tests: a schema with triggered tables, a namespace with its own queue,
// bridges and workers closed on dispose, a recorder of `snapshot` messages, and the comparison of a
// stored snapshot with the table's rows as a direct text query gives them.
import {
  parseBridgeConfig,
  ReloadWorker,
  selectTextRows,
  SnapshotStore,
  startBridge,
  type Bridge,
  type BridgeConfigInput,
  type ReloadJobData,
  type ReloadWorkerHooks,
  type TextRows,
} from '@pg-static-cache/bridge';
import { installTriggers, resolveTable, type ResolvedTable } from '@pg-static-cache/postgres';
import {
  namesFor,
  type Message,
  type Names,
  type Snapshot,
  type SnapshotMessage,
} from '@pg-static-cache/protocol';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import {
  createTestSchema,
  recordEvents,
  redisUrl,
  uniqueName,
  waitFor,
  type TestSchema,
} from './index.ts';

/** One test's world: a schema, a NOTIFY channel, a namespace (queue, snapshots, events). */
export interface JobsWorld extends AsyncDisposable {
  readonly schema: TestSchema;
  readonly names: Names;
  /** The namespace's reload queue, for inspecting and adding jobs. */
  readonly queue: Queue<ReloadJobData>;
  readonly store: SnapshotStore;
  /** A plain command connection. */
  readonly redis: Redis;
  /** Every valid message on the events channel, in arrival order. */
  readonly events: Message[];
  /** The `snapshot` messages among them. */
  snapshots(table?: string): SnapshotMessage[];
  /** Creates `name` with `columns`, installs the trigger, and returns the resolved table. */
  createTable(name: string, columns: string): Promise<ResolvedTable>;
  /** Config input for this world (schema URL, channel, namespace, quiet logs) plus `overrides`. */
  config(overrides?: Partial<BridgeConfigInput>): BridgeConfigInput;
  /** A bridge in this world, closed on dispose. */
  startBridge(overrides?: Partial<BridgeConfigInput>): Promise<Bridge>;
  /** A reload worker in this world, closed on dispose; `registry` receives its metrics. */
  startWorker(options?: {
    readonly overrides?: Partial<BridgeConfigInput>;
    readonly hooks?: ReloadWorkerHooks;
    readonly registry?: Registry;
  }): Promise<ReloadWorker>;
  /** The table's rows as a direct query gives them in text form. */
  textRows(table: ResolvedTable): Promise<TextRows>;
  /** Waits until the stored snapshot of `table` holds exactly its current rows; returns it. */
  waitForCurrentSnapshot(table: ResolvedTable, timeoutMs?: number): Promise<Snapshot>;
  /** Waits until no job is active, waiting or delayed. */
  waitForIdleQueue(timeoutMs?: number): Promise<void>;
}

const logLevel = process.env['PSC_TEST_LOG'] ?? 'silent';

/** Creates a world; `await using` closes bridges and workers and deletes its schema and keys. */
export async function createJobsWorld(prefix = 'psc_jobs'): Promise<JobsWorld> {
  const schema = await createTestSchema(prefix);
  const channel = uniqueName(prefix);
  const functionName = `${schema.schema}.notify`;
  const names = namesFor(uniqueName('jobs'));
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  const queueConnection = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  const queue = new Queue<ReloadJobData>(names.queue, { connection: queueConnection });
  const store = new SnapshotStore(redis, names);
  const { events, ...recorder } = await recordEvents(names);
  const closers: (() => Promise<void>)[] = [];

  const config = (overrides: Partial<BridgeConfigInput> = {}): BridgeConfigInput => ({
    databaseUrl: schema.url,
    redisUrl: redisUrl(),
    namespace: names.namespace,
    channel,
    functionName,
    logger: pino({ level: logLevel }),
    // Several bridges per test, and suites in parallel: never the fixed default port.
    httpPort: 0,
    ...overrides,
  });
  const textRows = (table: ResolvedTable): Promise<TextRows> => selectTextRows(schema.pool, table);

  return {
    schema,
    names,
    queue,
    store,
    redis,
    events,
    snapshots: (table) =>
      events.filter(
        (m): m is SnapshotMessage =>
          m.type === 'snapshot' && (table === undefined || m.table === table),
      ),
    async createTable(name, columns) {
      await schema.pool.query(`CREATE TABLE ${name} (${columns})`);
      await installTriggers(schema.pool, [name], { channel, functionName });
      return resolveTable(schema.pool, name);
    },
    config,
    async startBridge(overrides = {}) {
      const bridge = await startBridge(config(overrides));
      closers.push(() => bridge.close());
      return bridge;
    },
    async startWorker({ overrides = {}, hooks = {}, registry = new Registry() } = {}) {
      const parsed = parseBridgeConfig(config(overrides));
      const worker = await ReloadWorker.start({
        config: parsed,
        logger: parsed.logger ?? pino({ level: 'silent' }),
        registry,
        hooks,
      });
      closers.push(() => worker.close());
      return worker;
    },
    textRows,
    async waitForCurrentSnapshot(table, timeoutMs = 30_000) {
      let latest: Snapshot | undefined;
      await waitFor(
        `a snapshot of ${table.display} equal to the table`,
        async () => {
          latest = await store.read(table.display);
          if (latest === undefined) return false;
          const current = await textRows(table);
          return (
            JSON.stringify([latest.fields, latest.rows]) ===
            JSON.stringify([current.fields, current.rows])
          );
        },
        timeoutMs,
      );
      if (latest === undefined) throw new Error('unreachable');
      return latest;
    },
    async waitForIdleQueue(timeoutMs = 30_000) {
      await waitFor(
        'the reload queue to be idle',
        async () => {
          const counts = await queue.getJobCounts('active', 'waiting', 'delayed');
          return Object.values(counts).every((n) => n === 0);
        },
        timeoutMs,
      );
    },
    async [Symbol.asyncDispose]() {
      for (const close of closers.reverse()) await close();
      recorder.disconnect();
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      queueConnection.disconnect();
      const keys = await redis.keys(`${names.namespace}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
      await schema[Symbol.asyncDispose]();
    },
  };
}

/** A promise with its resolve function, for holding a hook until the test lets it go. */
export function gate(): { readonly promise: Promise<void>; readonly open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}
