// Everything the chaos soak runs, each a real process or server of its own: a private Postgres and
// a private Redis (the soak restarts and flushes them), two `pg-static-cache bridge` processes
// with reload jobs and workers on, and one `pg-static-cache watch` per mode. The redis- and
// snapshot-mode apps reach Redis through proxies of their own, which can drop messages.
import { namesFor, type Names } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import {
  startPrivatePostgres,
  type PrivatePostgres,
} from '../support/fixtures/private-postgres.ts';
import { startPrivateRedis, type PrivateRedis } from '../support/fixtures/private-redis.ts';
import { createBridgeFleet, type BridgeFleet } from '../e2e/support/bridges.ts';
import { startEventLog, type EventLog } from '../e2e/support/event-log.ts';
import { startPausableProxy, type PausableProxy } from '../e2e/support/pausable-proxy.ts';
import { uniqueName } from '../support/index.ts';
import { createSoakTables, type SoakTable, type SoakTables } from './soak-tables.ts';
import { startWatchApp, type WatchApp, type WatchMode } from './watch-app.ts';

/** A running soak; disposing it kills every process (by PID) and removes both servers. */
export interface SoakWorld extends AsyncDisposable {
  readonly postgres: PrivatePostgres;
  readonly redis: PrivateRedis;
  /** The test's own connection to the private Redis (publishing forgeries, FLUSHALL). */
  readonly admin: Redis;
  readonly db: SoakTables;
  readonly tables: readonly SoakTable[];
  readonly names: Names;
  /** Every message on the events channel, as a subscriber of the private Redis sees it. */
  readonly events: EventLog;
  readonly bridges: BridgeFleet;
  /** The proxy each app that uses Redis subscribes through. */
  readonly proxies: readonly { readonly mode: WatchMode; readonly proxy: PausableProxy }[];
  readonly apps: readonly WatchApp[];
  /** Starts one more bridge (ids b1, b2, …); resolves once it runs. */
  startBridge(): Promise<void>;
  /** Recent output of every bridge and app, for a failure message. */
  describe(): string;
}

const MODES: readonly WatchMode[] = ['direct', 'redis', 'snapshot'];
/** Characters of each output line a failure message quotes. */
const MAX_LINE = 400;

/** Starts the servers, tables, two bridges and the apps (not waiting for them to converge). */
export async function startSoakWorld(): Promise<SoakWorld> {
  const disposers: (() => PromiseLike<unknown>)[] = [];
  const dispose = async () => {
    for (const disposer of disposers.reverse()) {
      // Every part is cleaned up even when one fails to.
      await Promise.resolve()
        .then(disposer)
        .catch(() => undefined);
    }
  };
  try {
    const [postgres, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
    disposers.push(
      () => postgres[Symbol.asyncDispose](),
      () => redis[Symbol.asyncDispose](),
    );
    const admin = new Redis(redis.url, {
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(times * 50, 500),
    });
    admin.on('error', () => undefined);
    disposers.push(() => {
      admin.disconnect();
      return Promise.resolve();
    });
    const db = await createSoakTables(postgres.url);
    disposers.push(() => db.scenario[Symbol.asyncDispose]());
    const names = namesFor(uniqueName('soak'));
    const events = await startEventLog(redis.url, names);
    disposers.push(() => events[Symbol.asyncDispose]());
    const bridges = createBridgeFleet({
      databaseUrl: db.scenario.url,
      redisUrl: redis.url,
      names,
      channel: db.scenario.channel,
      cli: true,
      // Snapshot-mode apps need reload jobs and a worker; every bridge runs one.
      env: { PSC_JOBS: '1', PSC_WORKER: '1' },
    });
    disposers.push(() => bridges[Symbol.asyncDispose]());
    const proxies = await Promise.all(
      MODES.filter((mode) => mode !== 'direct').map(async (mode) => {
        const proxy = await startPausableProxy(redis.url);
        disposers.push(() => proxy.close());
        return { mode, proxy };
      }),
    );
    let bridgeCount = 0;
    const startBridge = async () => {
      bridgeCount += 1;
      await bridges.start(`b${bridgeCount}`);
    };
    const tableArgs = db.all.map((table) => table.sql);
    const apps = MODES.map((mode) => {
      const proxy = proxies.find((p) => p.mode === mode)?.proxy;
      const args =
        proxy === undefined
          ? ['--channel', db.scenario.channel]
          : ['--namespace', names.namespace, '--redis-url', proxy.url];
      return startWatchApp(mode, tableArgs, args, { DATABASE_URL: db.scenario.url });
    });
    disposers.push(() => Promise.all(apps.map((app) => app[Symbol.asyncDispose]())));
    // Settled, not raced: a bridge still starting when cleanup runs would be left behind.
    const started = await Promise.allSettled([startBridge(), startBridge()]);
    for (const result of started) if (result.status === 'rejected') throw result.reason;
    return {
      postgres,
      redis,
      admin,
      db,
      tables: db.all,
      names,
      events,
      bridges,
      proxies,
      apps,
      startBridge,
      describe: () =>
        [bridges.describe(), ...apps.map((app) => app.describe())]
          .join('\n')
          .split('\n')
          // A log line can carry a whole serialized client: its start says what happened.
          .map((line) => (line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line))
          .join('\n'),
      [Symbol.asyncDispose]: dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}
