// The failing-reload step: a role loses SELECT on plans while plans changes, so the reloads fail
// and retry while every app keeps serving the rows from before; a GRANT lets the retries through.
// The role is whichever runs the mode's table queries: the apps' own (direct and redis mode) or
// the bridges' (snapshot mode: the reload worker's job fails and BullMQ retries it with backoff).
import { quoteIdent } from '@pg-static-cache/postgres';
import { preciseNow } from './app-events.ts';
import type { AppProcess } from './app-process-handle.ts';
import { JOB_SETTINGS, type BridgeFleet } from './bridge-fleet.ts';
import { RELOAD_JOBS_METRIC } from './bridge-metrics.ts';
import type { ReloadJobView, ReloadQueueWatch } from './reload-queue-watch.ts';
import type { Scenario } from './scenario.ts';
import { tableDigests } from './schema.ts';
import { transaction } from './sql.ts';
import { pollUntil } from './waiting.ts';

/** Who loses SELECT, how their failures show, and what the apps do meanwhile. */
interface FailurePlan {
  readonly role: string;
  /** Appended to the role in the headline. */
  readonly whose: string;
  /** Called after the REVOKE, before the UPDATE. */
  readonly revoked?: () => Promise<void>;
  /** After the UPDATE: resolves once the failures show (and says what they are, if need be). */
  readonly failures: (marks: ReadonlyMap<AppProcess, number>) => Promise<void>;
  /** What `app` shows while its caches cannot follow plans. */
  readonly meanwhile: (app: AppProcess, mark: number) => string;
  /** Said with the GRANT. */
  readonly recovery: string;
  /** Checked once every app converged; returns whether it held. */
  readonly after?: (marks: ReadonlyMap<AppProcess, number>, digest: string) => Promise<boolean>;
}

/** Redis and direct mode: the apps' role loses SELECT; each app's own reloads fail and retry. */
export function appsLoseSelect(scenario: Scenario): Promise<void> {
  const { role, fleet, stepTimeoutMs } = scenario.context;
  return failingReload(scenario, {
    role,
    whose: '',
    failures: async (marks) => {
      const failedTwice = (app: AppProcess): boolean =>
        app.staleSince(marks.get(app) ?? 0, 'plans').length >= 2;
      await fleet.waitAll('two failed reloads of plans', failedTwice, stepTimeoutMs);
    },
    meanwhile: (app, mark) => {
      const stale = app.staleSince(mark, 'plans');
      return `${stale.length} failed reloads ("${stale[0]?.error ?? '?'}")`;
    },
    recovery: "the apps' own retries recover",
  });
}

/** Snapshot mode's reload workers: the role they log in as, and the queue they take jobs from. */
export interface ReloadWorkers {
  readonly role: string;
  readonly queue: ReloadQueueWatch;
  /** How long the apps wait for a snapshot before querying Postgres themselves. */
  readonly appWaitMs: number;
}

/** The label of the reload workers' retried attempts on the bridges' /metrics. */
const RETRIED = { outcome: 'retried' } as const;

/**
 * Snapshot mode: the bridges' role loses SELECT. The apps never query plans: they wait for the
 * worker's snapshot, serving the rows from before. The worker's job fails and BullMQ retries it
 * with backoff; after the GRANT a retry stores the snapshot and every app swaps it in.
 */
export function workerLosesSelect(
  scenario: Scenario,
  bridges: BridgeFleet,
  workers: ReloadWorkers,
): Promise<void> {
  const { schema, log, stepTimeoutMs } = scenario.context;
  const table = `${schema}.plans`;
  const retried = (): Promise<number> => bridges.metric(RELOAD_JOBS_METRIC, RETRIED);
  let retriedBefore = 0;
  let job: ReloadJobView | undefined;
  return failingReload(scenario, {
    role: workers.role,
    whose: " (the bridges' role, so the reload workers')",
    revoked: async () => {
      retriedBefore = await retried();
    },
    failures: async () => {
      const failing = async (): Promise<ReloadJobView | undefined> =>
        (await workers.queue.unfinished()).find((j) => j.table === table && j.attemptsMade >= 2);
      job = await pollUntil(
        `second failed attempt of the reload job for ${table}`,
        failing,
        stepTimeoutMs,
      );
      log.detail(
        `reload job ${job.id} (${table}): ${job.attemptsMade} attempts failed ("${job.failedReason ?? '?'}"); BullMQ retries it with backoff (${JOB_SETTINGS.PSC_JOB_BACKOFF_MS} ms, doubling)`,
      );
    },
    meanwhile: () =>
      `waits for the worker's snapshot (up to ${workers.appWaitMs} ms, then it would query plans itself)`,
    recovery: "the job's next retry stores a snapshot",
    after: async (marks, digest) => {
      const done = job === undefined ? undefined : await workers.queue.job(job.id);
      const metric = (await retried()) - retriedBefore;
      const attempts =
        done === undefined
          ? ''
          : `reload job ${done.id}: ${done.attemptsMade} attempts, the first ${done.attemptsMade - 1} failed; `;
      const queried = scenario.context.fleet.apps.filter((app) =>
        app.reloadsTo(marks.get(app) ?? 0, 'plans', digest).some((r) => r.source !== 'snapshot'),
      );
      log.detail(
        queried.length === 0
          ? `${attempts}${RELOAD_JOBS_METRIC}{outcome="retried"} +${metric} on the bridges' /metrics; every app swapped in the worker's snapshot`
          : `UNEXPECTED: ${queried.map((app) => app.name).join(', ')} queried plans themselves (the snapshot came too late)`,
      );
      return queried.length === 0;
    },
  });
}

async function failingReload(scenario: Scenario, plan: FailurePlan): Promise<void> {
  const { db, schema, fleet, log, stepTimeoutMs } = scenario.context;
  const plans = `${quoteIdent(schema)}.plans`;
  const role = quoteIdent(plan.role);
  scenario.headline(
    `failing reload: REVOKE SELECT ON plans FROM ${plan.role}${plan.whose}, then UPDATE plans`,
  );
  const servedBefore = (await tableDigests(db, schema)).plans.digest;
  const marks = fleet.marks();
  const result = await scenario.converge(
    'failing reload',
    async () => {
      await db.query(`REVOKE SELECT ON ${plans} FROM ${role}`);
      await plan.revoked?.();
      await transaction(db, schema, [`UPDATE plans SET name = 'Pro 2025' WHERE id = 2`]);
      await plan.failures(marks);
      for (const app of fleet.apps) {
        const state = (await app.state(stepTimeoutMs)).tables['plans'];
        const old =
          state?.digest === servedBefore ? 'the rows from before the UPDATE' : 'CHANGED rows';
        log.detail(
          `${app.name}: ${plan.meanwhile(app, marks.get(app) ?? 0)}, status ${state?.status ?? '?'}, still serving v${state?.version ?? '?'}: ${old}`,
        );
      }
      await db.query(`GRANT SELECT ON ${plans} TO ${role}`);
      log.detail(`GRANT SELECT ON plans TO ${plan.role}: ${plan.recovery}`);
      return preciseNow();
    },
    { from: 'the GRANT' },
  );
  if (plan.after === undefined) return;
  const expected = (await tableDigests(db, schema)).plans.digest;
  if (!(await plan.after(marks, expected))) scenario.record({ ...result, ok: false });
}
