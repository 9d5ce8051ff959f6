// How many times Postgres ran a cache load of a demo table, and for whom: the reload workers (the
// bridge role) or the apps (the app role). That number is what snapshot mode saves: without it,
// every app queries every changed table.
//
// Counted with pg_stat_statements, not pg_stat_user_tables. The table statistics count every scan
// by anyone without saying whose (the driver's own digest queries, the index scans of its UPDATEs,
// the bridge's drift check), and backends report them to the statistics system in batches (at
// most once a second, or later), so one step's scans can show up in the next. pg_stat_statements
// adds each statement to shared memory as it finishes, keyed by role and normalized text: exact
// per step, split by role, and only the loads' own `SELECT * FROM "schema"."table" ...` (the
// workers' and apps' query text; the drift check's starts differently). A statement that fails
// (permission denied) is not counted: the counts are queries that ran.
import { quoteIdent } from '@pg-static-cache/postgres';
import type pg from 'pg';
import type { Narrator } from './narrator.ts';
import type { DemoSchema } from './schema.ts';

/** Cache loads of the demo tables Postgres ran, by role. */
export interface QueryCount {
  /** By the reload workers (bridge role): one per snapshot taken. */
  readonly worker: number;
  /** By the app processes (app role): one per table query of a cache. */
  readonly apps: number;
}

/** Who ran a statement. */
type Runner = keyof QueryCount;

/**
 * One reading of the counters: calls per statement entry (role and normalized statement). When
 * pg_stat_statements is full it evicts its least-used entries, and an evicted entry starts again
 * from zero; comparing entry by entry shows when that happened (see {@link queriesBetween}).
 */
export interface QuerySample {
  readonly entries: ReadonlyMap<string, { readonly runner: Runner; readonly calls: number }>;
}

/** The roles whose loads are counted. */
export interface CountedRoles {
  readonly worker: string;
  readonly apps: string;
}

/** pg_stat_statements is not there, cannot be created, or cannot show the roles' statements. */
export class QueriesUncountable extends Error {
  override readonly name = 'QueriesUncountable';
}

const SAMPLE_SQL = (view: string) => `
SELECT r.rolname AS role, s.queryid::text AS id, sum(s.calls)::text AS calls
FROM ${view}.pg_stat_statements s
JOIN pg_catalog.pg_roles r ON r.oid = s.userid
WHERE s.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
  AND r.rolname IN ($2, $3)
  AND pg_catalog.starts_with(s.query, $1)
GROUP BY r.rolname, s.queryid`;

/** Reads pg_stat_statements' counts of the loads of every table in one schema. */
export class TableQueries {
  readonly #db: pg.Pool;
  readonly #sql: string;
  readonly #roles: CountedRoles;
  readonly #params: readonly string[];

  private constructor(db: pg.Pool, extensionSchema: string, schema: string, roles: CountedRoles) {
    this.#db = db;
    this.#sql = SAMPLE_SQL(quoteIdent(extensionSchema));
    this.#roles = roles;
    // selectRowsSql's text: `SELECT * FROM "schema"."table" ORDER BY ...`.
    this.#params = [`SELECT * FROM ${quoteIdent(schema)}.`, roles.worker, roles.apps];
  }

  /**
   * Creates the extension if needed (the local cluster preloads its library; creating it takes a
   * superuser) and checks that this session sees other roles' statements. Throws
   * {@link QueriesUncountable} with the reason when the counts cannot be had.
   */
  static async open(db: pg.Pool, schema: string, roles: CountedRoles): Promise<TableQueries> {
    const fail = (why: string, cause?: unknown): never => {
      const detail = cause instanceof Error ? `: ${cause.message}` : '';
      throw new QueriesUncountable(`${why}${detail}`, { cause });
    };
    try {
      await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    } catch (error) {
      fail('cannot create the extension pg_stat_statements', error);
    }
    const found = await db.query<{ schema: string; track: string; reads: boolean }>(
      `SELECT n.nspname AS schema, pg_catalog.current_setting('pg_stat_statements.track') AS track,
              pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE') AS reads
       FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
       WHERE e.extname = 'pg_stat_statements'`,
    );
    const row = found.rows[0];
    if (row === undefined) return fail('the extension pg_stat_statements is not installed');
    if (row.track === 'none') return fail('pg_stat_statements.track is none');
    if (!row.reads) return fail("this login cannot read other roles' statements");
    const queries = new TableQueries(db, row.schema, schema, roles);
    try {
      await queries.sample();
    } catch (error) {
      // Typically: the library is not in shared_preload_libraries.
      fail('pg_stat_statements cannot be read', error);
    }
    return queries;
  }

  /** The counts now. */
  async sample(): Promise<QuerySample> {
    const result = await this.#db.query<{ role: string; id: string; calls: string }>(this.#sql, [
      ...this.#params,
    ]);
    const entries = new Map(
      result.rows.map((row) => {
        const runner: Runner = row.role === this.#roles.worker ? 'worker' : 'apps';
        return [`${row.role}/${row.id}`, { runner, calls: Number(row.calls) }] as const;
      }),
    );
    return { entries };
  }
}

/**
 * Loads run between two samples; undefined when an entry vanished or went back (evicted, so
 * some calls are lost). An entry evicted and re-created with more calls than before would go
 * unnoticed, which takes more loads of one table within a step than in the whole run before it.
 */
export function queriesBetween(before: QuerySample, after: QuerySample): QueryCount | undefined {
  const count = { worker: 0, apps: 0 };
  for (const [key, was] of before.entries) {
    const now = after.entries.get(key);
    if (now === undefined || now.calls < was.calls) return undefined;
  }
  for (const [key, now] of after.entries) {
    count[now.runner] += now.calls - (before.entries.get(key)?.calls ?? 0);
  }
  return count;
}

/** `1 (worker) + 0 (apps)`, or just the apps' count in a mode without workers. */
export function formatQueries(count: QueryCount | undefined, withWorker: boolean): string {
  if (count === undefined) return 'not counted (pg_stat_statements evicted entries)';
  return withWorker ? `${count.worker} (worker) + ${count.apps} (apps)` : `${count.apps} (apps)`;
}

/** Opens the counter and says what it counts, or says in one line why queries go uncounted. */
export async function openTableQueries(
  db: pg.Pool,
  demo: Pick<DemoSchema, 'schema' | 'role' | 'bridgeRole'>,
  workers: boolean,
  log: Narrator,
): Promise<TableQueries | undefined> {
  try {
    const queries = await TableQueries.open(db, demo.schema, {
      worker: demo.bridgeRole,
      apps: demo.role,
    });
    const worker = workers ? ` and by ${demo.bridgeRole} (the reload workers)` : '';
    log.line(
      `counting table queries with pg_stat_statements: SELECT * FROM ${demo.schema}.<table> by ${demo.role} (the apps)${worker}`,
    );
    return queries;
  } catch (error) {
    if (!(error instanceof QueriesUncountable)) throw error;
    log.line(`table queries not counted: ${error.message}`);
    return undefined;
  }
}
