// What each mode adds to a run: redis mode starts the bridges and waits for one to lead; each
// mode has its faults and its count of Postgres sessions.
import { preciseNow } from './app-events.ts';
import {
  BRIDGE_APPLICATION_NAME,
  BRIDGE_IDS,
  BRIDGE_SETTINGS,
  BridgeFleet,
} from './bridge-fleet.ts';
import { bridgeFaults } from './bridge-faults.ts';
import type { DemoConfig } from './config.ts';
import { directFaults } from './direct-faults.ts';
import { formatMs, type Narrator } from './narrator.ts';
import type { Faults } from './scenario.ts';
import type { DemoSchema } from './schema.ts';
import type { DemoServices } from './services.ts';
import { countSessions } from './sql.ts';
import type pg from 'pg';

/** Three of the demo bridges' heartbeats: how long the apps wait before a silent bridge makes their caches stale. */
export const APP_HEARTBEAT_TIMEOUT_MS = 3 * BRIDGE_SETTINGS.PSC_HEARTBEAT_MS;

/** What the mode brings to the run. */
export interface ModeRun {
  readonly faults: Faults;
  /** Redis mode's bridges (stopped by the cleanup registered in {@link startMode}). */
  readonly bridges: BridgeFleet | undefined;
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

/** Direct mode needs nothing started; redis mode starts the bridges and returns once one leads and the other stands by. */
export async function startMode(ctx: ModeContext): Promise<ModeRun> {
  const { config, services, demo, log } = ctx;
  if (config.mode === 'direct') return { faults: directFaults(), bridges: undefined };
  const began = preciseNow();
  const bridges = await BridgeFleet.start({
    databaseUrl: demo.bridgeUrl,
    redisUrl: services.redisUrl,
    namespace: config.schema,
    channel: config.channel,
    log,
  });
  ctx.onCleanup(() => bridges.close(ctx.stopDeadlineMs));
  const settings = Object.entries(BRIDGE_SETTINGS)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ');
  const pids = bridges.processes.map((b) => `${b.id} pid ${b.pid ?? '?'}`).join(' · ');
  log.line(
    `starting ${BRIDGE_IDS.length} bridges (node --import tsx apps/bridge/src/main.ts, PSC_NAMESPACE=${config.schema} ${settings}), logged in as ${demo.bridgeRole}: ${pids}`,
  );
  const term = await Promise.race([bridges.waitTerm(0, config.readyTimeoutMs), ctx.interrupted]);
  const lease = await bridges.leader();
  const standbys = bridges.processes.filter((b) => b.id !== term.bridge).map((b) => b.id);
  const waits = standbys.map((id) => bridges.waitStandby(id, config.readyTimeoutMs));
  await Promise.race([Promise.all(waits), ctx.interrupted]);
  log.line(
    `${term.bridge} leads: epoch ${term.epoch}, LISTEN session pid ${lease.backendPid}, its "${term.reason}" resync seen on ${bridges.watch.names.events} ${formatMs(term.at - began)} after the start; ${standbys.join(', ')} standby`,
  );
  return { faults: bridgeFaults(bridges, config.readyTimeoutMs), bridges };
}

/** Prints how many Postgres sessions the apps (and bridges) hold now, and what direct mode would need. */
export async function printSessions(
  db: pg.Pool,
  run: ModeRun,
  demo: DemoSchema,
  apps: number,
  log: Narrator,
): Promise<void> {
  const count = await countSessions(db, demo.role, demo.bridgeRole, BRIDGE_APPLICATION_NAME);
  if (run.bridges === undefined) {
    log.line(
      `Postgres connections: ${count.apps} for ${apps} apps in direct mode (each app: a LISTEN session of its own + its reload pool)`,
    );
    return;
  }
  const bridges = run.bridges.processes.length;
  log.line(
    `Postgres connections: ${count.apps + count.bridges} for ${apps} apps in redis mode + ${bridges} bridges (apps ${count.apps}: reload pools, no LISTEN; bridges ${count.bridges}: 1 LISTEN session for all apps, the rest pools)`,
  );
  log.detail(
    `direct mode: ${count.apps + apps} for these apps (the same reload pools + 1 LISTEN session per app); the bridges' ${count.bridges} stay ${count.bridges} at 300 apps, where direct mode holds 300 LISTEN sessions`,
  );
}
