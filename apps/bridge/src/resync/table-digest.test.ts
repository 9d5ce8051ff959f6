import { resolveTable, type ResolvedTable } from '@pg-static-cache/postgres';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, type TestSchema } from '@pg-static-cache/test-support';
import { computeTableDigest, tableDigestSql } from './table-digest.ts';

let s: TestSchema;
const digest = async (table: ResolvedTable): Promise<string> => computeTableDigest(s.pool, table);
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'; // SHA-256 of ''

beforeAll(async () => {
  s = await createTestSchema('psc_digest');
});
afterAll(async () => {
  await s[Symbol.asyncDispose]();
});

describe('tableDigestSql', () => {
  it('quotes the table and stays a single statement', async () => {
    await s.pool.query(`CREATE TABLE "Odd ""Name"" ; x" (id int PRIMARY KEY)`);
    const table = await resolveTable(s.pool, `"Odd ""Name"" ; x"`);
    const sql = tableDigestSql(table);
    expect(sql).toContain(`"${s.schema}"."Odd ""Name"" ; x" r`);
    expect(await digest(table)).toBe(EMPTY);
  });
});

describe('computeTableDigest', () => {
  it('changes exactly when the content does, whatever the names', async () => {
    await s.pool.query(
      `CREATE TABLE "Mixed Case.Table" ("r" int PRIMARY KEY, "r.*" text, "Spaced Col" text)`,
    );
    const table = await resolveTable(s.pool, `"Mixed Case.Table"`);
    const t = table.sql;
    const empty = await digest(table);
    expect(empty).toMatch(/^[0-9a-f]{64}$/);

    await s.pool.query(`INSERT INTO ${t} VALUES (1, 'a', 'b'), (2, E'x\\ny', NULL)`);
    const two = await digest(table);
    expect(two).not.toBe(empty);
    expect(await digest(table)).toBe(two);

    await s.pool.query(`UPDATE ${t} SET "r.*" = "r.*"`);
    expect(await digest(table)).toBe(two);

    await s.pool.query(`UPDATE ${t} SET "Spaced Col" = '' WHERE r = 2`);
    const emptyString = await digest(table);
    expect(emptyString).not.toBe(two);

    await s.pool.query(`UPDATE ${t} SET "Spaced Col" = NULL WHERE r = 2`);
    expect(await digest(table)).toBe(two);

    await s.pool.query(`DELETE FROM ${t}`);
    expect(await digest(table)).toBe(empty);
  });

  it('tells apart values that only differ in where a comma or quote sits', async () => {
    await s.pool.query('CREATE TABLE pairs (a text, b text)');
    const table = await resolveTable(s.pool, 'pairs');
    await s.pool.query(`INSERT INTO pairs VALUES ('x,y', NULL)`);
    const joined = await digest(table);
    await s.pool.query(`TRUNCATE pairs; INSERT INTO pairs VALUES ('x', 'y')`);
    const split = await digest(table);
    await s.pool.query(`TRUNCATE pairs; INSERT INTO pairs VALUES ('x', '"y"')`);
    const quoted = await digest(table);
    expect(new Set([joined, split, quoted]).size).toBe(3);
  });

  it('counts duplicate rows of a table without a primary key', async () => {
    await s.pool.query('CREATE TABLE dupes (v int)');
    const table = await resolveTable(s.pool, 'dupes');
    await s.pool.query('INSERT INTO dupes VALUES (1)');
    const one = await digest(table);
    await s.pool.query('INSERT INTO dupes VALUES (1)');
    expect(await digest(table)).not.toBe(one);
  });

  it("sees a partition's and an inheritance child's rows through the parent", async () => {
    await s.pool.query(`
      CREATE TABLE parted (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
      CREATE TABLE "parted low" PARTITION OF parted FOR VALUES FROM (0) TO (100);
      CREATE TABLE parted_high PARTITION OF parted FOR VALUES FROM (100) TO (200);
      CREATE TABLE base (id int, v text);
      CREATE TABLE child (extra text) INHERITS (base);`);
    const parted = await resolveTable(s.pool, 'parted');
    const before = await digest(parted);
    await s.pool.query(`INSERT INTO parted_high VALUES (150, 'direct')`);
    const inserted = await digest(parted);
    expect(inserted).not.toBe(before);
    await s.pool.query(`UPDATE "parted low" SET v = v`);
    expect(await digest(parted)).toBe(inserted);
    // Moving a row to another partition keeps the parent's content only if nothing else changes.
    await s.pool.query(`UPDATE parted SET id = 50 WHERE id = 150`);
    expect(await digest(parted)).not.toBe(inserted);

    const base = await resolveTable(s.pool, 'base');
    const baseBefore = await digest(base);
    await s.pool.query(`INSERT INTO child VALUES (1, 'a', 'hidden')`);
    const withChild = await digest(base);
    expect(withChild).not.toBe(baseBefore);
    // A column only the child has is not part of what `SELECT * FROM base` (and so a cache) sees.
    await s.pool.query(`UPDATE child SET extra = 'still hidden'`);
    expect(await digest(base)).toBe(withChild);
  });

  it('is equal for two contents exactly when they hold the same rows (property)', async () => {
    await s.pool.query('CREATE TABLE prop (n int, t text)');
    const table = await resolveTable(s.pool, 'prop');
    const text = fc.option(
      fc.string({ unit: 'grapheme', maxLength: 6 }).filter((v) => !v.includes('\0')),
    );
    const rows = fc.array(fc.tuple(fc.option(fc.integer({ min: -3, max: 3 })), text), {
      maxLength: 6,
    });
    type Rows = [number | null, string | null][];
    const load = async (content: Rows): Promise<string> => {
      await s.pool.query('TRUNCATE prop');
      await s.pool.query('INSERT INTO prop SELECT * FROM unnest($1::int[], $2::text[])', [
        content.map(([n]) => n),
        content.map(([, t]) => t),
      ]);
      return digest(table);
    };
    const multiset = (content: Rows): string =>
      JSON.stringify(content.map((row) => JSON.stringify(row)).sort());
    // Half the pairs are a shuffle of the same rows, so "equal" is exercised as much as "different".
    const pair = rows.chain((a) =>
      fc.tuple(fc.constant(a), fc.oneof(fc.shuffledSubarray(a, { minLength: a.length }), rows)),
    );
    await fc.assert(
      fc.asyncProperty(pair, async ([a, b]) => {
        const same = multiset(a) === multiset(b);
        expect((await load(a)) === (await load(b))).toBe(same);
      }),
      { numRuns: 60 },
    );
  });
});
