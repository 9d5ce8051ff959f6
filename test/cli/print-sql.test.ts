// `install --print-sql` as a migration file: printed without a database, applied by the real psql
// inside the caller's transaction under a hostile search_path, on partitions, inheritance children
// and odd names; and the names `check` prints are ones `--table` reads back.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPsql } from '../support/fixtures/psql.ts';
import {
  createTestSchema,
  databaseUrl,
  nextEvent,
  uniqueName,
  waitFor,
  type TestSchema,
} from '../support/index.ts';
import { runCli } from '../support/process.ts';

interface Report {
  readonly table: string;
  readonly sql: string;
  readonly state: string;
  readonly ok: boolean;
  readonly members: readonly Report[];
}

let s: TestSchema;
/** A schema whose `text` type refuses every value: first on the search_path, it breaks anything unqualified. */
let hostile: string;
let weird: string;
let hostileEnv: { PGOPTIONS: string };
let tables: readonly string[];
const channels: string[] = [];

beforeAll(async () => {
  s = await createTestSchema('psc_cli_sql');
  hostile = uniqueName('psc_hostile');
  weird = uniqueName('Weird Schema');
  hostileEnv = { PGOPTIONS: `-c search_path=${hostile},pg_catalog` };
  await s.pool.query(`
    CREATE SCHEMA "${hostile}";
    CREATE DOMAIN "${hostile}".text AS pg_catalog.text CHECK (false);
    CREATE SCHEMA "${weird}";
    CREATE TABLE parts (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
    CREATE TABLE parts_eu PARTITION OF parts FOR VALUES IN ('eu') PARTITION BY RANGE (id);
    CREATE TABLE parts_eu_low PARTITION OF parts_eu FOR VALUES FROM (0) TO (100);
    CREATE TABLE parts_us PARTITION OF parts FOR VALUES IN ('us');
    CREATE TABLE animals (id int PRIMARY KEY, name text);
    CREATE TABLE dogs (breed text) INHERITS (animals);
    CREATE TABLE puppies (age int) INHERITS (dogs);
    CREATE TABLE "${weird}"."Mixed Case" (id int PRIMARY KEY) PARTITION BY LIST (id);
    CREATE TABLE "${weird}"."Mixed Case 1" PARTITION OF "${weird}"."Mixed Case" FOR VALUES IN (1);
    CREATE TABLE gate (id int);
  `);
  // Qualified: under the hostile search_path an unqualified name would name nothing.
  tables = [`${s.schema}.parts`, `${s.schema}.animals`, `"${weird}"."Mixed Case"`];
});

afterAll(async () => {
  // The function lives in public (the default schema), which outlives the test schemas.
  for (const channel of channels)
    await s.pool.query(`DROP FUNCTION IF EXISTS public."${channel}"()`);
  await s.pool.query(`DROP SCHEMA "${hostile}" CASCADE; DROP SCHEMA "${weird}" CASCADE`);
  await s[Symbol.asyncDispose]();
});

function newChannel(prefix: string): string {
  const channel = uniqueName(prefix);
  channels.push(channel);
  return channel;
}

async function printSql(command: 'install' | 'uninstall', channel: string, ...extra: string[]) {
  const printed = await runCli(
    [command, '--table', ...tables, '--channel', channel, '--print-sql', ...extra],
    { env: { DATABASE_URL: undefined } },
  );
  expect(printed).toMatchObject({ code: 0, stderr: '' });
  return printed.stdout;
}

/** `check --json`, of `names` (every table with the trigger when empty). */
async function check(channel: string, names: readonly string[] = tables) {
  const table = names.length === 0 ? [] : ['--table', ...names];
  const run = await runCli(['check', ...table, '--channel', channel, '--json'], {
    env: { DATABASE_URL: s.url },
  });
  return { code: run.code, stderr: run.stderr, reports: JSON.parse(run.stdout) as Report[] };
}

/** The relations carrying a trigger named `channel`, with how many each has, and where its function is. */
async function installed(channel: string) {
  const triggers = await s.pool.query<{ relname: string; n: number }>(
    `SELECT c.relname, count(*)::int AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE t.tgname = $1 GROUP BY c.relname ORDER BY c.relname COLLATE "C"`,
    [channel],
  );
  const functions = await s.pool.query<{ nspname: string; proconfig: string[] | null }>(
    `SELECT n.nspname, p.proconfig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.proname = $1`,
    [channel],
  );
  return { triggers: triggers.rows, functions: functions.rows };
}

describe('install --print-sql as a migration', () => {
  it('applied twice by psql --single-transaction under a hostile search_path, covers every partition and child', async () => {
    const channel = newChannel('psc_sql');
    const sql = await printSql('install', channel);
    expect(sql).not.toMatch(/^(BEGIN|COMMIT);$/im);
    // Created after printing: the SQL finds members when it runs, not when it was printed.
    await s.pool.query(`CREATE TABLE parts_ca PARTITION OF parts FOR VALUES IN ('ca')`);

    for (let run = 0; run < 2; run += 1) {
      expect(await runPsql(databaseUrl(), sql, { env: hostileEnv })).toMatchObject({
        code: 0,
        stderr: '',
      });
    }
    expect(await installed(channel)).toEqual({
      triggers: [
        'Mixed Case',
        'Mixed Case 1',
        'animals',
        'dogs',
        'parts',
        'parts_ca',
        'parts_eu',
        'parts_eu_low',
        'parts_us',
        'puppies',
      ].map((relname) => ({ relname, n: 1 })),
      // In public, not in the schema the search_path put first, and immune to that search_path.
      functions: [{ nspname: 'public', proconfig: ['search_path=pg_catalog, pg_temp'] }],
    });

    const { code, reports } = await check(channel);
    expect(code).toBe(0);
    expect(reports.map((r) => [r.sql, r.ok, r.members.length])).toEqual([
      [`${s.schema}.parts`, true, 4],
      [`${s.schema}.animals`, true, 2],
      [`"${weird}"."Mixed Case"`, true, 1],
    ]);

    // A commit on a partition, by a writer whose search_path is the hostile one, notifies.
    const listener = new pg.Client({ connectionString: databaseUrl() });
    const writer = new pg.Client({
      connectionString: databaseUrl(),
      options: hostileEnv.PGOPTIONS,
    });
    await Promise.all([listener.connect(), writer.connect()]);
    try {
      await listener.query(`LISTEN "${channel}"`);
      for (const partition of ['parts_eu_low', 'parts_ca']) {
        const region = partition === 'parts_ca' ? 'ca' : 'eu';
        const notified = nextEvent<[pg.Notification]>(listener, 'notification', 10_000);
        await writer.query(`INSERT INTO ${s.schema}.${partition} VALUES (1, '${region}')`);
        const oid = await s.pool.query<{ oid: number }>(`SELECT $1::regclass::oid AS oid`, [
          partition,
        ]);
        expect((await notified)[0]).toMatchObject({ channel, payload: String(oid.rows[0]?.oid) });
      }
    } finally {
      await Promise.all([listener.end(), writer.end()]);
    }

    const removal = await printSql('uninstall', channel);
    expect(await runPsql(databaseUrl(), removal, { env: hostileEnv })).toMatchObject({
      code: 0,
      stderr: '',
    });
    // Again: only Postgres' "does not exist, skipping" notices.
    const again = await runPsql(databaseUrl(), removal, { env: hostileEnv });
    expect(again.code).toBe(0);
    expect(again.stderr).not.toMatch(/ERROR|WARNING/);
    expect(await installed(channel)).toEqual({ triggers: [], functions: [] });
    const after = await check(channel);
    expect(after.code).toBe(1);
    expect(after.reports.flatMap((r) => [r.state, ...r.members.map((m) => m.state)])).toEqual(
      Array<string>(10).fill('missing'),
    );
  });

  it('leaves the transaction to the caller: a later failure in the same psql run undoes it', async () => {
    const channel = newChannel('psc_sql_tx');
    const sql = await printSql('install', channel);
    const failed = await runPsql(databaseUrl(), `${sql}\nSELECT 1 / 0;\n`);
    expect(failed.code).toBe(3);
    expect(failed.stderr).toContain('division by zero');
    expect(await installed(channel)).toEqual({ triggers: [], functions: [] });

    // --transaction: a file that runs on its own, without --single-transaction.
    const own = await printSql('install', channel, '--transaction');
    expect(own).toMatch(/^BEGIN;$/m);
    expect(own).toMatch(/\nCOMMIT;\n$/);
    expect(await runPsql(databaseUrl(), own, { singleTransaction: false })).toMatchObject({
      code: 0,
      stderr: '',
    });
    expect((await check(channel)).code).toBe(0);
    const removal = await printSql('uninstall', channel, '--transaction');
    expect(await runPsql(databaseUrl(), removal, { singleTransaction: false })).toMatchObject({
      code: 0,
      stderr: '',
    });
    expect(await installed(channel)).toEqual({ triggers: [], functions: [] });
  });

  it("holds the installers' advisory lock until the caller's transaction ends", async () => {
    const channel = newChannel('psc_sql_lock');
    const sql = await printSql('install', channel);
    const key = /pg_advisory_xact_lock\((\d+)\)/.exec(sql)?.[1];
    expect(key).toBeDefined();
    const application = uniqueName('psc_migration');

    // The migration's transaction goes on after our SQL, held at a gate this test controls.
    const gate = new pg.Client({ connectionString: s.url });
    await gate.connect();
    try {
      await gate.query('BEGIN; LOCK TABLE gate IN ACCESS EXCLUSIVE MODE');
      const migration = runPsql(databaseUrl(), `${sql}\nLOCK TABLE ${s.schema}.gate;\n`, {
        env: { PGAPPNAME: application },
      });
      // Waiting on the gate table (not on the advisory lock, which a concurrent test's install
      // may hold for a moment): our SQL is done, its transaction is not.
      await waitFor('the migration to wait at the gate', async () => {
        const waiting = await s.pool.query(
          `SELECT 1 FROM pg_stat_activity
           WHERE application_name = $1 AND wait_event_type = 'Lock' AND wait_event = 'relation'`,
          [application],
        );
        return waiting.rowCount === 1;
      });
      // Still held, so any other installer waits for the caller's COMMIT.
      const held = await s.pool.query<{ objid: string; granted: boolean }>(
        `SELECT ((l.classid::int8 << 32) | l.objid::int8)::text AS objid, l.granted
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE a.application_name = $1 AND l.locktype = 'advisory'`,
        [application],
      );
      expect(held.rows).toEqual([{ objid: key, granted: true }]);
      await gate.query('COMMIT');
      expect(await migration).toMatchObject({ code: 0, stderr: '' });
    } finally {
      await gate.end();
    }
    const removal = await printSql('uninstall', channel);
    expect((await runPsql(databaseUrl(), removal)).code).toBe(0);
  });
});

describe('check names tables as --table reads them', () => {
  // `  name  state …`: the name is the first SQL name on the line, quoted parts may hold spaces.
  const NAME = /^(?: {2})?((?:"(?:[^"]|"")*"|[^\s."]+)(?:\.(?:"(?:[^"]|"")*"|[^\s."]+))*)\s/;

  it('prints quoted names where needed, and every name it prints resolves as --table', async () => {
    const channel = newChannel('psc_names');
    const env = { DATABASE_URL: s.url };
    expect(
      (await runCli(['install', '--table', ...tables, '--channel', channel], { env })).code,
    ).toBe(0);
    // Broken members are listed under their table in the human output.
    await s.pool.query(`
      ALTER TABLE "${weird}"."Mixed Case 1" DISABLE TRIGGER "${channel}";
      ALTER TABLE dogs DISABLE TRIGGER "${channel}";
    `);

    const human = await runCli(['check', '--channel', channel], { env });
    expect(human).toMatchObject({ code: 1, stderr: '' });
    const printed = human.stdout
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((line) => NAME.exec(line)?.[1]);
    expect(printed.toSorted()).toEqual(
      [
        `${s.schema}.parts`,
        `${s.schema}.animals`,
        `${s.schema}.dogs`,
        `"${weird}"."Mixed Case"`,
        `"${weird}"."Mixed Case 1"`,
      ].toSorted(),
    );

    const json = await check(channel, []);
    const everyName = json.reports.flatMap((r) => [r.sql, ...r.members.map((m) => m.sql)]);
    expect(new Set(everyName).size).toBe(everyName.length);
    expect(everyName).toEqual(expect.arrayContaining(printed));
    // Each name, given back, is the table it came from: check reports it under the same name.
    const again = await check(channel, everyName);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(1);
    expect(again.reports.map((r) => r.sql)).toEqual(everyName);

    const repaired = await runCli(['install', '--table', ...everyName, '--channel', channel], {
      env,
    });
    expect(repaired).toMatchObject({ code: 0, stderr: '' });
    expect(
      (
        await check(
          channel,
          printed.filter((n) => n !== undefined),
        )
      ).code,
    ).toBe(0);
    expect(
      (await runCli(['uninstall', '--table', ...tables, '--channel', channel], { env })).code,
    ).toBe(0);
  });
});
