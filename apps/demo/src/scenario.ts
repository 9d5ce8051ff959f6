// The changes the demo makes, in every way a table's rows can change, each followed by a wait
// until every app serves exactly what the database holds; midway the leading bridge is killed,
// and at the end the LISTEN session the apps depend on is terminated.
import { quoteIdent } from '@pg-static-cache/postgres';
import type pg from 'pg';
import type { App, AppEvent } from './apps.ts';
import type { Bridges } from './bridges.ts';
import type { Mode } from './config.ts';
import { formatMs, type Narrator } from './narrator.ts';
import { DEMO_TABLES, tableDigests, type DemoTable, type TableDigest } from './schema.ts';
import {
  formatQueries,
  queriesBetween,
  type QueryCount,
  type TableQueries,
} from './table-queries.ts';

/** What the scenario works with. */
export interface ScenarioContext {
  readonly db: pg.Pool;
  readonly schema: string;
  /** The apps' role (direct mode: whose LISTEN session is terminated). */
  readonly role: string;
  readonly mode: Mode;
  readonly apps: readonly App[];
  /** The bridges of redis and snapshot mode. */
  readonly bridges: Bridges | undefined;
  readonly log: Narrator;
  readonly stepTimeoutMs: number;
  /** Counts table queries per step; undefined when pg_stat_statements cannot be used. */
  readonly queries: TableQueries | undefined;
}

/** One step's outcome: commit→reload latency per app, and whether its extra check held. */
export interface StepResult {
  readonly title: string;
  readonly latencies: ReadonlyMap<string, number>;
  /** What latency counts from when not the COMMIT (e.g. 'the kill'). */
  readonly from?: string;
  readonly ok: boolean;
  readonly queries?: QueryCount;
  /** One commit and no resync: tables it changed, each worth one snapshot or one query per app. */
  readonly changes?: number;
}

interface Convergence {
  /** What t0 is, when not the COMMIT; shown with the latencies. */
  readonly from?: string;
  /** One commit and no resync, so its queries count per changed table. @default true */
  readonly singleCommit?: boolean;
}

/** Runs statements in one transaction on the demo schema; resolves with when COMMIT (or ROLLBACK) returned. */
export async function transaction(
  db: pg.Pool,
  schema: string,
  statements: readonly string[],
  end: 'COMMIT' | 'ROLLBACK' = 'COMMIT',
): Promise<number> {
  const client = await db.connect();
  try {
    await client.query(`BEGIN; SET LOCAL search_path TO ${quoteIdent(schema)}`);
    for (const statement of statements) await client.query(statement);
    await client.query(end);
    return performance.now();
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

const versionsOf = (app: App): Record<DemoTable, number> =>
  Object.fromEntries(DEMO_TABLES.map((t) => [t, app.served(t)?.version ?? 0])) as Record<
    DemoTable,
    number
  >;

/**
 * Who served the rows of `loads`, counted: `2 snapshot, 1 replica, 1 primary (lagging)`. The
 * primary's reason is the snapshot's fallback and the replica's outcome, when there are any.
 */
export function servedBy(loads: readonly AppEvent[]): string {
  if (loads.length === 0) return 'no reload';
  const counts = new Map<string, number>();
  for (const { source, fallback, replica } of loads) {
    const why = [fallback, replica === 'replica' ? undefined : replica].filter(
      (w) => w !== undefined,
    );
    const who =
      source === 'snapshot'
        ? 'snapshot'
        : replica === 'replica'
          ? 'replica'
          : `primary${why.length === 0 ? '' : ` (${why.join(', ')})`}`;
    counts.set(who, (counts.get(who) ?? 0) + 1);
  }
  return [...counts].map(([who, n]) => `${n} ${who}`).join(', ');
}

/** Drives the steps and keeps their results. */
export class Scenario {
  readonly results: StepResult[] = [];
  readonly #ctx: ScenarioContext;
  #digests: Record<DemoTable, TableDigest> | undefined;

  constructor(ctx: ScenarioContext) {
    this.#ctx = ctx;
  }

  /**
   * Every step, in an order where the rollback's exact-version check cannot be disturbed: it runs
   * before the failover, whose takeover resync and the change right after it can give region b
   * (its worker waits for a replica 1 s behind) a second, late snapshot of the same rows, which
   * would move a version while the check watches.
   */
  async run(): Promise<void> {
    const { bridges } = this.#ctx;
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
    await this.rollback();
    if (bridges !== undefined) await this.killLeader(bridges);
    await this.change('truncate+reseed', 'TRUNCATE feature_flags and INSERT 4 rows, one COMMIT', [
      'TRUNCATE feature_flags',
      `INSERT INTO feature_flags VALUES ('new_checkout', true, 100), ('dark_mode', true, 25),
       ('beta_search', true, 75), ('one_click_refunds', false, 0)`,
    ]);
    await this.burst(20);
    await this.lostListen();
  }

  /** Commits `statements` and waits until every app serves the new rows. */
  async change(title: string, what: string, statements: readonly string[]): Promise<StepResult> {
    this.#headline(`${title}: ${what}`);
    return this.#converge(title, () => transaction(this.#ctx.db, this.#ctx.schema, statements));
  }

  /** A rolled-back transaction sends nothing: the next commit moves the versions by exactly one. */
  async rollback(): Promise<void> {
    const { db, schema, apps, log } = this.#ctx;
    this.#headline('rollback: DELETE every plan and UPDATE countries, then ROLLBACK');
    const before = apps.map(versionsOf);
    await transaction(
      db,
      schema,
      ['DELETE FROM plans', `UPDATE countries SET currency = 'XXX'`],
      'ROLLBACK',
    );
    log.detail('then UPDATE plans (committed)');
    const result = await this.#converge('rollback', () =>
      transaction(db, schema, ['UPDATE plans SET active = true WHERE id = 4']),
    );
    const wrong = apps.filter((app, i) => {
      const [was, now] = [before[i], versionsOf(app)];
      return (
        now.plans !== (was?.plans ?? 0) + 1 ||
        now.countries !== was?.countries ||
        now.feature_flags !== was.feature_flags
      );
    });
    log.detail(
      wrong.length === 0
        ? 'versions moved plans +1, countries +0, feature_flags +0 in every app: the rollback caused no reload'
        : `UNEXPECTED versions in ${wrong.map((app) => `${app.name} ${JSON.stringify(versionsOf(app))}`).join(', ')}`,
    );
    this.#record({ ...result, ok: wrong.length === 0 });
  }

  /** Many commits in a row: reloads are single-flight, so commits during a reload share the next one. */
  async burst(commits: number): Promise<void> {
    const { db, schema, apps, log } = this.#ctx;
    this.#headline(`burst: ${commits} commits back to back, each updating feature_flags`);
    const marks = apps.map((app) => app.mark().stdout);
    const act = async (): Promise<number> => {
      let t0 = 0;
      for (let i = 1; i <= commits; i += 1) {
        t0 = await transaction(db, schema, [
          `UPDATE feature_flags SET rollout_percent = ${i} WHERE name = 'dark_mode'`,
        ]);
      }
      return t0;
    };
    await this.#converge('burst', act, { singleCommit: false });
    const counts = apps.map(
      (app, i) =>
        `${app.name} ${app.versions(marks[i]).filter((v) => v.table === 'feature_flags').length}`,
    );
    log.detail(
      `reloads for ${commits} commits: ${counts.join(' · ')} (commits during a reload share the next one)`,
    );
  }

  /** Kills the leading bridge and commits at once; the standby takes over and nothing is lost. */
  async killLeader(bridges: Bridges): Promise<void> {
    const { db, schema, apps, log, stepTimeoutMs } = this.#ctx;
    const lease = await bridges.leader();
    this.#headline(
      `leader failover: ${lease.bridge} leads (epoch ${lease.epoch}); SIGKILL it and UPDATE plans at once, UPDATE countries after the takeover`,
    );
    const result = await this.#converge(
      'leader failover',
      async () => {
        const killedAt = performance.now();
        await bridges.kill(lease.bridge);
        const committedAt = await transaction(db, schema, [
          'UPDATE plans SET price_cents = 2900 WHERE id = 2',
        ]);
        const term = await bridges.nextTerm(lease.epoch, stepTimeoutMs);
        const when =
          committedAt < term.at
            ? 'before any bridge led again: the takeover resync covers it'
            : 'after the takeover';
        log.detail(
          `${lease.bridge} killed; UPDATE plans committed ${formatMs(committedAt - killedAt)} later, ${when}`,
        );
        log.detail(
          `${term.bridge} took over: epoch ${term.epoch}, ${formatMs(term.at - killedAt)} after the kill; its "${term.reason}" resync covers every table`,
        );
        await transaction(db, schema, [`UPDATE countries SET name = 'Nippon' WHERE code = 'JP'`]);
        log.detail(`UPDATE countries committed: ${term.bridge} relays it`);
        return killedAt;
      },
      { from: 'the kill', singleCommit: false },
    );
    log.detail(
      `kill → all ${apps.length} apps converged in ${formatMs(Math.max(...result.latencies.values()))}`,
    );
    const restarted = performance.now();
    bridges.restart(lease.bridge);
    await bridges.standby(lease.bridge, this.#ctx.stepTimeoutMs * 3);
    const pid = bridges.processes.find((b) => b.id === lease.bridge)?.pid ?? '?';
    log.detail(
      `${lease.bridge} restarted (pid ${pid}): standby after ${formatMs(performance.now() - restarted)}`,
    );
  }

  /**
   * Terminates the LISTEN session the apps depend on (the leader's, or app-2's own in direct mode)
   * and commits at once: its NOTIFY goes out while nobody listens there. The reconnect (a new term
   * and its resync, or app-2's reload of everything) covers it.
   */
  async lostListen(): Promise<void> {
    const { db, schema, apps, bridges, log, stepTimeoutMs } = this.#ctx;
    const commit = async (pid: number): Promise<number> => {
      await db.query('SELECT pg_catalog.pg_terminate_backend($1)', [pid]);
      return transaction(db, schema, [
        `UPDATE countries SET name = 'Deutschland' WHERE code = 'DE'`,
      ]);
    };
    if (bridges !== undefined) {
      const lease = await bridges.leader();
      this.#headline(
        `lost connection: pg_terminate_backend(${lease.backendPid}) (LISTEN session of the leader ${lease.bridge}, epoch ${lease.epoch}), then UPDATE countries at once`,
      );
      await this.#converge(
        'lost connection',
        async () => {
          const t0 = await commit(lease.backendPid);
          const term = await bridges.nextTerm(lease.epoch, stepTimeoutMs);
          log.detail(
            `${term.bridge} leads: epoch ${term.epoch}; its "${term.reason}" resync covers every table`,
          );
          return t0;
        },
        { singleCommit: false },
      );
      return;
    }
    const app = apps[1];
    if (app === undefined) return;
    const pid = await this.#listenSession(app.name);
    this.#headline(
      `lost connection: pg_terminate_backend(${pid}) (LISTEN session of ${app.name}), then UPDATE countries at once`,
    );
    const mark = app.mark().stderr;
    const reloaded = (): boolean =>
      DEMO_TABLES.every((t) =>
        app
          .events(mark)
          .some((e) => e.table?.endsWith(`.${t}`) === true && e.reason === 'reconnect'),
      );
    await this.#converge('lost connection', () => commit(pid), { singleCommit: false });
    await app.until('a reload of every cache after the reconnect', reloaded, stepTimeoutMs);
    log.detail(
      `${app.name} reconnected and reloaded all ${DEMO_TABLES.length} caches (reason "reconnect")`,
    );
  }

  /** The results, each step's title and outcome. */
  #record(result: StepResult): StepResult {
    const index = this.results.findIndex((r) => r.title === result.title);
    if (index === -1) this.results.push(result);
    else this.results[index] = result;
    return result;
  }

  #headline(text: string): void {
    this.#ctx.log.line(`${this.results.length + 1}. ${text}`);
  }

  /** The backend pid of app `name`'s LISTEN session (its last statement: LISTEN or a heartbeat NOTIFY). */
  async #listenSession(name: string): Promise<number> {
    const result = await this.#ctx.db.query<{ pid: number }>(
      `SELECT pid FROM pg_catalog.pg_stat_activity
       WHERE usename = $1 AND application_name = $2
         AND (query LIKE 'LISTEN %' OR query LIKE 'SELECT pg_notify(%')`,
      [this.#ctx.role, name],
    );
    const [row, ...more] = result.rows;
    if (row === undefined || more.length > 0) throw new Error(`not one LISTEN session of ${name}`);
    return row.pid;
  }

  /**
   * Runs `act` (resolving with t0: when COMMIT returned, or the moment named `from`), then waits
   * until every app serves the database's digest of every table; an app's latency is its first
   * version with the new rows − t0, for the slowest changed table.
   */
  async #converge(
    title: string,
    act: () => Promise<number>,
    options: Convergence = {},
  ): Promise<StepResult> {
    const { from, singleCommit = true } = options;
    const { db, schema, apps, log, stepTimeoutMs, queries } = this.#ctx;
    const marks = apps.map((app) => app.mark());
    const before = this.#digests ?? (await tableDigests(db, schema));
    const sample = await queries?.sample();
    const t0 = await act();
    const expected = await tableDigests(db, schema);
    const changed = DEMO_TABLES.filter((t) => expected[t].digest !== before[t].digest);
    const serves = (app: App): boolean =>
      DEMO_TABLES.every((t) => app.served(t)?.digest === expected[t].digest);
    await Promise.all(
      apps.map((app) => app.until('the committed rows', () => serves(app), stepTimeoutMs)),
    );
    this.#digests = expected;
    const latencies = new Map<string, number>();
    apps.forEach((app, i) => {
      const since = app.versions(marks[i]?.stdout);
      const ats = changed.map(
        (t) => (since.find((v) => v.table === t && v.digest === expected[t].digest)?.at ?? t0) - t0,
      );
      if (ats.length > 0) latencies.set(app.name, Math.max(...ats));
    });
    const versions = changed.map(
      (t) => `${t} v${[...new Set(apps.map((app) => app.served(t)?.version))].join('/')}`,
    );
    const timings = [...latencies].map(([name, ms]) => `${name} ${formatMs(ms)}`).join(' · ');
    const count =
      sample === undefined || queries === undefined
        ? undefined
        : queriesBetween(sample, await queries.sample());
    // Read after the count's round trip: each reload event follows its stdout line on stderr.
    const loadsIn = (region?: string): AppEvent[] =>
      apps.flatMap((app, i) =>
        region === undefined || app.region === region
          ? app.events(marks[i]?.stderr).filter((e) => e.event === 'reload')
          : [],
      );
    const counted =
      sample === undefined
        ? ''
        : ` · table queries: ${formatQueries(count, this.#ctx.mode === 'snapshot')}`;
    log.detail(
      `→ converged (${versions.join(', ')}): ${timings}${from === undefined ? '' : ` (from ${from})`}${this.#sources(loadsIn)}${counted}`,
    );
    return this.#record({
      title,
      latencies,
      ok: true,
      ...(from === undefined ? {} : { from }),
      ...(count === undefined ? {} : { queries: count }),
      ...(singleCommit ? { changes: changed.length } : {}),
    });
  }

  /**
   * With regions: who served each region's rows. Else, in snapshot mode: where the loads came from
   * (the other modes always query Postgres).
   */
  #sources(loadsIn: (region?: string) => AppEvent[]): string {
    const regions = [...new Set(this.#ctx.apps.map((app) => app.region))];
    if (regions.length > 1) return regions.map((r) => ` · ${r}: ${servedBy(loadsIn(r))}`).join('');
    const loads = loadsIn();
    if (this.#ctx.mode !== 'snapshot' || loads.length === 0) return '';
    const queried = loads.filter((e) => e.source === 'postgres');
    if (queried.length === 0) return ' · from snapshots';
    const why = [...new Set(queried.map((e) => e.fallback ?? '?'))].join(', ');
    return ` · ${loads.length - queried.length} from snapshots, ${queried.length} from Postgres (${why})`;
  }
}
