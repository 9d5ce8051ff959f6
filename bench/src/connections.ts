// How many Postgres connections a fleet holds: N direct-mode processes (each with its own LISTEN
// session and pool) against N redis-mode processes and one bridge (one LISTEN session in all).
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { BridgeProcess } from './bridge-process.ts';
import { startFleet, type GateSession } from './fleet.ts';
import type { SubscriberProcess } from './subscriber-process.ts';
import { BRIDGED, OURS, type SubscriberCommand } from './systems.ts';
import { BENCH_DATABASE, BENCH_TABLE, benchDatabaseUrl, type BenchUrls } from './workload.ts';

/** pg.Pool's default idleTimeoutMillis (the subscribers' pools use it), plus a second of margin. */
export const POOL_IDLE_WAIT_MS = 11_000;
/** The bridge's application_name (its default, see BridgeConfig.applicationName). */
const BRIDGE_APPLICATION = 'pg-static-cache-bridge';

/** Connections as pg_stat_activity shows them. */
export interface HeldConnections {
  readonly total: number;
  /** Sessions whose last statement was LISTEN or the LISTEN heartbeat (a NOTIFY to itself). */
  readonly listen: number;
}

/** One fleet's connections right after every process loaded its cache, and after pools idled. */
export interface FleetConnections {
  /** `ours` (direct mode) or `ours-bridged` (redis mode behind a bridge). */
  readonly system: string;
  readonly processes: number;
  readonly bridges: number;
  readonly afterLoad: HeldConnections;
  /** {@link POOL_IDLE_WAIT_MS} after the last process loaded: what the pools keep. */
  readonly afterIdle: HeldConnections;
  /** The same, per application_name (subscribers and bridge apart). */
  readonly byApplication: Readonly<
    Record<string, { afterLoad: HeldConnections; afterIdle: HeldConnections }>
  >;
}

/** What the connection count measured. */
export interface ConnectionsResult {
  readonly idleWaitMs: number;
  readonly fleets: readonly FleetConnections[];
  /** How long the whole step took, from the first spawn to the last count. */
  readonly ms: number;
}

/** The count, or why it could not be taken (the rest of the bench's results are kept either way). */
export type ConnectionsOutcome = ConnectionsResult | { readonly error: string };

interface Fleet {
  readonly command: SubscriberCommand;
  readonly application: string;
  readonly applications: readonly string[];
  readonly bridges: number;
}

const FLEETS: readonly Fleet[] = [
  {
    command: OURS,
    application: 'psc-bench-direct',
    applications: ['psc-bench-direct'],
    bridges: 0,
  },
  {
    command: BRIDGED,
    application: 'psc-bench-redis',
    applications: ['psc-bench-redis', BRIDGE_APPLICATION],
    bridges: 1,
  },
];

type Counts = ReadonlyMap<string, HeldConnections>;

async function countConnections(db: pg.Client): Promise<Counts> {
  const result = await db.query<{ app: string; total: number; listen: number }>(
    `SELECT application_name AS app, count(*)::int AS total,
            count(*) FILTER (WHERE query LIKE 'LISTEN %' OR query LIKE 'SELECT pg_notify(%')::int AS listen
       FROM pg_stat_activity
      WHERE datname = $1 AND pid <> pg_backend_pid()
      GROUP BY application_name`,
    [BENCH_DATABASE],
  );
  return new Map(result.rows.map(({ app, total, listen }) => [app, { total, listen }]));
}

const NONE: HeldConnections = { total: 0, listen: 0 };

function sum(counts: Counts, applications: readonly string[]): HeldConnections {
  return applications.reduce(
    (acc, app) => {
      const held = counts.get(app) ?? NONE;
      return { total: acc.total + held.total, listen: acc.listen + held.listen };
    },
    { total: 0, listen: 0 },
  );
}

function fleetResult(
  fleet: Fleet,
  processes: number,
  load: Counts,
  idle: Counts,
): FleetConnections {
  return {
    system: fleet.command.system,
    processes,
    bridges: fleet.bridges,
    afterLoad: sum(load, fleet.applications),
    afterIdle: sum(idle, fleet.applications),
    byApplication: Object.fromEntries(
      fleet.applications.map((app) => [
        app,
        { afterLoad: load.get(app) ?? NONE, afterIdle: idle.get(app) ?? NONE },
      ]),
    ),
  };
}

/**
 * Starts the bridge, then `processes` subscribers per fleet, gated (see fleet.ts) so that all
 * of them load at the same moment once every one is running; counts the bench database's connections (by
 * application_name, so the driver's own are left out) right after the last load and again once
 * the pools' idle timeout has passed. Every process is stopped in the end, whatever happened.
 */
export async function measureConnections(
  db: pg.Client,
  urls: BenchUrls,
  processes: number,
  gate: GateSession,
): Promise<ConnectionsResult> {
  const started = performance.now();
  const subscribers: SubscriberProcess[] = [];
  let bridge: BridgeProcess | undefined;
  try {
    bridge = await BridgeProcess.start(urls);
    const members = FLEETS.map((fleet) => ({
      command: fleet.command,
      count: processes,
      options: {
        ...urls,
        databaseUrl: benchDatabaseUrl(urls.databaseUrl, fleet.application),
        table: BENCH_TABLE,
      },
    }));
    await startFleet(members, subscribers, gate);
    const afterLoad = await countConnections(db);
    await sleep(POOL_IDLE_WAIT_MS);
    const afterIdle = await countConnections(db);
    return {
      idleWaitMs: POOL_IDLE_WAIT_MS,
      fleets: FLEETS.map((fleet) => fleetResult(fleet, processes, afterLoad, afterIdle)),
      ms: performance.now() - started,
    };
  } finally {
    await Promise.all(subscribers.map((s) => s.stop()));
    await bridge?.stop();
  }
}
