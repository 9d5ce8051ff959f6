// The changes the demo makes, in every way a table's rows can change, each followed by a wait
// until every app process serves exactly what the database holds.
import type pg from 'pg';
import type { ReloadLine } from './app-events.ts';
import type { AppProcess } from './app-process-handle.ts';
import type { Fleet } from './fleet.ts';
import { formatMs, type Narrator } from './narrator.ts';
import { DEMO_TABLES, tableDigests, type DemoTable, type TableDigest } from './schema.ts';
import { transaction } from './sql.ts';
import {
  formatQueries,
  queriesBetween,
  type QueryCount,
  type QuerySample,
  type TableQueries,
} from './table-queries.ts';

/**
 * The failures a mode is put through: direct mode loses an app's LISTEN session; with bridges the
 * leader is lost midway and the leader's LISTEN session at the end. A failing reload fails where
 * the mode's table queries run: in the apps, or (snapshot mode) in the reload worker.
 */
export interface Faults {
  /** Runs between the transaction and the truncate step. */
  readonly midway: (scenario: Scenario) => Promise<void>;
  /** Runs after the burst: a role loses SELECT on plans while plans changes, then gets it back. */
  readonly failingReload: (scenario: Scenario) => Promise<void>;
  /** The last step: the LISTEN session the apps depend on is terminated. */
  readonly lostListen: (scenario: Scenario) => Promise<void>;
}

/** What the scenario works with. */
export interface ScenarioContext {
  readonly db: pg.Pool;
  readonly schema: string;
  readonly role: string;
  readonly fleet: Fleet;
  readonly log: Narrator;
  /** How long one step may take to converge. */
  readonly stepTimeoutMs: number;
  readonly faults: Faults;
  /** Counts table queries per step; undefined when pg_stat_statements cannot be used. */
  readonly queries: TableQueries | undefined;
  /** The mode has reload workers: their queries are shown apart from the apps'. */
  readonly workers: boolean;
  /** Resolves once the work a step set off outside the apps is done (snapshot mode: reload jobs). */
  readonly settle: () => Promise<void>;
}

/** One step's outcome: reload latency per app name, and whether its extra check held. */
export interface StepResult {
  readonly title: string;
  readonly latencies: ReadonlyMap<string, number>;
  /** What latency counts from when not the COMMIT (e.g. 'the GRANT'). */
  readonly from?: string;
  readonly ok: boolean;
  /** Table queries Postgres ran during the step, when counted. */
  readonly queries?: QueryCount;
  /** One commit without a resync: tables it changed, each worth one snapshot or one query per app. */
  readonly changes?: number;
}

/** Whether `app` reloaded every cache for `reason` since its line `mark`. */
export const reloadedAll = (app: AppProcess, mark: number, reason: string): boolean =>
  DEMO_TABLES.every((t) => app.reloadsSince(mark, t).some((line) => line.reason === reason));

/**
 * Terminates a LISTEN session (`pg_terminate_backend`) and at once commits a change: its NOTIFY
 * goes out while nobody listens on that session. Resolves with the commit time.
 */
export async function terminateThenCommit(ctx: ScenarioContext, pid: number): Promise<number> {
  await ctx.db.query('SELECT pg_catalog.pg_terminate_backend($1)', [pid]);
  return transaction(ctx.db, ctx.schema, [
    `UPDATE countries SET name = 'Deutschland' WHERE code = 'DE'`,
  ]);
}

type Digests = Record<DemoTable, TableDigest>;

/** How a step's convergence is judged and timed. */
export interface Convergence {
  /** A further condition every app must meet. */
  readonly extra?: (app: AppProcess) => boolean;
  /** What t0 is, when not the COMMIT (e.g. 'the GRANT'); shown with the latencies. */
  readonly from?: string;
  /** One commit and no resync, so its queries count per changed table. @default true */
  readonly singleCommit?: boolean;
}

const versionsOf = (app: AppProcess): Record<DemoTable, number> =>
  Object.fromEntries(DEMO_TABLES.map((t) => [t, app.served(t)?.version ?? 0])) as Record<
    DemoTable,
    number
  >;

/** Drives the steps and remembers their results. */
export class Scenario {
  readonly results: StepResult[] = [];
  readonly #ctx: ScenarioContext;
  #digests: Digests | undefined;

  constructor(ctx: ScenarioContext) {
    this.#ctx = ctx;
  }

  /** What the steps work with (for the mode's faults). */
  get context(): ScenarioContext {
    return this.#ctx;
  }

  /** Every step, in an order where the exact-version check of the rollback step cannot be disturbed. */
  async run(): Promise<void> {
    this.#digests = await tableDigests(this.#ctx.db, this.#ctx.schema);
    await this.change('insert', 'INSERT a country', [
      `INSERT INTO countries VALUES ('BR', 'Brazil', 'BRL')`,
    ]);
    await this.change('update', 'UPDATE the price of a plan', [
      'UPDATE plans SET price_cents = 2400 WHERE id = 2',
    ]);
    await this.change('delete', 'DELETE a country', [`DELETE FROM countries WHERE code = 'GB'`]);
    await this.change('transaction', 'one COMMIT: 2 plans, 1 flag, 1 country', [
      `INSERT INTO plans VALUES (5, 'Enterprise', 19900, true)`,
      'UPDATE plans SET active = false WHERE id = 3',
      `UPDATE feature_flags SET rollout_percent = 50 WHERE name = 'beta_search'`,
      `INSERT INTO countries VALUES ('IN', 'India', 'INR')`,
    ]);
    await this.#ctx.faults.midway(this);
    await this.change(
      'truncate+reseed',
      'TRUNCATE feature_flags and INSERT 4 new rows, one COMMIT',
      [
        'TRUNCATE feature_flags',
        `INSERT INTO feature_flags VALUES ('new_checkout', true, 100), ('dark_mode', true, 25),
         ('beta_search', true, 75), ('one_click_refunds', false, 0)`,
      ],
    );
    await this.rollback();
    await this.burst(20);
    await this.#ctx.faults.failingReload(this);
    await this.#ctx.faults.lostListen(this);
  }

  /** Commits `statements` and waits until every app serves the new rows. */
  async change(title: string, what: string, statements: readonly string[]): Promise<StepResult> {
    this.headline(`${title}: ${what}`);
    return this.converge(title, () => transaction(this.#ctx.db, this.#ctx.schema, statements));
  }

  /** Prints the next step's numbered headline. */
  headline(text: string): void {
    this.#ctx.log.line(`${this.results.length + 1}. ${text}`);
  }

  /** A rolled-back transaction sends nothing: the next commit moves the versions by exactly one. */
  async rollback(): Promise<StepResult> {
    const { db, schema, fleet, log } = this.#ctx;
    this.headline('rollback: DELETE every plan and UPDATE countries, then ROLLBACK');
    const before = new Map(fleet.apps.map((app) => [app, versionsOf(app)]));
    await transaction(
      db,
      schema,
      ['DELETE FROM plans', `UPDATE countries SET currency = 'XXX'`],
      'ROLLBACK',
    );
    log.detail('then UPDATE plans (committed)');
    const result = await this.converge('rollback', () =>
      transaction(db, schema, ['UPDATE plans SET active = true WHERE id = 4']),
    );
    const wrong = fleet.apps.filter((app) => {
      const was = before.get(app);
      const now = versionsOf(app);
      return (
        was === undefined ||
        now.plans !== was.plans + 1 ||
        now.countries !== was.countries ||
        now.feature_flags !== was.feature_flags
      );
    });
    const ok = wrong.length === 0;
    log.detail(
      ok
        ? 'versions moved plans +1, countries +0, feature_flags +0 in every app: the rollback caused no reload'
        : `UNEXPECTED versions in ${wrong.map((app) => app.name).join(', ')}: ${wrong.map((app) => JSON.stringify(versionsOf(app))).join(' ')}`,
    );
    return this.record({ ...result, ok });
  }

  /** Many commits in a row: reloads are single-flight, so commits landing during a reload share the next one. */
  async burst(commits: number): Promise<StepResult> {
    const { db, schema, fleet, log } = this.#ctx;
    this.headline(`burst: ${commits} commits back to back, each updating feature_flags`);
    const marks = fleet.marks();
    const result = await this.converge(
      'burst',
      async () => {
        let t0 = 0;
        for (let i = 1; i <= commits; i += 1) {
          t0 = await transaction(db, schema, [
            `UPDATE feature_flags SET rollout_percent = ${i} WHERE name = 'dark_mode'`,
          ]);
        }
        return t0;
      },
      { singleCommit: false },
    );
    const counts = fleet.apps.map(
      (app) => `${app.name} ${app.reloadsSince(marks.get(app) ?? 0, 'feature_flags').length}`,
    );
    log.detail(
      `reloads for ${commits} commits: ${counts.join(' · ')} (commits landing during a reload share the next one)`,
    );
    return result;
  }

  /** Keeps a step's result, replacing an earlier one of the same title (a check after converging). */
  record(result: StepResult): StepResult {
    const index = this.results.findIndex((r) => r.title === result.title);
    if (index === -1) this.results.push(result);
    else this.results[index] = result;
    return result;
  }

  /**
   * Runs `act` (which resolves with the commit time t0, or the moment named by `from`), then waits
   * until every app serves the database's digest of every table and `extra` holds for it; latency
   * is the first matching reload's `at` − t0.
   */
  async converge(
    title: string,
    act: () => Promise<number>,
    options: Convergence = {},
  ): Promise<StepResult> {
    const { extra = () => true, from, singleCommit = true } = options;
    const { db, schema, fleet, log, stepTimeoutMs } = this.#ctx;
    const marks = fleet.marks();
    const before = this.#digests ?? (await tableDigests(db, schema));
    const sample = await this.#ctx.queries?.sample();
    const t0 = await act();
    const expected = await tableDigests(db, schema);
    const changed = DEMO_TABLES.filter((t) => expected[t].digest !== before[t].digest);
    const serves = (app: AppProcess): boolean =>
      DEMO_TABLES.every((t) => {
        const served = app.served(t);
        return served !== undefined && !served.stale && served.digest === expected[t].digest;
      });
    await fleet.waitAll(
      'reload to the committed rows',
      (app) => serves(app) && extra(app),
      stepTimeoutMs,
    );
    this.#digests = expected;
    const latencies = new Map<string, number>();
    const loads: ReloadLine[] = [];
    for (const app of fleet.apps) {
      const ats = changed.map((t) => {
        const reload = app.reloadsTo(marks.get(app) ?? 0, t, expected[t].digest)[0];
        if (reload !== undefined) loads.push(reload);
        return (reload?.at ?? t0) - t0;
      });
      if (ats.length > 0) latencies.set(app.name, Math.max(...ats));
    }
    const versions = changed.map((t) => {
      const all = [...new Set(fleet.apps.map((app) => app.served(t)?.version ?? 0))];
      return `${t} v${all.join('/')}`;
    });
    const timings = [...latencies].map(([name, ms]) => `${name} ${formatMs(ms)}`).join(' · ');
    const origin = from === undefined ? '' : ` (from ${from})`;
    const queries = sample === undefined ? undefined : await this.#queriesSince(sample);
    const counted =
      sample === undefined ? '' : ` · table queries: ${formatQueries(queries, this.#ctx.workers)}`;
    log.detail(
      `→ converged (${versions.join(', ')}): ${timings}${origin}${this.#sources(loads)}${counted}`,
    );
    return this.record({
      title,
      latencies,
      ok: true,
      ...(from === undefined ? {} : { from }),
      ...(queries === undefined ? {} : { queries }),
      ...(singleCommit ? { changes: changed.length } : {}),
    });
  }

  /** Waits until nothing the step set off still runs, then counts the table queries since `sample`. */
  async #queriesSince(sample: QuerySample): Promise<QueryCount | undefined> {
    const { fleet, queries, settle, stepTimeoutMs } = this.#ctx;
    await settle();
    await fleet.idle(stepTimeoutMs);
    const now = await queries?.sample();
    return now === undefined ? undefined : queriesBetween(sample, now);
  }

  /** Snapshot mode: where the converging loads came from (other modes always query Postgres). */
  #sources(loads: readonly ReloadLine[]): string {
    if (!this.#ctx.workers || loads.length === 0) return '';
    const queried = loads.filter((line) => line.source === 'postgres');
    if (queried.length === 0) return ' · from snapshots';
    const why = [...new Set(queried.map((line) => line.fallback ?? '?'))].join(', ');
    return ` · ${loads.length - queried.length} from snapshots, ${queried.length} from Postgres (${why})`;
  }
}
