// Redis mode's faults: the leader bridge is SIGKILLed midway, and at the end the leader's LISTEN
// session is terminated. Either way a term with a new epoch begins, its resync makes every app
// reload everything, and the change committed while no bridge listened is not lost.
import type { LeaseValue } from '@pg-static-cache/bridge';
import { preciseNow } from './app-events.ts';
import type { BridgeFleet } from './bridge-fleet.ts';
import type { Term } from './bridge-watch.ts';
import { formatMs } from './narrator.ts';
import { reloadedAll, terminateThenCommit, type Faults, type Scenario } from './scenario.ts';
import { DEMO_TABLES } from './schema.ts';
import { transaction } from './sql.ts';

/**
 * Faults of redis mode; `restartTimeoutMs` bounds how long the killed bridge may take to start
 * again (a cold `node --import tsx` on a busy machine takes seconds).
 */
export function bridgeFaults(bridges: BridgeFleet, restartTimeoutMs: number): Faults {
  return {
    midway: (scenario) => killLeader(scenario, bridges, restartTimeoutMs),
    lostListen: (scenario) => terminateLeaderListen(scenario, bridges),
  };
}

// A new epoch arrives as a resync message: the client library reloads with reason 'resync'.
const RESYNC = 'resync';

/** Who followed `lease`, and how long after `since`, for a detail line. */
function successor(lease: LeaseValue, term: Term, since: number, event: string): string {
  const how =
    term.bridge === lease.bridge
      ? `${term.bridge} reconnected and leads again`
      : `${term.bridge} took over`;
  return `${how}: epoch ${term.epoch}, ${formatMs(term.at - since)} after the ${event}; its "${term.reason}" resync makes every app reload all ${DEMO_TABLES.length} caches`;
}

async function killLeader(
  scenario: Scenario,
  bridges: BridgeFleet,
  restartTimeoutMs: number,
): Promise<void> {
  const { db, schema, fleet, log, stepTimeoutMs } = scenario.context;
  const lease = await bridges.leader();
  scenario.headline(
    `leader failover: ${lease.bridge} leads (epoch ${lease.epoch}, pid ${bridges.pid(lease.bridge) ?? '?'}); SIGKILL it and UPDATE plans at once, UPDATE countries after the takeover`,
  );
  const marks = fleet.marks();
  const seen = bridges.watch.terms.length;
  const result = await scenario.converge(
    'leader failover',
    async () => {
      const killedAt = preciseNow();
      bridges.kill(lease.bridge);
      const committedAt = await transaction(db, schema, [
        'UPDATE plans SET price_cents = 2900 WHERE id = 2',
      ]);
      const term = await bridges.waitTerm(lease.epoch, stepTimeoutMs, seen);
      const when =
        committedAt < term.at
          ? 'before any bridge led again: the takeover resync covers it'
          : 'after the takeover';
      log.detail(
        `${lease.bridge} killed; UPDATE plans committed ${formatMs(committedAt - killedAt)} later, ${when}`,
      );
      log.detail(successor(lease, term, killedAt, 'kill'));
      await transaction(db, schema, [`UPDATE countries SET name = 'Nippon' WHERE code = 'JP'`]);
      log.detail(`UPDATE countries committed: ${term.bridge} relays it`);
      return killedAt;
    },
    { extra: (app) => reloadedAll(app, marks.get(app) ?? 0, RESYNC), from: 'the kill' },
  );
  const slowest = Math.max(...result.latencies.values());
  log.detail(`kill → all ${fleet.apps.length} apps converged in ${formatMs(slowest)}`);

  const restarted = performance.now();
  bridges.restart(lease.bridge);
  await bridges.waitStandby(lease.bridge, restartTimeoutMs);
  log.detail(
    `${lease.bridge} restarted (pid ${bridges.pid(lease.bridge) ?? '?'}): standby after ${formatMs(performance.now() - restarted)}`,
  );
}

async function terminateLeaderListen(scenario: Scenario, bridges: BridgeFleet): Promise<void> {
  const ctx = scenario.context;
  const { fleet, log, stepTimeoutMs } = ctx;
  const lease = await bridges.leader();
  scenario.headline(
    `lost connection: pg_terminate_backend(${lease.backendPid}) (LISTEN session of the leader ${lease.bridge}, epoch ${lease.epoch}), then UPDATE countries at once`,
  );
  const marks = fleet.marks();
  const seen = bridges.watch.terms.length;
  await scenario.converge(
    'lost connection',
    async () => {
      const terminatedAt = preciseNow();
      const t0 = await terminateThenCommit(ctx, lease.backendPid);
      const term = await bridges.waitTerm(lease.epoch, stepTimeoutMs, seen);
      log.detail(successor(lease, term, terminatedAt, 'terminate'));
      return t0;
    },
    { extra: (app) => reloadedAll(app, marks.get(app) ?? 0, RESYNC) },
  );
}
