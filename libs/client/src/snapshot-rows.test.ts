// Rows from a snapshot must be the rows node-postgres builds from the same result, down to key
// order and odd column names; checked against a real query.
import { TEXT_VALUES } from '@pg-static-cache/postgres';
import { createSnapshot, type Snapshot } from '@pg-static-cache/protocol';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl } from '@pg-static-cache/test-support';
import { snapshotRows, typeParsersOf } from './snapshot-rows.ts';

// Duplicate names (last value wins, first position stays), a name that is an array index (sorted
// first by JavaScript), `__proto__`, NULLs, and types with and without a default parser.
/** node-postgres' own parsers, typed by OID number rather than pg's enum of built-in types. */
const builtIn: {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (text: string) => unknown;
} = pg.types;

const SQL = `SELECT 1::int AS a, 'x'::text AS b, 2::int AS a, NULL::int AS "__proto__",
                    'y'::text AS "7", true AS flag, '{1,NULL,3}'::int[] AS ints,
                    '1.50'::numeric AS price, NULL::text AS "constructor"
             UNION ALL
             SELECT 3, NULL, 4, 5, 'z', false, '{}', '2', 'c'`;

let text: pg.Pool;
let parsed: pg.Pool;

beforeAll(() => {
  text = new pg.Pool({ connectionString: databaseUrl(), max: 1, types: TEXT_VALUES });
  parsed = new pg.Pool({ connectionString: databaseUrl(), max: 1 });
});

afterAll(async () => {
  await Promise.all([text.end(), parsed.end()]);
});

/** The result of `sql` as a snapshot: field names and type OIDs, values as Postgres text. */
async function snapshotOf(sql: string): Promise<Snapshot> {
  const result = await text.query<(string | null)[]>({ text: sql, rowMode: 'array' });
  return createSnapshot({
    table: 'public.t',
    oid: 1,
    version: 1,
    generation: 'g',
    fields: result.fields.map(({ name, dataTypeID }) => ({ name, dataTypeID })),
    rows: result.rows,
    lsn: '0/1',
    at: 0,
  });
}

describe('snapshotRows', () => {
  it('builds the rows node-postgres builds, with the same keys in the same order', async () => {
    const expected = (await parsed.query(SQL)).rows as Record<string, unknown>[];
    const rows = snapshotRows(await snapshotOf(SQL), typeParsersOf(databaseUrl()));
    expect(rows).toEqual(expected);
    expect(rows.map((row) => Object.keys(row))).toEqual(expected.map((row) => Object.keys(row)));
    expect(rows[0]?.['a']).toBe(2);
    expect(Object.getPrototypeOf(rows[0])).toBe(Object.prototype);
    expect(Object.hasOwn(rows[1] ?? {}, '__proto__')).toBe(true);
  });

  it('uses the types of a pool config or a pool, as the app’s queries do', async () => {
    const types: pg.CustomTypesConfig = {
      getTypeParser: (oid: number, format?: 'text' | 'binary') =>
        oid === 1700 ? (value: string) => Number(value) : builtIn.getTypeParser(oid, format),
    };
    const custom = new pg.Pool({ connectionString: databaseUrl(), max: 1, types });
    try {
      const expected = (await custom.query(SQL)).rows;
      const snapshot = await snapshotOf(SQL);
      for (const option of [custom, { connectionString: databaseUrl(), types }]) {
        const rows = snapshotRows(snapshot, typeParsersOf(option));
        expect(rows).toEqual(expected);
        expect(rows[0]?.['price']).toBe(1.5);
      }
      // Without `types`, node-postgres' own parsers: numeric stays text.
      expect(snapshotRows(snapshot, typeParsersOf({}))[0]?.['price']).toBe('1.50');
    } finally {
      await custom.end();
    }
  });

  it('parses only rows whose text changed since the snapshot held, and equals a fresh parse', async () => {
    const types = typeParsersOf(databaseUrl());
    const before = await snapshotOf(SQL);
    const held = { snapshot: before, rows: snapshotRows(before, types) };
    // The second row changed (its `b`): the first is the held row again, the second is new.
    const changed = await snapshotOf(SQL.replace('SELECT 3, NULL,', "SELECT 3, 'w',"));
    const rows = snapshotRows(changed, types, held);
    expect(rows).toEqual(snapshotRows(changed, types));
    expect(rows[0]).toBe(held.rows[0]);
    expect(rows[1]).not.toBe(held.rows[1]);
    expect(rows[1]?.['b']).toBe('w');
    // Other fields (a column's type changed): nothing is carried over, whatever the text.
    const retyped = await snapshotOf(SQL.replace("'1.50'::numeric", "'1.50'::text"));
    const fresh = snapshotRows(retyped, types, held);
    expect(fresh[0]).not.toBe(held.rows[0]);
    expect(fresh).toEqual(snapshotRows(retyped, types));
  });
});
