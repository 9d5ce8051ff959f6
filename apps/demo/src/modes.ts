// What each mode adds to a run: redis and snapshot mode start the bridges (snapshot mode with
// reload jobs and workers) and wait for one to lead; each mode has its faults, its count of
// Postgres sessions, and its way to tell that a step's work is done.
import { preciseNow, type AppMode } from './app-events.ts';
import {
  BRIDGE_APPLICATION_NAME,
  BRIDGE_IDS,
  BRIDGE_SETTINGS,
  bridgeSettings,
  BridgeFleet,
  WORKER_APPLICATION_NAME,
} from './bridge-fleet.ts';
import { bridgeFaults } from './bridge-faults.ts';
import type { DemoConfig } from './config.ts';
import { directFaults } from './direct-faults.ts';
import { formatMs, type Narrator } from './narrator.ts';
import { ReloadQueueWatch } from './reload-queue-watch.ts';
import type { Faults } from './scenario.ts';
import { DEMO_TABLES, type DemoSchema } from './schema.ts';
import type { DemoServices } from './services.ts';
import { countSessions } from './sql.ts';
import { pollUntil } from './waiting.ts';
import type pg from 'pg';

/** Three of the demo bridges' heartbeats: how long the apps wait before a silent bridge makes their caches stale. */
export const APP_HEARTBEAT_TIMEOUT_MS = 3 * BRIDGE_SETTINGS.PSC_HEARTBEAT_MS;

/**
 * Snapshot mode: how long an app waits for the worker's snapshot before it queries Postgres
 * itself. Above the library's 2 s default so the failing-reload step (the worker's job retrying
 * until a GRANT, about a second) shows the apps waiting for the snapshot, not giving up on it.
 */
export const APP_SNAPSHOT_WAIT_MS = 5_000;

/** How the apps of each mode follow the changes, for the start-up line. */
export function howAppsFollow(mode: AppMode, namespace: string): string {
  switch (mode) {
    case 'snapshot':
      return `snapshot mode: follow ${namespace}:events, load the workers' snapshots from Redis, wait up to ${APP_SNAPSHOT_WAIT_MS} ms for one before querying Postgres`;
    case 'redis':
      return `redis mode: follow ${namespace}:events, reload from Postgres`;
    case 'direct':
      return 'direct mode: each LISTENs to Postgres itself';
  }
}

/** What the mode brings to the run. */
export interface ModeRun {
  readonly faults: Faults;
  /** The bridges of redis and snapshot mode (stopped by the cleanup registered in {@link startMode}). */
  readonly bridges: BridgeFleet | undefined;
  /** Snapshot mode: the bridges run reload workers, which query the tables for the apps. */
  readonly workers: boolean;
  /** Resolves once the work a step set off outside the apps is done (snapshot mode: reload jobs). */
  readonly settle: () => Promise<void>;
}

/** What {@link startMode} needs. */
export interface ModeContext {
  readonly config: DemoConfig;
  readonly services: DemoServices;
  readonly demo: DemoSchema;
  readonly log: Narrator;
  /** Registers a cleanup for the demo's `finally`. */
  readonly onCleanup: (cleanup: () => Promise<void>) => void;
  /** How long stopping a process may take before SIGKILL. */
  readonly stopDeadlineMs: number;
  /** Rejects on Ctrl-C: waits race it. */
  readonly interrupted: Promise<never>;
}

/**
 * Direct mode needs nothing started; redis and snapshot mode start the bridges and return once
 * one leads and the other stands by (snapshot mode: and the workers stored every table's snapshot).
 */
export async function startMode(ctx: ModeContext): Promise<ModeRun> {
  const { config, services, demo, log } = ctx;
  const nothing = (): Promise<void> => Promise.resolve();
  if (config.mode === 'direct') {
    return { faults: directFaults(), bridges: undefined, workers: false, settle: nothing };
  }
  const jobs = config.mode === 'snapshot';
  const tables = DEMO_TABLES.map((table) => `${config.schema}.${table}`);
  const began = preciseNow();
  const bridges = await BridgeFleet.start({
    databaseUrl: demo.bridgeUrl,
    redisUrl: services.redisUrl,
    namespace: config.schema,
    channel: config.channel,
    tables,
    jobs,
    log,
  });
  ctx.onCleanup(() => bridges.close(ctx.stopDeadlineMs));
  const settings = Object.entries(bridgeSettings(jobs))
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
  const pids = bridges.processes.map((b) => `${b.id} pid ${b.pid ?? '?'}`).join(' · ');
  log.line(
    `starting ${BRIDGE_IDS.length} bridges (node --import tsx apps/bridge/src/main.ts, PSC_NAMESPACE=${config.schema} PSC_TABLES=${tables.join(',')} ${settings}), logged in as ${demo.bridgeRole}: ${pids}`,
  );
  const term = await Promise.race([bridges.waitTerm(0, config.readyTimeoutMs), ctx.interrupted]);
  const lease = await bridges.leader();
  const standbys = bridges.processes.filter((b) => b.id !== term.bridge).map((b) => b.id);
  const waits = standbys.map((id) => bridges.waitStandby(id, config.readyTimeoutMs));
  await Promise.race([Promise.all(waits), ctx.interrupted]);
  log.line(
    `${term.bridge} leads: epoch ${term.epoch}, LISTEN session pid ${lease.backendPid}, its "${term.reason}" resync seen on ${bridges.watch.names.events} ${formatMs(term.at - began)} after the start; ${standbys.join(', ')} standby`,
  );
  const restartTimeoutMs = config.readyTimeoutMs;
  if (!jobs) {
    const faults = bridgeFaults(bridges, { worker: undefined, restartTimeoutMs });
    return { faults, bridges, workers: false, settle: nothing };
  }

  const queue = new ReloadQueueWatch(services.redisUrl, bridges.watch.names, tables);
  ctx.onCleanup(() => queue.close());
  const faults = bridgeFaults(bridges, {
    worker: { role: demo.bridgeRole, queue, appWaitMs: APP_SNAPSHOT_WAIT_MS },
    restartTimeoutMs,
  });
  const stored = pollUntil(
    `snapshots of ${tables.join(', ')}`,
    async () => ((await bridges.watch.snapshotsStored(tables)) ? true : undefined),
    config.readyTimeoutMs,
  );
  await Promise.race([stored, ctx.interrupted]);
  log.line(
    `the resync queued a reload job per table (${bridges.watch.names.queue}); the workers stored ${tables.length} snapshots (${bridges.watch.names.snapshot('<table>')}) ${formatMs(preciseNow() - term.at)} after it`,
  );
  return {
    faults,
    bridges,
    workers: true,
    settle: () => queue.waitIdle(config.stepTimeoutMs),
  };
}

/** Prints how many Postgres sessions the apps (and bridges) hold now, and what direct mode would need. */
export async function printSessions(
  db: pg.Pool,
  run: ModeRun,
  demo: DemoSchema,
  apps: number,
  log: Narrator,
): Promise<void> {
  const count = await countSessions(db, demo.role, demo.bridgeRole, {
    bridges: BRIDGE_APPLICATION_NAME,
    workers: WORKER_APPLICATION_NAME,
  });
  if (run.bridges === undefined) {
    log.line(
      `Postgres connections: ${count.apps} for ${apps} apps in direct mode (each app: a LISTEN session of its own + its reload pool)`,
    );
    return;
  }
  const bridges = run.bridges.processes.length;
  const total = count.apps + count.bridges + count.workers;
  const mode = run.workers ? 'snapshot' : 'redis';
  const appSessions = run.workers
    ? 'pools for catalog lookups and fallback queries, no LISTEN'
    : 'reload pools, no LISTEN';
  const workers = run.workers
    ? `; workers ${count.workers}: the reload workers' table queries`
    : '';
  log.line(
    `Postgres connections: ${total} for ${apps} apps in ${mode} mode + ${bridges} bridges (apps ${count.apps}: ${appSessions}; bridges ${count.bridges}: 1 LISTEN session for all apps, the rest pools${workers})`,
  );
  log.detail(
    `direct mode: ${count.apps + apps} for these apps (the same pools + 1 LISTEN session per app); the bridges' ${count.bridges + count.workers} stay ${count.bridges + count.workers} at 300 apps, where direct mode holds 300 LISTEN sessions`,
  );
}
