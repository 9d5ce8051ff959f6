// One e2e world: three tables in a private schema, bridge processes leading and standing by, and
// app processes in redis mode following them, all on one namespace and channel of its own.
import { namesFor, type Names } from '@pg-static-cache/protocol';
import { databaseUrl, redisUrl, uniqueName } from '../../support/index.ts';
import { startWatch, type WatchProcess } from '../../support/watch-process.ts';
import { createBridgeFleet, type BridgeFleet, type Leader } from './bridges.ts';
import { waitConverged } from './convergence.ts';
import { startEventLog, type EventLog } from './event-log.ts';
import { createScenarioTables, TABLES, type ScenarioTables } from './tables.ts';

/** How the world is built. */
export interface ScenarioOptions {
  /** Prefix of the schema, channel and namespace names. */
  readonly prefix: string;
  /** The cluster to create the schema on. @default the shared test database */
  readonly databaseUrl?: string;
  /** @default the shared test Redis */
  readonly redisUrl?: string;
  /** Bridge processes (ids b1, b2, …). @default 2 */
  readonly bridges?: number;
  /** App processes. @default 3 */
  readonly apps?: number;
  /** The Redis URL app `index` subscribes through (e.g. a proxy). @default redisUrl */
  readonly appRedisUrl?: (index: number) => string;
}

/** Apps' bridge silence deadline: four of the bridges' 500 ms heartbeats. */
export const APP_BRIDGE_SILENCE_MS = 2_000;

/** A running world; disposing it kills every process and drops the schema. */
export interface Scenario extends AsyncDisposable {
  readonly tables: ScenarioTables;
  readonly names: Names;
  readonly redisUrl: string;
  readonly events: EventLog;
  readonly bridges: BridgeFleet;
  readonly apps: readonly WatchProcess[];
  /** The bridge that led once everything had started (its first resync is in `events`). */
  readonly leader: Leader;
  /** Waits until every app equals the database on every table (see waitConverged). */
  converged(timeoutMs?: number): Promise<void>;
}

/** Builds the world and waits until every app has converged on the initial rows. */
export async function startScenario(options: ScenarioOptions): Promise<Scenario> {
  const disposers: (() => PromiseLike<void>)[] = [];
  const dispose = async () => {
    for (const disposer of disposers.reverse()) {
      // Every part is cleaned up even when one fails to.
      await Promise.resolve(disposer()).catch(() => undefined);
    }
  };
  try {
    const redis = options.redisUrl ?? redisUrl();
    const tables = await createScenarioTables(options.databaseUrl ?? databaseUrl(), options.prefix);
    disposers.push(() => tables[Symbol.asyncDispose]());
    const names = namesFor(uniqueName(options.prefix));
    const events = await startEventLog(redis, names);
    disposers.push(() => events[Symbol.asyncDispose]());
    const bridges = createBridgeFleet({
      databaseUrl: tables.url,
      redisUrl: redis,
      names,
      channel: tables.channel,
    });
    disposers.push(() => bridges[Symbol.asyncDispose]());
    const apps: WatchProcess[] = [];
    disposers.push(async () => {
      await Promise.all(apps.map((app) => app[Symbol.asyncDispose]()));
    });
    const startApps = Array.from({ length: options.apps ?? 3 }, async (_, index) => {
      apps[index] = await startWatch({
        url: tables.url,
        tables: TABLES,
        mode: 'redis',
        redisUrl: options.appRedisUrl?.(index) ?? redis,
        namespace: names.namespace,
        flags: ['--bridge-silence-ms', String(APP_BRIDGE_SILENCE_MS)],
      });
    });
    const ids = Array.from({ length: options.bridges ?? 2 }, (_, i) => `b${i + 1}`);
    // Cold starts are the slow part: apps need no bridge to start, so all start at once. Settled,
    // not raced: a process still starting when cleanup runs would be left behind.
    const started = await Promise.allSettled([...ids.map((id) => bridges.start(id)), ...startApps]);
    for (const result of started) if (result.status === 'rejected') throw result.reason;
    const leader = await bridges.leader();
    await events.waitFor(
      `${leader.id}'s first resync`,
      (m) => m.type === 'resync' && m.bridge === leader.id && m.epoch === leader.lease.epoch,
    );
    const converged = (timeoutMs = 20_000) =>
      waitConverged(apps, tables.pool, TABLES, timeoutMs, () => bridges.describe());
    await converged();
    return {
      tables,
      names,
      redisUrl: redis,
      events,
      bridges,
      apps,
      leader,
      converged,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}
