// A fleet of real processes for the issue-4 tests: one bridge process (leader, reload jobs and its
// in-process worker) and many app processes in snapshot and redis mode, all holding one table of a
// private schema. Each kind of app logs in as its own role, so pg_stat_statements can tell the
// worker's table queries from the apps'.
import { performance } from 'node:perf_hooks';
import {
  digestRows,
  installTriggers,
  resolveTable,
  type ResolvedTable,
} from '@pg-static-cache/postgres';
import {
  namesFor,
  parseControlMessage,
  parseSnapshot,
  serializeControlMessage,
  type ControlMessage,
  type Names,
} from '@pg-static-cache/protocol';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { createLoginRole } from '../support/fixtures/login-role.ts';
import { createTestSchema, redisUrl, uniqueName, waitFor } from '../support/index.ts';
import { spawnNode, type SpawnedProcess } from '../support/process.ts';
import { startWatch, type WatchOptions, type WatchProcess } from '../support/watch-process.ts';
import { ensureStatStatements } from './fleet-queries.ts';

/** The one table every app holds. */
export const TABLE = 'items';
/** Rows of {@link TABLE}; ids run from 1 to this. */
export const ROWS = 20;

/** How many apps of each mode. */
export interface FleetOptions {
  readonly snapshotApps: number;
  readonly redisApps: number;
  /** Snapshot mode's wait for a covering snapshot before it queries Postgres. */
  readonly snapshotWaitMs: number;
}

/** The running fleet; disposing it stops every process and removes every trace. */
export interface Fleet extends AsyncDisposable {
  /** A pool on the schema, as the database's own user (the bridge's and worker's too). */
  readonly db: pg.Pool;
  readonly table: ResolvedTable;
  readonly snapshotApps: readonly WatchProcess[];
  readonly redisApps: readonly WatchProcess[];
  /** Who runs table queries: the worker (the database's user) and each kind of app. */
  readonly roles: {
    readonly worker: string;
    readonly snapshotApps: string;
    readonly redisApps: string;
  };
  /** The table's rows now, by a query that pg_stat_statements counts apart (it has a WHERE). */
  rows(): Promise<Record<string, unknown>[]>;
  /** The digest of {@link rows}, which a converged app reports. */
  digest(): Promise<string>;
  /** Waits until every app (or `apps`) reports `digest`; the error names the ones behind. */
  waitConverged(digest: string, timeoutMs: number, apps?: readonly WatchProcess[]): Promise<void>;
  /** Overwrites the stored snapshot of the table with `text`. */
  writeSnapshot(text: string): Promise<void>;
  /** The stored snapshot's text, or null. */
  readSnapshot(): Promise<string | null>;
  /** Pauses the reload queue and waits until no job runs: the stored snapshot then stays as it is. */
  pauseJobs(): Promise<void>;
  /** Resumes the reload queue and waits until it has run every job. */
  resumeJobs(): Promise<void>;
  /** Asks the leader for a resync over the control channel, as `pg-static-cache resync` does. */
  requestResync(): Promise<void>;
}

const BRIDGE_MAIN = 'apps/bridge/src/main.ts';

/** One clean-up step, run in reverse order of creation. */
type Closer = () => PromiseLike<unknown>;

/** Starts the fleet: schema, roles, bridge (waits for its first snapshot), then every app at once. */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const closers: Closer[] = [];
  const dispose = async (): Promise<void> => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch {
        // Best effort: one failing step must not leave the later ones (processes, roles) behind.
      }
    }
  };
  try {
    return await build(options, closers, dispose);
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** A schema with the triggered table; the trigger function's name is how the bridge finds it. */
async function createFleetSchema(closers: Closer[]) {
  const schema = await createTestSchema('psc_fleet');
  closers.push(() => schema[Symbol.asyncDispose]());
  const db = schema.pool;
  const channel = uniqueName('psc_fleet');
  const functionName = `${schema.schema}.notify`;
  await db.query(`CREATE TABLE ${TABLE} (id int PRIMARY KEY, label text NOT NULL)`);
  await db.query(`INSERT INTO ${TABLE} SELECT g, 'item ' || g FROM generate_series(1, ${ROWS}) g`);
  await installTriggers(db, [TABLE], { channel, functionName });
  await ensureStatStatements(db);
  return { schema, channel, functionName, table: await resolveTable(db, TABLE) };
}

/** The bridge process: leader (it is alone), reload jobs, its worker. */
function spawnBridge(env: Readonly<Record<string, string>>): SpawnedProcess {
  return spawnNode(BRIDGE_MAIN, [], {
    ...env,
    REDIS_URL: redisUrl(),
    PSC_BRIDGE_ID: 'fleet-bridge',
    PSC_LOG_LEVEL: 'info',
    PSC_HTTP_PORT: '0',
    PSC_JOBS: '1',
    PSC_WORKER: '1',
    // The drift check must not add a query (or a resync) in the middle of a measurement.
    PSC_RESYNC_SCHEDULE: '0 0 1 1 *',
  });
}

/** Starts every requested app at once: all of them, or none (the started ones are stopped). */
async function startApps(
  requests: readonly { readonly mode: 'snapshot' | 'redis'; readonly url: string }[],
  common: Omit<WatchOptions, 'url' | 'mode'>,
  closers: Closer[],
): Promise<WatchProcess[]> {
  const settled = await Promise.allSettled(
    requests.map(({ mode, url }) => startWatch({ ...common, mode, url })),
  );
  const apps = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  // Pushed after the roles: apps stop before the roles they log in as are dropped.
  closers.push(() => Promise.allSettled(apps.map((app) => app.stop())));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return apps;
}

/** The namespace's connections: commands, the reload queue, and the control channel's replies. */
async function connectNamespace(names: Names, closers: Closer[]) {
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  const queueConnection = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  const control = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  const queue = new Queue(names.queue, { connection: queueConnection });
  closers.push(async () => {
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    const keys = await redis.keys(`${names.namespace}:*`);
    if (keys.length > 0) await redis.del(...keys);
    for (const connection of [redis, queueConnection, control]) connection.disconnect();
  });
  const replies: ControlMessage[] = [];
  control.on('message', (_channel: string, text: string) => {
    const message = parseControlMessage(text);
    if (message !== undefined) replies.push(message);
  });
  await control.subscribe(names.control);
  return { redis, queue, replies };
}

/** The last lines of the bridge and of (up to five of) `apps`, for failure messages. */
function describeFleet(bridge: SpawnedProcess, apps: readonly WatchProcess[]): string {
  const parts = apps.slice(0, 5).map((app) => {
    const lines = app.events.slice(-6).map((event) => JSON.stringify(event));
    return `--- app ${app.pid} ---\n${lines.join('\n')}\n${app.stderr.slice(-500)}`;
  });
  return [`--- bridge ---\n${bridge.stderrLines.slice(-10).join('\n')}`, ...parts].join('\n');
}

async function build(
  options: FleetOptions,
  closers: Closer[],
  dispose: () => Promise<void>,
): Promise<Fleet> {
  const { schema, channel, functionName, table } = await createFleetSchema(closers);
  const db = schema.pool;
  const snapshotRole = await createLoginRole(db, schema.url, schema.schema);
  closers.push(() => snapshotRole[Symbol.asyncDispose]());
  const redisRole = await createLoginRole(db, schema.url, schema.schema);
  closers.push(() => redisRole[Symbol.asyncDispose]());
  const worker = (await db.query<{ name: string }>('SELECT current_user AS name')).rows[0]?.name;
  if (worker === undefined) throw new Error('no current_user');

  const names = namesFor(uniqueName('fleet'));
  const { redis, queue, replies } = await connectNamespace(names, closers);
  const key = names.snapshot(table.display);
  const bridge = spawnBridge({
    DATABASE_URL: schema.url,
    PSC_NAMESPACE: names.namespace,
    PSC_CHANNEL: channel,
    PSC_FUNCTION_NAME: functionName,
  });
  closers.push(() => bridge.stop('SIGTERM', 10_000));
  // The takeover resync makes the first snapshot: apps then start from it.
  await waitFor(
    'the first snapshot',
    async () => parseSnapshot((await redis.getBuffer(key)) ?? '').ok,
    60_000,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}\n${describeFleet(bridge, [])}`);
  });

  const apps = await startApps(
    [
      ...Array.from({ length: options.snapshotApps }, () => ({
        mode: 'snapshot' as const,
        url: snapshotRole.url,
      })),
      ...Array.from({ length: options.redisApps }, () => ({
        mode: 'redis' as const,
        url: redisRole.url,
      })),
    ],
    {
      tables: [TABLE],
      redisUrl: redisUrl(),
      namespace: names.namespace,
      flags: [
        // Generous: twenty cold processes starting on two cores can delay a heartbeat by seconds,
        // and a missed one would resync (and query) outside what is measured.
        '--bridge-silence-ms',
        '10000',
        '--snapshot-wait-ms',
        String(options.snapshotWaitMs),
      ],
      readyTimeoutMs: 120_000,
    },
    closers,
  );
  const rows = async () =>
    (await db.query<Record<string, unknown>>(`SELECT * FROM ${TABLE} WHERE true ORDER BY id`)).rows;

  return {
    db,
    table,
    snapshotApps: apps.slice(0, options.snapshotApps),
    redisApps: apps.slice(options.snapshotApps),
    roles: { worker, snapshotApps: snapshotRole.name, redisApps: redisRole.name },
    rows,
    digest: async () => digestRows(await rows()),
    async waitConverged(digest, timeoutMs, among = apps) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const behind = among.filter((app) => app.digestOf(TABLE) !== digest);
        if (behind.length === 0) return;
        if (performance.now() > deadline) {
          const what = `${behind.length} of ${among.length} apps not at ${digest.slice(0, 12)}`;
          throw new Error(`${what} after ${timeoutMs} ms\n${describeFleet(bridge, behind)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async writeSnapshot(text) {
      await redis.set(key, text);
    },
    readSnapshot: () => redis.get(key),
    async pauseJobs() {
      await queue.pause();
      await waitFor('no running reload job', async () => (await queue.getActiveCount()) === 0);
    },
    async resumeJobs() {
      await queue.resume();
      await waitFor('the reload queue to run every job', async () => {
        const counts = await queue.getJobCounts('active', 'waiting', 'delayed', 'prioritized');
        return Object.values(counts).every((n) => n === 0);
      });
    },
    async requestResync() {
      const requestId = uniqueName('fleet-resync');
      const request = serializeControlMessage({ v: 1, type: 'resync-request', requestId });
      await redis.publish(names.control, request);
      await waitFor('the leader to answer the resync request', () =>
        replies.some((r) => r.type === 'resync-done' && r.requestId === requestId && r.ok),
      );
    },
    [Symbol.asyncDispose]: dispose,
  };
}
