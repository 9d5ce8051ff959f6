// The faults of the modes with bridges: the leader bridge is SIGKILLed midway, and at the end the
// leader's LISTEN session is terminated. Either way a term with a new epoch begins, its resync
// covers every table, and the change committed while no bridge listened is not lost. In redis mode
// the resync makes every app reload everything from Postgres; in snapshot mode it makes the
// worker re-snapshot every table, and each app swaps in what changed.
import type { LeaseValue } from '@pg-static-cache/protocol';
import { preciseNow } from './app-events.ts';
import type { AppProcess } from './app-process-handle.ts';
import type { BridgeFleet } from './bridge-fleet.ts';
import type { Term } from './bridge-watch.ts';
import { appsLoseSelect, workerLosesSelect, type ReloadWorkers } from './failing-reload.ts';
import { formatMs } from './narrator.ts';
import { reloadedAll, terminateThenCommit, type Faults, type Scenario } from './scenario.ts';
import { DEMO_TABLES } from './schema.ts';
import { transaction } from './sql.ts';

/** What the bridges' faults need besides the bridges. */
export interface BridgeFaultOptions {
  /** Snapshot mode: the bridges run reload workers, which log in as `role` and take jobs from `queue`. */
  readonly worker: ReloadWorkers | undefined;
  /** How long the killed bridge may take to start again (a cold `node --import tsx` on a busy machine takes seconds). */
  readonly restartTimeoutMs: number;
}

/** Faults of redis and snapshot mode. */
export function bridgeFaults(bridges: BridgeFleet, options: BridgeFaultOptions): Faults {
  const { worker, restartTimeoutMs } = options;
  const how = new Resync(worker !== undefined);
  return {
    midway: (scenario) => killLeader(scenario, bridges, how, restartTimeoutMs),
    failingReload: (scenario) =>
      worker === undefined
        ? appsLoseSelect(scenario)
        : workerLosesSelect(scenario, bridges, worker),
    lostListen: (scenario) => terminateLeaderListen(scenario, bridges, how),
  };
}

/** What a new term's resync does in the mode, and how to check that every app followed it. */
class Resync {
  readonly #snapshots: boolean;

  constructor(snapshots: boolean) {
    this.#snapshots = snapshots;
  }

  /** Who followed `lease`, and how long after `since`, for a detail line. */
  successor(lease: LeaseValue, term: Term, since: number, event: string): string {
    const how =
      term.bridge === lease.bridge
        ? `${term.bridge} reconnected and leads again`
        : `${term.bridge} took over`;
    const tables = `${DEMO_TABLES.length} tables`;
    const effect = this.#snapshots
      ? `queues a reload job for all ${tables}: each app swaps in the new snapshots that differ from its rows`
      : `makes every app reload all ${DEMO_TABLES.length} caches`;
    return `${how}: epoch ${term.epoch}, ${formatMs(term.at - since)} after the ${event}; its "${term.reason}" resync ${effect}`;
  }

  /**
   * Redis mode: every app reloaded every cache for the resync (the client library's reason
   * 'resync'). Snapshot mode: an app swaps in only snapshots whose rows differ from its own, so
   * converging (checked anyway) is what there is to see.
   */
  followed(app: AppProcess, mark: number): boolean {
    return this.#snapshots || reloadedAll(app, mark, 'resync');
  }
}

async function killLeader(
  scenario: Scenario,
  bridges: BridgeFleet,
  how: Resync,
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
      log.detail(how.successor(lease, term, killedAt, 'kill'));
      await transaction(db, schema, [`UPDATE countries SET name = 'Nippon' WHERE code = 'JP'`]);
      log.detail(`UPDATE countries committed: ${term.bridge} relays it`);
      return killedAt;
    },
    {
      extra: (app) => how.followed(app, marks.get(app) ?? 0),
      from: 'the kill',
      singleCommit: false,
    },
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

async function terminateLeaderListen(
  scenario: Scenario,
  bridges: BridgeFleet,
  how: Resync,
): Promise<void> {
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
      log.detail(how.successor(lease, term, terminatedAt, 'terminate'));
      return t0;
    },
    { extra: (app) => how.followed(app, marks.get(app) ?? 0), singleCommit: false },
  );
}
