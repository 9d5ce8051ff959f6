// The steps of docs/migrating-from-sequel.md, run as the guide says, against a Sequel-style app
// and `pg-static-cache watch` sharing one set of triggers. The Sequel side does what Sequel's
// pg_static_cache_updater does: map each model table's OID once at start, LISTEN on
// sequel_static_cache_update, and reload the table whose OID arrives as the payload. Its triggers
// and function are created with exactly the SQL Sequel's migration helpers run.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPsql } from '../support/fixtures/psql.ts';
import {
  createTestSchema,
  databaseUrl,
  tableDigest,
  waitFor,
  type TestSchema,
} from '../support/index.ts';
import { runCli, spawnCli, type SpawnedProcess } from '../support/process.ts';

const CHANNEL = 'sequel_static_cache_update';
const TABLES = ['plans', 'countries'] as const;

/** What Sequel's create_static_cache_update_function and _trigger run (unqualified, as Sequel does). */
const SEQUEL_TRIGGERS_SQL = `
CREATE FUNCTION sequel_static_cache_update() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN
  PERFORM pg_notify(''sequel_static_cache_update'', TG_RELID::text);
  RETURN NULL;
END
';
${TABLES.map((t) => `CREATE TRIGGER sequel_static_cache_update AFTER INSERT OR UPDATE OR DELETE ON ${t} EXECUTE PROCEDURE sequel_static_cache_update();`).join('\n')}
`;

/** A Sequel app's caches: the OID map is built once at start, as listen_for_static_cache_updates does. */
class SequelStyleApp {
  readonly digests = new Map<string, string>();
  readonly #client: pg.Client;
  readonly #pool: pg.Pool;
  readonly #tableOf = new Map<number, string>();

  private constructor(client: pg.Client, pool: pg.Pool) {
    this.#client = client;
    this.#pool = pool;
  }

  static async start(url: string, pool: pg.Pool): Promise<SequelStyleApp> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const app = new SequelStyleApp(client, pool);
    for (const table of TABLES) {
      const { rows } = await pool.query<{ oid: number }>('SELECT $1::regclass::oid AS oid', [
        table,
      ]);
      app.#tableOf.set(Number(rows[0]?.oid), table);
      await app.#reload(table);
    }
    client.on('notification', ({ payload }) => {
      const table = app.#tableOf.get(Number(payload));
      if (table !== undefined) void app.#reload(table);
    });
    await client.query(`LISTEN ${CHANNEL}`);
    return app;
  }

  async #reload(table: string): Promise<void> {
    this.digests.set(table, await tableDigest(this.#pool, table));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#client.end();
  }
}

let s: TestSchema;
let env: { DATABASE_URL: string };
/** Sequel's function is where its search_path put it: this test's schema. */
let naming: string[];

beforeAll(async () => {
  s = await createTestSchema('psc_sequel');
  env = { DATABASE_URL: s.url };
  naming = ['--channel', CHANNEL, '--function-name', `${s.schema}.${CHANNEL}`];
  await s.pool.query(`
    CREATE TABLE plans (id int PRIMARY KEY, name text);
    CREATE TABLE countries (code text PRIMARY KEY, name text);
    INSERT INTO plans VALUES (1, 'free'), (2, 'pro');
    INSERT INTO countries VALUES ('FR', 'France');
  `);
  await s.pool.query(SEQUEL_TRIGGERS_SQL);
});

afterAll(async () => {
  await s[Symbol.asyncDispose]();
});

/** `check` of the two tables: its exit code and each table's state. */
async function check(): Promise<{ code: number | null; states: string[] }> {
  const run = await runCli(
    ['check', '--json', ...TABLES.flatMap((t) => ['--table', t]), ...naming],
    {
      env,
    },
  );
  const reports = JSON.parse(run.stdout) as { state: string }[];
  return { code: run.code, states: reports.map((r) => r.state) };
}

/** The SQL `install` or `uninstall --print-sql` prints for the two tables. */
async function printSql(command: 'install' | 'uninstall'): Promise<string> {
  const run = await runCli([
    command,
    '--print-sql',
    ...TABLES.flatMap((t) => ['--table', t]),
    ...naming,
  ]);
  expect(run.code).toBe(0);
  return run.stdout;
}

async function applyMigration(sql: string): Promise<void> {
  // Sequel's unqualified names resolve in this test's schema, as its search_path would have them.
  const run = await runPsql(databaseUrl(), sql, {
    env: { PGOPTIONS: `-c search_path=${s.schema},public` },
  });
  expect(run, run.stderr).toMatchObject({ code: 0 });
}

/** Commits `sql`, then waits until both apps hold the table as the database does. */
async function bothFollow(
  sequel: SequelStyleApp,
  watch: SpawnedProcess,
  table: (typeof TABLES)[number],
  sql: string,
): Promise<void> {
  const from = watch.lines.length;
  await s.pool.query(sql);
  const digest = await tableDigest(s.pool, table);
  await waitFor(
    `the Sequel-style app to reload ${table}`,
    () => sequel.digests.get(table) === digest,
  );
  await watch.waitForLine((line) => (JSON.parse(line) as { digest?: string }).digest === digest, {
    from,
  });
}

describe('migrating from Sequel, as docs/migrating-from-sequel.md says', () => {
  it('shares Sequel’s triggers with a Sequel app, upgraded in place, and rolls back', async () => {
    // Step 1: Sequel's triggers do not notify TRUNCATE.
    expect(await check()).toEqual({ code: 1, states: ['wrong-events', 'wrong-events'] });

    // Step 2: the install SQL as a migration, under the running Sequel-style app.
    await using sequel = await SequelStyleApp.start(s.url, s.pool);
    await applyMigration(await printSql('install'));
    expect(await check()).toEqual({ code: 0, states: ['ok', 'ok'] });

    // Step 3: a pg-static-cache app on the shared channel, beside the Sequel one.
    await using watch = spawnCli(['watch', '--table', ...TABLES, '--channel', CHANNEL], { env });
    await watch.waitForLine((line) => line.includes('"status":"ready"'), { stream: 'stderr' });
    await bothFollow(sequel, watch, 'plans', `INSERT INTO plans VALUES (3, 'team')`);
    await bothFollow(
      sequel,
      watch,
      'countries',
      `UPDATE countries SET name = 'République française'`,
    );
    // TRUNCATE now reaches the Sequel app too.
    await bothFollow(sequel, watch, 'plans', 'TRUNCATE plans');

    // Rollback: Sequel's own definitions back, in one transaction; both apps keep following.
    await applyMigration((await printSql('uninstall')) + SEQUEL_TRIGGERS_SQL);
    expect(await check()).toEqual({ code: 1, states: ['wrong-events', 'wrong-events'] });
    await bothFollow(sequel, watch, 'plans', `INSERT INTO plans VALUES (4, 'enterprise')`);

    expect(await watch.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
