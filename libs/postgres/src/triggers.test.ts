import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { rejectionCode } from '@pg-static-cache/test-support';
import { PostgresError } from './errors.ts';
import { quoteIdent } from './identifiers.ts';
import { resolveTable } from './table.ts';
import { checkTriggers, notifyChannel, type TriggerReport } from './trigger-check.ts';
import {
  DEFAULT_CHANNEL,
  installSql,
  installTriggers,
  triggerNaming,
  uninstallSql,
  uninstallTriggers,
  type TriggerOptions,
} from './triggers.ts';

const databaseUrl = inject('databaseUrl');
const suffix = randomBytes(4).toString('hex');
const schema = `psc_t_trig_${suffix}`;
const weirdSchema = `Weird Schema ${suffix}`;
const s = quoteIdent(schema);
const w = quoteIdent(weirdSchema);
// Our own channel, so parallel test files never see each other's notifications.
const channel = `psc_test_${suffix}`;
const options: TriggerOptions = { channel, functionName: `${schema}.notify` };

// `db` has the test schema as its search_path, so unqualified objects (Sequel's) land there too.
let db: pg.Client;

interface Received {
  readonly channel: string;
  readonly payload: string | undefined;
}

// A LISTENing connection: notifications queue up, and `next` takes the oldest matching one or waits
// for it until a deadline (never a sleep).
class Listener {
  readonly #client: pg.Client;
  readonly #queue: Received[] = [];
  #wake: (() => void) | undefined;

  private constructor(client: pg.Client) {
    this.#client = client;
    client.on('notification', (message) => {
      this.#queue.push({ channel: message.channel, payload: message.payload });
      this.#wake?.();
    });
  }

  static async open(listenChannel: string = channel): Promise<Listener> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query(`LISTEN ${quoteIdent(listenChannel)}`);
    return new Listener(client);
  }

  async next(
    accept: (message: Received) => boolean = () => true,
    timeoutMs = 5_000,
  ): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.#queue.findIndex(accept);
      if (index >= 0) return this.#queue.splice(index, 1)[0] as Received;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no notification before the deadline');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  // A round trip through the server after `NOTIFY` on our own channel proves every notification
  // committed before it has been delivered; whatever else is queued then arrived earlier.
  async drain(): Promise<Received[]> {
    const marker = `marker-${randomBytes(4).toString('hex')}`;
    await this.#client.query(`SELECT pg_notify($1, $2)`, [channel, marker]);
    const before: Received[] = [];
    for (;;) {
      const message = await this.next();
      if (message.payload === marker) return before;
      before.push(message);
    }
  }

  async close(): Promise<void> {
    await this.#client.end();
  }
}

async function withListener<T>(
  fn: (listener: Listener) => Promise<T>,
  listenChannel?: string,
): Promise<T> {
  const listener = await Listener.open(listenChannel);
  try {
    return await fn(listener);
  } finally {
    await listener.close();
  }
}

async function oidOf(sqlName: string): Promise<number> {
  const result = await db.query<{ oid: number }>(`SELECT $1::regclass::oid AS oid`, [sqlName]);
  const oid = result.rows[0]?.oid;
  if (oid === undefined) throw new Error(`no oid for ${sqlName}`);
  return oid;
}

async function triggerNames(sqlName: string): Promise<string[]> {
  const result = await db.query<{ tgname: string }>(
    `SELECT tgname FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal ORDER BY 1`,
    [sqlName],
  );
  return result.rows.map((r) => r.tgname);
}

function reportFor(reports: readonly TriggerReport[], display: string): TriggerReport {
  const report = reports.find((r) => r.table === display);
  if (report === undefined) throw new Error(`no report for ${display}`);
  return report;
}

beforeAll(async () => {
  db = new pg.Client({ connectionString: databaseUrl, options: `-c search_path=${s}` });
  await db.connect();
  await db.query(`CREATE SCHEMA ${s}; CREATE SCHEMA ${w}`);
});

afterAll(async () => {
  await db.query(`DROP SCHEMA IF EXISTS ${s} CASCADE; DROP SCHEMA IF EXISTS ${w} CASCADE`);
  await db.end();
});

describe('triggerNaming', () => {
  it('names function and trigger after the channel by default, the function in public', () => {
    expect(triggerNaming()).toEqual({
      channel: DEFAULT_CHANNEL,
      functionName: { schema: 'public', name: 'pg_static_cache_update' },
      triggerName: 'pg_static_cache_update',
    });
    // Exactly Sequel's names (in the schema Sequel's search_path usually gives it), so a Sequel
    // app and this system share one set of triggers.
    expect(triggerNaming({ channel: 'sequel_static_cache_update' })).toEqual({
      channel: 'sequel_static_cache_update',
      functionName: { schema: 'public', name: 'sequel_static_cache_update' },
      triggerName: 'sequel_static_cache_update',
    });
    // An unqualified name goes in public too: no search_path decides where it is.
    expect(triggerNaming({ functionName: 'Notify' }).functionName).toEqual({
      schema: 'public',
      name: 'notify',
    });
  });

  it('parses the function name like a table name', () => {
    expect(triggerNaming({ functionName: 'App."Notify Fn"', triggerName: 'My Trigger' })).toEqual({
      channel: DEFAULT_CHANNEL,
      functionName: { schema: 'app', name: 'Notify Fn' },
      triggerName: 'My Trigger',
    });
  });

  it.each<[TriggerOptions, string]>([
    [{ channel: '' }, 'invalid channel "": empty'],
    [{ channel: 'x'.repeat(64) }, 'longer than 63 bytes'],
    [{ channel: 'é'.repeat(32) }, 'longer than 63 bytes'],
    [{ channel: 'a\0b' }, 'NUL character'],
    [{ triggerName: '' }, 'invalid trigger name'],
    [{ functionName: 'a.b.c' }, 'invalid function name "a.b.c"'],
    [{ functionName: `s.${'f'.repeat(64)}` }, 'invalid function name'],
  ])('rejects %j', (bad, message) => {
    expect(() => triggerNaming(bad)).toThrow(message);
    try {
      triggerNaming(bad);
    } catch (error) {
      expect(error).toBeInstanceOf(PostgresError);
      expect((error as PostgresError).code).toBe('INVALID_NAME');
    }
  });

  it('accepts 63-byte names', () => {
    expect(triggerNaming({ channel: 'x'.repeat(63) }).triggerName).toHaveLength(63);
  });
});

describe('notifyChannel', () => {
  it('reads the channel literal from function sources', () => {
    expect(notifyChannel("BEGIN PERFORM pg_notify('a''b', TG_RELID::text); END")).toBe("a'b");
    expect(notifyChannel("PERFORM pg_catalog.pg_notify(E'a\\\\b\\'c', x)")).toBe("a\\b'c");
    expect(notifyChannel('PERFORM pg_notify(TG_ARGV[0], x)')).toBeUndefined();
  });
});

describe('installSql / uninstallSql', () => {
  it('quotes every identifier and leaves BEGIN/COMMIT to the caller unless asked', () => {
    const table = { schema: weirdSchema, name: `Mixed "Case" 100%` };
    const sql = installSql([table], options);
    expect(sql).toMatch(/^-- pg-static-cache/);
    expect(sql).not.toMatch(/^(BEGIN|COMMIT);$/m);
    expect(sql).toContain(
      `CREATE OR REPLACE FUNCTION ${s}."notify"() RETURNS pg_catalog.trigger LANGUAGE plpgsql\n` +
        `SET search_path = pg_catalog, pg_temp AS`,
    );
    expect(sql).toContain(`pg_catalog.pg_notify('${channel}', TG_RELID::text)`);
    // The table by name, its members found when the SQL runs; `%` escaped for format().
    expect(sql).toContain(`'${w}."Mixed ""Case"" 100%"'::pg_catalog.regclass`);
    expect(sql).toContain(
      `pg_catalog.format('CREATE OR REPLACE TRIGGER "${channel}" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION ${s}."notify"()', member);`,
    );
    expect(sql).toContain(
      `pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER "${channel}"', member);`,
    );

    const own = installSql([table], options, { transaction: true });
    expect(own).toMatch(/\nBEGIN;\n/);
    expect(own).toMatch(/\nCOMMIT;\n$/);
    expect(uninstallSql([table], options, { transaction: true })).toMatch(/\nCOMMIT;\n$/);
  });

  it('escapes % in names for format(): a table named with one gets its trigger', async () => {
    await db.query(`CREATE TABLE ${s}."100% ""sure""" (id int)`);
    const name = { schema, name: '100% "sure"' };
    await db.query(installSql([name], options));
    expect(await triggerNames(`${s}."100% ""sure"""`)).toEqual([channel]);
    await db.query(uninstallSql([name], options));
    expect(await triggerNames(`${s}."100% ""sure"""`)).toEqual([]);
  });

  it('runs as plain SQL through client.query, and uninstalls the same way', async () => {
    await db.query(`CREATE TABLE ${s}.plain (id int PRIMARY KEY)`);
    const table = await resolveTable(db, `${schema}.plain`);
    await db.query(installSql([table], options));
    await db.query(installSql([table], options));
    expect(await triggerNames(table.sql)).toEqual([channel]);
    await withListener(async (listener) => {
      await db.query(`INSERT INTO ${s}.plain VALUES (1)`);
      expect(await listener.next()).toEqual({ channel, payload: String(table.oid) });
    });
    await db.query(uninstallSql([table], options));
    expect(await triggerNames(table.sql)).toEqual([]);
  });
});

describe('installTriggers', () => {
  const oddTables = [
    `"${weirdSchema}"."Mixed Case"`,
    `${schema}.select`,
    `${schema}."it's ""odd"" & spaced"`,
  ];

  beforeAll(async () => {
    await db.query(`
      CREATE TABLE ${w}."Mixed Case" (id int PRIMARY KEY, v text);
      CREATE TABLE ${s}."select" (id int PRIMARY KEY, v text);
      CREATE TABLE ${s}."it's ""odd"" & spaced" (id int PRIMARY KEY, v text);
    `);
  });

  it('is idempotent and notifies the bare OID for INSERT, UPDATE, DELETE and TRUNCATE', async () => {
    const first = await installTriggers(db, oddTables, options);
    const again = await installTriggers(db, oddTables, options);
    expect(again).toEqual(first);
    for (const table of first) {
      expect(await triggerNames(table.sql)).toEqual([channel]);
      await withListener(async (listener) => {
        const payload = String(table.oid);
        for (const statement of [
          `INSERT INTO ${table.sql} VALUES (1, 'a'), (2, 'b')`,
          `UPDATE ${table.sql} SET v = 'c'`,
          `DELETE FROM ${table.sql} WHERE id = 1`,
          `TRUNCATE ${table.sql}`,
        ]) {
          await db.query(statement);
          expect(await listener.next(), statement).toEqual({ channel, payload });
        }
        // One statement-level notification per statement, nothing else.
        expect(await listener.drain()).toEqual([]);
      });
    }
    const reports = await checkTriggers(db, { ...options, tables: oddTables });
    expect(reports.map((r) => [r.table, r.state, r.ok])).toEqual(
      first.map((t) => [t.display, 'ok', true]),
    );
    // Quoted only where Postgres needs it (a keyword too), so each reads back as the same table.
    expect(reports.map((r) => r.sql)).toEqual([
      `"${weirdSchema}"."Mixed Case"`,
      `${schema}."select"`,
      `${schema}."it's ""odd"" & spaced"`,
    ]);
    for (const report of reports) {
      expect((await resolveTable(db, report.sql)).oid).toBe(report.oid);
    }
  });

  it('notifies for a writer whose search_path puts a hostile schema before pg_catalog', async () => {
    // A `text` domain that refuses every value: an unqualified `::text` resolved under the
    // writer's search_path would pick it and fail the writer's statement.
    const hostile = quoteIdent(`${schema}_hostile`);
    await db.query(`
      CREATE SCHEMA ${hostile};
      CREATE DOMAIN ${hostile}.text AS pg_catalog.text CHECK (false);
      CREATE TABLE ${s}.guarded (id int);
    `);
    const writer = new pg.Client({
      connectionString: databaseUrl,
      options: `-c search_path=${hostile},pg_catalog`,
    });
    await writer.connect();
    try {
      const [table] = await installTriggers(db, [`${schema}.guarded`], options);
      await withListener(async (listener) => {
        await writer.query(`INSERT INTO ${s}.guarded VALUES (1)`);
        expect(await listener.next()).toEqual({ channel, payload: String(table?.oid) });
      });
    } finally {
      await writer.end();
      await db.query(`DROP SCHEMA ${hostile} CASCADE`);
    }
  });

  it('sends nothing for a rolled-back transaction', async () => {
    await db.query(`
      CREATE TABLE ${s}.rolled (id int);
      CREATE TABLE ${s}.committed (id int);
    `);
    const [, committed] = await installTriggers(
      db,
      [`${schema}.rolled`, `${schema}.committed`],
      options,
    );
    await withListener(async (listener) => {
      await db.query('BEGIN');
      await db.query(`INSERT INTO ${s}.rolled VALUES (1)`);
      await db.query(`TRUNCATE ${s}.rolled`);
      await db.query('ROLLBACK');
      await db.query(`INSERT INTO ${s}.committed VALUES (1)`);
      // Notifications arrive in commit order: had the rollback sent one, it would come first.
      expect(await listener.next()).toEqual({ channel, payload: String(committed?.oid) });
      expect(await listener.drain()).toEqual([]);
    });
  });

  it('notifies under session_replication_role = replica (ENABLE ALWAYS)', async () => {
    await db.query(`CREATE TABLE ${s}.replicated (id int)`);
    const [table] = await installTriggers(db, [`${schema}.replicated`], options);
    await withListener(async (listener) => {
      await db.query(
        `BEGIN; SET LOCAL session_replication_role = replica; INSERT INTO ${s}.replicated VALUES (1); COMMIT`,
      );
      expect(await listener.next()).toEqual({ channel, payload: String(table?.oid) });
    });
  });

  it('uses custom channel, function and trigger names', async () => {
    const customChannel = `psc custom ${suffix}`;
    const custom: TriggerOptions = {
      channel: customChannel,
      functionName: `${schema}."Notify Fn"`,
      triggerName: 'My "Trigger"',
    };
    await db.query(`CREATE TABLE ${s}.custom (id int)`);
    const [table] = await installTriggers(db, [`${schema}.custom`], custom);
    if (table === undefined) throw new Error('not resolved');
    expect(await triggerNames(table.sql)).toEqual(['My "Trigger"']);
    const fn = await db.query<{ proname: string }>(
      `SELECT p.proname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgrelid = $1`,
      [table.oid],
    );
    expect(fn.rows).toEqual([{ proname: 'Notify Fn' }]);
    await withListener(async (listener) => {
      await db.query(`INSERT INTO ${s}.custom VALUES (1)`);
      expect(await listener.next()).toEqual({
        channel: customChannel,
        payload: String(table.oid),
      });
    }, customChannel);
    const [report] = await checkTriggers(db, { ...custom, tables: [`${schema}.custom`] });
    expect(report).toMatchObject({ state: 'ok', trigger: 'My "Trigger"', channel: customChannel });
  });

  it('upgrades a Sequel trigger so TRUNCATE notifies too, on the shared channel', async () => {
    const sequel = 'sequel_static_cache_update';
    await db.query(`CREATE TABLE ${s}.sequel_items (id int PRIMARY KEY)`);
    // Exactly what Sequel's create_static_cache_update_function / _trigger run (in our search_path).
    await db.query(`CREATE FUNCTION "sequel_static_cache_update"() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN
  PERFORM pg_notify(''sequel_static_cache_update'', TG_RELID::text);
  RETURN NULL;
END
'`);
    await db.query(
      `CREATE TRIGGER "sequel_static_cache_update" AFTER INSERT OR UPDATE OR DELETE ON "sequel_items" EXECUTE PROCEDURE "sequel_static_cache_update"()`,
    );
    const table = await resolveTable(db, 'sequel_items');
    const payload = String(table.oid);
    const mine = (m: Received): boolean => m.payload === payload;

    // Sequel's function is in this test's schema: --function-name points at it.
    const shared: TriggerOptions = { channel: sequel, functionName: `${schema}.${sequel}` };
    const [before] = await checkTriggers(db, { ...shared, tables: ['sequel_items'] });
    expect(before).toMatchObject({ state: 'wrong-events', channel: sequel, ok: false });
    await withListener(async (listener) => {
      await db.query(`TRUNCATE sequel_items`);
      await db.query(`INSERT INTO sequel_items VALUES (1)`);
      // The first of our table's notifications is the INSERT's: Sequel's trigger missed TRUNCATE.
      expect(await listener.next(mine)).toEqual({ channel: sequel, payload });
    }, sequel);

    await installTriggers(db, ['sequel_items'], shared);
    expect(await triggerNames(table.sql)).toEqual([sequel]);
    const [after] = await checkTriggers(db, { ...shared, tables: ['sequel_items'] });
    expect(after).toMatchObject({ state: 'ok', channel: sequel, ok: true });
    await withListener(async (listener) => {
      await db.query(`TRUNCATE sequel_items`);
      expect(await listener.next(mine)).toEqual({ channel: sequel, payload });
      await db.query(`INSERT INTO sequel_items VALUES (2)`);
      expect(await listener.next(mine)).toEqual({ channel: sequel, payload });
    }, sequel);
  });

  it('covers partitions: a statement on a partition notifies with a member OID', async () => {
    await db.query(`
      CREATE TABLE ${s}.prices (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
      CREATE TABLE ${s}.prices_eu PARTITION OF ${s}.prices FOR VALUES IN ('eu') PARTITION BY RANGE (id);
      CREATE TABLE ${s}.prices_eu_low PARTITION OF ${s}.prices_eu FOR VALUES FROM (0) TO (100);
      CREATE TABLE ${s}.prices_us PARTITION OF ${s}.prices FOR VALUES IN ('us');
    `);
    const [table] = await installTriggers(db, [`${schema}.prices`], options);
    if (table === undefined) throw new Error('not resolved');
    expect(table.memberOids).toHaveLength(4);
    for (const m of table.members) expect(await triggerNames(m.sql)).toEqual([channel]);
    const leaf = await oidOf(`${schema}.prices_eu_low`);
    await withListener(async (listener) => {
      await db.query(`INSERT INTO ${s}.prices_eu_low VALUES (1, 'eu')`);
      expect(await listener.next()).toEqual({ channel, payload: String(leaf) });
      await db.query(`UPDATE ${s}.prices_us SET id = id`);
      const us = await listener.next();
      expect(table.memberOids).toContain(Number(us.payload));
      await db.query(`INSERT INTO ${s}.prices VALUES (2, 'us')`);
      expect(await listener.next()).toEqual({ channel, payload: String(table.oid) });
      await db.query(`TRUNCATE ${s}.prices_eu`);
      const truncated = await listener.drain();
      expect(truncated.length).toBeGreaterThan(0);
      for (const m of truncated) expect(table.memberOids).toContain(Number(m.payload));
    });
  });

  it('covers inheritance children', async () => {
    await db.query(`
      CREATE TABLE ${s}.animals (id int PRIMARY KEY, name text);
      CREATE TABLE ${s}.dogs (breed text) INHERITS (${s}.animals);
    `);
    const [table] = await installTriggers(db, [`${schema}.animals`], options);
    if (table === undefined) throw new Error('not resolved');
    const dogs = await oidOf(`${schema}.dogs`);
    expect(table.memberOids).toEqual([table.oid, dogs]);
    await withListener(async (listener) => {
      await db.query(`INSERT INTO ${s}.dogs VALUES (1, 'rex', 'collie')`);
      expect(await listener.next()).toEqual({ channel, payload: String(dogs) });
      await db.query(`UPDATE ${s}.animals SET name = 'max'`);
      expect(await listener.next()).toEqual({ channel, payload: String(table.oid) });
    });
  });

  it('accepts a pool, and resolved tables', async () => {
    await db.query(`CREATE TABLE ${s}.pooled (id int)`);
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    try {
      const [table] = await installTriggers(pool, [`${schema}.pooled`], options);
      if (table === undefined) throw new Error('not resolved');
      expect(await installTriggers(pool, [table], options)).toEqual([table]);
      expect(await triggerNames(table.sql)).toEqual([channel]);
      expect(
        await rejectionCode(installTriggers(pool, [`${schema}.missing`], options), PostgresError),
      ).toBe('TABLE_NOT_FOUND');
      // The pool's only connection came back usable, out of any transaction.
      const status = await pool.query<{ ok: number }>('SELECT 1 AS ok');
      expect(status.rows).toEqual([{ ok: 1 }]);
    } finally {
      await pool.end();
    }
  });

  it('rejects unknown tables, views and invalid names, installing nothing', async () => {
    const fnOptions: TriggerOptions = { ...options, functionName: `${schema}.never_created` };
    await db.query(`CREATE TABLE ${s}.good (id int); CREATE VIEW ${s}.a_view AS SELECT 1 AS x`);
    expect(
      await rejectionCode(
        installTriggers(db, [`${schema}.good`, `${schema}.nope`], fnOptions),
        PostgresError,
      ),
    ).toBe('TABLE_NOT_FOUND');
    await expect(installTriggers(db, [`${schema}.nope`], fnOptions)).rejects.toThrow(
      `table "${schema}.nope" does not exist`,
    );
    expect(
      await rejectionCode(installTriggers(db, [`${schema}.a_view`], fnOptions), PostgresError),
    ).toBe('NOT_A_TABLE');
    expect(await rejectionCode(installTriggers(db, ['bad name'], fnOptions), PostgresError)).toBe(
      'INVALID_TABLE_NAME',
    );
    expect(
      await rejectionCode(installTriggers(db, [`${schema}.good`], { channel: '' }), PostgresError),
    ).toBe('INVALID_NAME');
    expect(await triggerNames(`${schema}.good`)).toEqual([]);
    const fn = await db.query(`SELECT to_regprocedure($1) AS fn`, [`${s}.never_created()`]);
    expect(fn.rows).toEqual([{ fn: null }]);
  });
});

describe('checkTriggers', () => {
  const checkChannel = `psc_check_${suffix}`;
  const checkOptions: TriggerOptions = {
    channel: checkChannel,
    functionName: `${schema}.check_notify`,
  };

  beforeAll(async () => {
    await db.query(`
      CREATE TABLE ${s}.c_ok (id int);
      CREATE TABLE ${s}.c_missing (id int);
      CREATE TABLE ${s}.c_disabled (id int);
      CREATE TABLE ${s}.c_origin (id int);
      CREATE TABLE ${s}.c_parted (id int) PARTITION BY RANGE (id);
      CREATE TABLE ${s}.c_parted_1 PARTITION OF ${s}.c_parted FOR VALUES FROM (0) TO (10);
    `);
    await installTriggers(
      db,
      ['c_ok', 'c_disabled', 'c_origin', 'c_parted'].map((t) => `${schema}.${t}`),
      checkOptions,
    );
    await db.query(`
      ALTER TABLE ${s}.c_disabled DISABLE TRIGGER ${quoteIdent(checkChannel)};
      ALTER TABLE ${s}.c_origin ENABLE TRIGGER ${quoteIdent(checkChannel)};
      CREATE TABLE ${s}.c_parted_2 PARTITION OF ${s}.c_parted FOR VALUES FROM (10) TO (20);
    `);
  });

  it('reports ok, missing, disabled, not-always and a partition missing its trigger', async () => {
    const names = ['c_ok', 'c_missing', 'c_disabled', 'c_origin', 'c_parted'];
    const reports = await checkTriggers(db, {
      ...checkOptions,
      tables: names.map((t) => `${schema}.${t}`),
    });
    expect(reports.map((r) => [r.table, r.state, r.enabled, r.ok])).toEqual([
      [`${schema}.c_ok`, 'ok', true, true],
      [`${schema}.c_missing`, 'missing', false, false],
      [`${schema}.c_disabled`, 'disabled', false, false],
      [`${schema}.c_origin`, 'not-always', true, false],
      [`${schema}.c_parted`, 'ok', true, false],
    ]);
    expect(reportFor(reports, `${schema}.c_ok`)).toMatchObject({
      trigger: checkChannel,
      channel: checkChannel,
      members: [],
    });
    expect(reportFor(reports, `${schema}.c_missing`)).toMatchObject({
      trigger: undefined,
      channel: undefined,
    });
    const parted = reportFor(reports, `${schema}.c_parted`);
    expect(parted.members.map((m) => [m.table, m.state])).toEqual([
      [`${schema}.c_parted_1`, 'ok'],
      [`${schema}.c_parted_2`, 'missing'],
    ]);
  });

  it('reports a function notifying another channel as wrong-channel', async () => {
    const [report] = await checkTriggers(db, {
      ...checkOptions,
      channel: `psc_other_${suffix}`,
      triggerName: checkChannel,
      tables: [`${schema}.c_ok`],
    });
    expect(report).toMatchObject({ state: 'wrong-channel', channel: checkChannel, ok: false });
  });

  it('reports row-level, column-limited and replica-only triggers', async () => {
    const fn = `${s}.check_notify()`;
    const trigger = quoteIdent(checkChannel);
    await db.query(`
      CREATE TABLE ${s}.c_row (id int);
      CREATE TABLE ${s}.c_columns (id int, v text);
      CREATE TABLE ${s}.c_replica (id int);
      CREATE TRIGGER ${trigger} AFTER INSERT OR UPDATE OR DELETE ON ${s}.c_row FOR EACH ROW EXECUTE FUNCTION ${fn};
      CREATE TRIGGER ${trigger} AFTER INSERT OR UPDATE OF v OR DELETE OR TRUNCATE ON ${s}.c_columns EXECUTE FUNCTION ${fn};
      CREATE TRIGGER ${trigger} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${s}.c_replica EXECUTE FUNCTION ${fn};
      ALTER TABLE ${s}.c_replica ENABLE REPLICA TRIGGER ${trigger};
    `);
    const reports = await checkTriggers(db, {
      ...checkOptions,
      tables: ['c_row', 'c_columns', 'c_replica'].map((t) => `${schema}.${t}`),
    });
    expect(reports.map((r) => r.state)).toEqual(['wrong-events', 'wrong-events', 'replica-only']);
    await db.query(`DROP TABLE ${s}.c_row, ${s}.c_columns, ${s}.c_replica`);
  });

  it('finds every table with the trigger when no tables are given', async () => {
    const reports = await checkTriggers(db, checkOptions);
    // The partition is reported under its parent, not on its own.
    expect(reports.map((r) => r.table)).toEqual(
      ['c_disabled', 'c_ok', 'c_origin', 'c_parted'].map((t) => `${schema}.${t}`),
    );
  });

  it('is all ok after installing again', async () => {
    const names = ['c_disabled', 'c_ok', 'c_origin', 'c_parted'].map((t) => `${schema}.${t}`);
    await installTriggers(db, names, checkOptions);
    const reports = await checkTriggers(db, checkOptions);
    expect(reports.map((r) => [r.table, r.ok])).toEqual(names.map((n) => [n, true]));
    expect(reportFor(reports, `${schema}.c_parted`).members.map((m) => m.state)).toEqual([
      'ok',
      'ok',
    ]);
  });
});

describe('uninstallTriggers', () => {
  const gone: TriggerOptions = {
    channel: `psc_gone_${suffix}`,
    functionName: `${schema}.gone_notify`,
  };
  const fnExists = async (): Promise<boolean> => {
    const result = await db.query<{ fn: string | null }>(`SELECT to_regprocedure($1) AS fn`, [
      `${s}.gone_notify()`,
    ]);
    return result.rows[0]?.fn !== null;
  };

  it('removes the triggers, and the function once no trigger calls it', async () => {
    await db.query(`
      CREATE TABLE ${s}.u_one (id int);
      CREATE TABLE ${s}.u_two (id int) PARTITION BY LIST (id);
      CREATE TABLE ${s}.u_two_1 PARTITION OF ${s}.u_two FOR VALUES IN (1);
    `);
    await installTriggers(db, [`${schema}.u_one`, `${schema}.u_two`], gone);

    await uninstallTriggers(db, [`${schema}.u_two`], gone);
    expect(await triggerNames(`${schema}.u_two`)).toEqual([]);
    expect(await triggerNames(`${schema}.u_two_1`)).toEqual([]);
    expect(await fnExists()).toBe(true);

    await uninstallTriggers(db, [`${schema}.u_one`], gone);
    await uninstallTriggers(db, [`${schema}.u_one`], gone);
    expect(await triggerNames(`${schema}.u_one`)).toEqual([]);
    expect(await fnExists()).toBe(false);
    expect(await checkTriggers(db, gone)).toEqual([]);
    const [report] = await checkTriggers(db, { ...gone, tables: [`${schema}.u_one`] });
    expect(report?.state).toBe('missing');
  });
});
