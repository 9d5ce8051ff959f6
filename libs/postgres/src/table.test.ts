import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { rejectionCode } from '@pg-static-cache/test-support';
import { PostgresError } from './errors.ts';
import { quoteIdent } from './identifiers.ts';
import { digestRows, selectRowsSql } from './rows.ts';
import { resolveTable, resolveTableOid } from './table.ts';

const databaseUrl = inject('databaseUrl');
const suffix = randomBytes(4).toString('hex');
const schema = `psc_t_table_${suffix}`;
const weirdSchema = `Weird Schema ${suffix}`;
const s = quoteIdent(schema);
const w = quoteIdent(weirdSchema);

let db: pg.Client;
// A second connection whose search_path is the test schema, for unqualified names.
let scoped: pg.Client;

beforeAll(async () => {
  db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  await db.query(`
    CREATE SCHEMA ${s};
    CREATE SCHEMA ${w};
    CREATE TABLE ${s}.items (id int PRIMARY KEY, label text NOT NULL);
    CREATE TABLE ${w}."Mixed Case" (b int, a text, note text, PRIMARY KEY (b, a));
    CREATE TABLE ${s}."select" (x int);
    CREATE TABLE ${s}."it's ""odd"" & spaced" (id int PRIMARY KEY);
    CREATE TABLE ${s}.parted (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
    CREATE TABLE ${s}.parted_eu PARTITION OF ${s}.parted FOR VALUES IN ('eu') PARTITION BY RANGE (id);
    CREATE TABLE ${s}.parted_eu_low PARTITION OF ${s}.parted_eu FOR VALUES FROM (0) TO (100);
    CREATE TABLE ${s}.parted_us PARTITION OF ${s}.parted FOR VALUES IN ('us');
    CREATE TABLE ${s}.animals (id int PRIMARY KEY, name text);
    CREATE TABLE ${s}.dogs (breed text) INHERITS (${s}.animals);
    CREATE TABLE ${s}.puppies () INHERITS (${s}.dogs);
    CREATE VIEW ${s}.items_view AS SELECT * FROM ${s}.items;
    CREATE MATERIALIZED VIEW ${s}.items_mat AS SELECT * FROM ${s}.items;
    CREATE SEQUENCE ${s}.counter;
    INSERT INTO ${s}.items VALUES (2, 'two'), (1, 'one'), (3, 'three');
  `);
  scoped = new pg.Client({ connectionString: databaseUrl, options: `-c search_path=${s}` });
  await scoped.connect();
});

afterAll(async () => {
  await db.query(`DROP SCHEMA IF EXISTS ${s} CASCADE; DROP SCHEMA IF EXISTS ${w} CASCADE`);
  await Promise.all([db.end(), scoped.end()]);
});

describe('resolveTable', () => {
  it('resolves a schema-qualified table with its primary key', async () => {
    const table = await resolveTable(db, `${schema}.items`);
    expect(table).toMatchObject({
      schema,
      name: 'items',
      display: `${schema}.items`,
      sql: `${s}."items"`,
      kind: 'table',
      primaryKey: ['id'],
      memberOids: [table.oid],
    });
    expect(Object.isFrozen(table)).toBe(true);
    expect(Object.isFrozen(table.primaryKey)).toBe(true);
    const oid = await db.query<{ oid: number }>(`SELECT '${s}.items'::regclass::oid AS oid`);
    expect(table.oid).toBe(oid.rows[0]?.oid);
  });

  it('uses the search_path when no schema is given, and folds unquoted case', async () => {
    const table = await resolveTable(scoped, '  ITEMS ');
    expect(table.display).toBe(`${schema}.items`);
  });

  it('resolves quoted names with spaces, mixed case, quotes and keywords', async () => {
    const weird = await resolveTable(db, `"${weirdSchema}"."Mixed Case"`);
    expect(weird).toMatchObject({
      schema: weirdSchema,
      name: 'Mixed Case',
      display: `${weirdSchema}.Mixed Case`,
      sql: `${w}."Mixed Case"`,
      primaryKey: ['b', 'a'],
    });
    const keyword = await resolveTable(db, `${schema}.select`);
    expect(keyword).toMatchObject({ name: 'select', primaryKey: [] });
    const odd = await resolveTable(db, `${schema}."it's ""odd"" & spaced"`);
    expect(odd.name).toBe(`it's "odd" & spaced`);
    expect(odd.sql).toBe(`${s}."it's ""odd"" & spaced"`);
  });

  it('lists every partition, recursively, as a member', async () => {
    const table = await resolveTable(db, `${schema}.parted`);
    expect(table.kind).toBe('partitioned');
    expect(table.primaryKey).toEqual(['id', 'region']);
    expect(table.memberOids[0]).toBe(table.oid);
    expect(table.members.map((m) => m.name)).toEqual([
      'parted',
      'parted_eu',
      'parted_eu_low',
      'parted_us',
    ]);
    expect(table.memberOids).toEqual(table.members.map((m) => m.oid));
    const partition = await resolveTable(db, `${schema}.parted_eu`);
    expect(partition.members.map((m) => m.name)).toEqual(['parted_eu', 'parted_eu_low']);
  });

  it('lists inheritance descendants as members', async () => {
    const table = await resolveTable(db, `${schema}.animals`);
    expect(table.kind).toBe('table');
    expect(table.members.map((m) => m.display)).toEqual([
      `${schema}.animals`,
      `${schema}.dogs`,
      `${schema}.puppies`,
    ]);
  });

  it('resolves by OID', async () => {
    const table = await resolveTable(db, `${schema}.items`);
    expect(await resolveTableOid(db, table.oid)).toEqual(table);
    expect(await rejectionCode(resolveTableOid(db, 4_000_000_000), PostgresError)).toBe(
      'TABLE_NOT_FOUND',
    );
  });

  it('rejects missing tables, non-tables and invalid names', async () => {
    expect(await rejectionCode(resolveTable(db, `${schema}.nope`), PostgresError)).toBe(
      'TABLE_NOT_FOUND',
    );
    expect(
      await rejectionCode(resolveTable(db, `no_such_schema_${suffix}.items`), PostgresError),
    ).toBe('TABLE_NOT_FOUND');
    expect(await rejectionCode(resolveTable(db, `${schema}.items_view`), PostgresError)).toBe(
      'NOT_A_TABLE',
    );
    expect(await rejectionCode(resolveTable(db, `${schema}.items_mat`), PostgresError)).toBe(
      'NOT_A_TABLE',
    );
    expect(await rejectionCode(resolveTable(db, `${schema}.counter`), PostgresError)).toBe(
      'NOT_A_TABLE',
    );
    expect(await rejectionCode(resolveTable(db, 'a.b.c'), PostgresError)).toBe(
      'INVALID_TABLE_NAME',
    );
    expect(await rejectionCode(resolveTable(db, '"unterminated'), PostgresError)).toBe(
      'INVALID_TABLE_NAME',
    );
    await expect(resolveTable(db, `${schema}.nope`)).rejects.toThrow(
      `table "${schema}.nope" does not exist`,
    );
    await expect(resolveTable(db, `${schema}.items_view`)).rejects.toThrow(
      `"${schema}.items_view" is a view, not a table`,
    );
  });
});

describe('selectRowsSql and digestRows', () => {
  it('orders by the primary key by default', async () => {
    const table = await resolveTable(db, `${schema}.items`);
    const sql = selectRowsSql(table);
    expect(sql).toBe(`SELECT * FROM ${s}."items" ORDER BY "id"`);
    const result = await db.query(sql);
    expect(result.rows).toEqual([
      { id: 1, label: 'one' },
      { id: 2, label: 'two' },
      { id: 3, label: 'three' },
    ]);
    expect(digestRows(result.rows)).toBe(
      createHash('sha256').update(JSON.stringify(result.rows)).digest('hex'),
    );
  });

  it('applies a filter (with placeholders, and a trailing comment) and an explicit order', async () => {
    const table = await resolveTable(db, `${schema}.items`);
    const sql = selectRowsSql(table, {
      where: "id > $1 OR label = 'one' -- a comment ends at the line's end",
      orderBy: ['label'],
    });
    expect(sql).toBe(
      `SELECT * FROM ${s}."items" WHERE (id > $1 OR label = 'one' -- a comment ends at the line's end\n) ORDER BY "label"`,
    );
    const result = await db.query<{ label: string }>(sql, [1]);
    expect(result.rows.map((r) => r.label)).toEqual(['one', 'three', 'two']);
  });

  it('omits ORDER BY without a primary key or order, and quotes composite keys', async () => {
    expect(selectRowsSql(await resolveTable(db, `${schema}.select`))).toBe(
      `SELECT * FROM ${s}."select"`,
    );
    expect(selectRowsSql(await resolveTable(db, `"${weirdSchema}"."Mixed Case"`))).toBe(
      `SELECT * FROM ${w}."Mixed Case" ORDER BY "b", "a"`,
    );
  });

  it('digests bigint values as their decimal text', () => {
    expect(digestRows([{ n: 12345678901234567890n }])).toBe(
      digestRows([{ n: '12345678901234567890' }]),
    );
    expect(digestRows([])).toBe(createHash('sha256').update('[]').digest('hex'));
  });
});
