// A world of regions: a table with triggers in a private schema, the home Redis (the shared one)
// and a private Redis per region (stoppable), bridges publishing to all of them, and a
// `pg-static-cache watch` app per region subscribed to its own region's Redis.
import { performance } from 'node:perf_hooks';
import { namesFor, type Names } from '@pg-static-cache/protocol';
import { createBridgeFleet, type BridgeFleet } from '../e2e/support/bridges.ts';
import { startEventLog, type EventLog } from '../e2e/support/event-log.ts';
import { createTablesSchema, type TablesSchema } from '../support/fixtures/direct-mode.ts';
import { startPrivateRedis, type PrivateRedis } from '../support/fixtures/private-redis.ts';
import { httpRequest } from '../support/http.ts';
import { redisUrl, tableDigest, uniqueName } from '../support/index.ts';
import { parseJsonLine, spawnCli, type SpawnedProcess } from '../support/process.ts';

/** The one table every app caches. */
export const TABLE = 'plans';

/** The regions besides home, each with a private Redis. */
export const REGIONS = ['a', 'b'] as const;
/** A region's name, or `home` for the shared Redis. */
export type Place = 'home' | (typeof REGIONS)[number];

/** A `watch` app of one region. */
export interface RegionApp {
  readonly place: Place;
  readonly proc: SpawnedProcess;
}

/** What a commit changed: the digest every app must come to print, and when it committed. */
export interface Commit {
  readonly digest: string;
  /** performance.now() right before the commit. */
  readonly at: number;
}

/** How the world is built. */
export interface RegionWorldOptions {
  readonly prefix: string;
  /** Bridge processes (ids b1, b2, …). @default 1 */
  readonly bridges?: number;
  /** Where apps run, each subscribed to that place's Redis. @default ['home', 'a', 'b'] */
  readonly apps?: readonly Place[];
}

/** A running world; disposing it stops every process and Redis and drops the schema. */
export interface RegionWorld extends AsyncDisposable {
  readonly schema: TablesSchema;
  readonly names: Names;
  readonly bridges: BridgeFleet;
  readonly apps: readonly RegionApp[];
  /** The app of `place`; throws when the world has none there. */
  app(place: Place): RegionApp;
  /** The Redis of each region. */
  readonly redis: Readonly<Record<(typeof REGIONS)[number], PrivateRedis>>;
  /** The events channel as seen in each place (region logs resubscribe after a restart). */
  readonly events: Readonly<Record<Place, EventLog>>;
  /** The Redis URL of a place. */
  urlOf(place: Place): string;
  /** Changes the table (one UPDATE) and returns the digest apps must print. */
  commit(label: string): Promise<Commit>;
  /** Waits until `app` prints `digest`; returns when its line was read (performance.now()). */
  printed(app: RegionApp, digest: string, timeoutMs?: number): Promise<number>;
  /** GET /readyz of the bridge `id`: status and JSON body. */
  readyz(id: string): Promise<{ readonly status: number; readonly body: ReadyBody }>;
  /** The base URL of bridge `id`'s HTTP endpoints. */
  httpBase(id: string): string;
}

/** What /readyz says, as far as regions are concerned. */
export interface ReadyBody {
  readonly ready?: boolean;
  readonly epoch?: number | null;
  readonly regions?: Readonly<
    Record<
      string,
      { readonly state: string; readonly reason?: string; readonly owesResync: boolean }
    >
  >;
}

/** Starts `pg-static-cache watch --mode <mode> --events` on `place`'s Redis; resolves once loaded. */
export async function startRegionApp(
  place: Place,
  options: { schema: TablesSchema; names: Names; url: string; mode?: 'redis' | 'snapshot' },
): Promise<RegionApp> {
  const proc = spawnCli(
    [
      'watch',
      '--events',
      '--mode',
      options.mode ?? 'redis',
      '--table',
      TABLE,
      '--namespace',
      options.names.namespace,
    ],
    { env: { DATABASE_URL: options.schema.url, REDIS_URL: options.url } },
  );
  try {
    await proc.waitForLine((line) => line.includes('"status":"ready"'), { stream: 'stderr' });
  } catch (error) {
    await proc.stop('SIGKILL');
    throw error;
  }
  return { place, proc };
}

/** Builds the world and waits until every app has loaded the table. */
export async function startRegionWorld(options: RegionWorldOptions): Promise<RegionWorld> {
  const disposers: (() => PromiseLike<unknown>)[] = [];
  const dispose = async () => {
    for (const disposer of disposers.reverse()) {
      await Promise.resolve(disposer()).catch(() => undefined);
    }
  };
  try {
    const schema = await createTablesSchema([TABLE], { prefix: options.prefix });
    disposers.push(() => schema[Symbol.asyncDispose]());
    const names = namesFor(uniqueName(options.prefix));
    const a = await startPrivateRedis();
    disposers.push(() => a[Symbol.asyncDispose]());
    const b = await startPrivateRedis();
    disposers.push(() => b[Symbol.asyncDispose]());
    const redis = { a, b };
    const urlOf = (place: Place): string => (place === 'home' ? redisUrl() : redis[place].url);
    const events = {
      home: await startEventLog(urlOf('home'), names),
      a: await startEventLog(a.url, names),
      b: await startEventLog(b.url, names),
    };
    for (const log of Object.values(events)) disposers.push(() => log[Symbol.asyncDispose]());
    const bridges = createBridgeFleet({
      databaseUrl: schema.url,
      redisUrl: urlOf('home'),
      names,
      channel: schema.channel,
      cli: true,
      env: { PSC_REGIONS: REGIONS.map((r) => `${r}=${urlOf(r)}`).join(',') },
    });
    disposers.push(() => bridges[Symbol.asyncDispose]());
    const apps: RegionApp[] = [];
    disposers.push(() => Promise.all(apps.map((app) => app.proc.stop('SIGKILL'))));
    const ids = Array.from({ length: options.bridges ?? 1 }, (_, i) => `b${i + 1}`);
    const places = options.apps ?? ['home', 'a', 'b'];
    const procs = new Map<string, SpawnedProcess>();
    const started = await Promise.allSettled([
      ...ids.map(async (id) => procs.set(id, await bridges.start(id))),
      ...places.map(async (place) => {
        apps.push(await startRegionApp(place, { schema, names, url: urlOf(place) }));
      }),
    ]);
    for (const result of started) if (result.status === 'rejected') throw result.reason;
    // `pg-static-cache bridge` says where it serves HTTP in its first stdout line.
    const httpBase = (id: string): string => {
      const started = procs
        .get(id)
        ?.lines.map(parseJsonLine)
        .find((l) => l?.['event'] === 'started');
      const http = started?.['http'];
      if (typeof http !== 'string') throw new Error(`bridge ${id} has not said where it serves`);
      return http;
    };
    const world: RegionWorld = {
      schema,
      names,
      bridges,
      apps,
      app(place) {
        const found = apps.find((app) => app.place === place);
        if (found === undefined) throw new Error(`no app in ${place}`);
        return found;
      },
      redis,
      events,
      urlOf,
      async commit(label) {
        const at = performance.now();
        await schema.pool.query(`UPDATE ${TABLE} SET label = $1 WHERE id = 1`, [label]);
        return { digest: await tableDigest(schema.pool, TABLE), at };
      },
      async printed(app, digest, timeoutMs = 15_000) {
        const line = await app.proc.waitForLine((l) => parseJsonLine(l)?.['digest'] === digest, {
          timeoutMs,
        });
        return app.proc.lineTimes[app.proc.lines.indexOf(line)] ?? Number.NaN;
      },
      async readyz(id) {
        const answer = await httpRequest(`${httpBase(id)}/readyz`);
        return { status: answer.status, body: JSON.parse(answer.text) as ReadyBody };
      },
      httpBase,
      [Symbol.asyncDispose]: dispose,
    };
    return world;
  } catch (error) {
    await dispose();
    throw error;
  }
}
