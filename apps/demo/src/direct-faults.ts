// Direct mode's fault: one app's own LISTEN session is terminated; that app reconnects and
// reloads everything, so the change committed meanwhile is not lost.
import { appsLoseSelect } from './failing-reload.ts';
import { formatMs } from './narrator.ts';
import { reloadedAll, terminateThenCommit, type Faults, type Scenario } from './scenario.ts';
import { DEMO_TABLES } from './schema.ts';
import { findListenBackend } from './sql.ts';

/** Direct mode has nothing midway; its apps lose SELECT; at the end app-2 loses its LISTEN session. */
export function directFaults(): Faults {
  return {
    midway: () => Promise.resolve(),
    failingReload: appsLoseSelect,
    lostListen: (scenario) => killAppListen(scenario, 'app-2'),
  };
}

/** Kills app `name`'s LISTEN session and commits at once: that app reconnects and reloads everything. */
async function killAppListen(scenario: Scenario, name: string): Promise<void> {
  const ctx = scenario.context;
  const { fleet, log } = ctx;
  const target = fleet.apps.find((app) => app.name === name);
  if (target === undefined) throw new Error(`no app named ${name}`);
  const backend = await findListenBackend(ctx.db, ctx.role, name, ctx.stepTimeoutMs);
  scenario.headline(
    `lost connection: pg_terminate_backend(${backend}) (LISTEN session of ${name}), then UPDATE countries at once`,
  );
  const mark = target.lines.length;
  await scenario.converge('lost connection', () => terminateThenCommit(ctx, backend), {
    extra: (app) => app !== target || reloadedAll(app, mark, 'reconnect'),
    singleCommit: false,
  });
  const since = target.since(mark);
  const lost = since.find((line) => line.event === 'status' && line.status === 'reconnecting');
  const back = since.find((line) => line.event === 'status' && line.status === 'ready');
  if (lost !== undefined && back !== undefined) {
    log.detail(
      `${name} reconnected after ${formatMs(back.at - lost.at)} and reloaded all ${DEMO_TABLES.length} caches (reason "reconnect")`,
    );
  }
}
