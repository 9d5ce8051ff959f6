import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { streamRows, type ArrayQuery } from './row-stream.ts';
import { TEXT_VALUES } from './rows.ts';

const SERIES: ArrayQuery = {
  text: 'SELECT i, i * 2 FROM generate_series(1, 5) AS i',
  rowMode: 'array',
  types: TEXT_VALUES,
};

let pool: pg.Pool;
beforeAll(() => {
  pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 1 });
});
afterAll(async () => {
  await pool.end();
});

describe('streamRows', () => {
  it('builds each row as it arrives, with its index and the fields, on a pool or a client', async () => {
    const seen: string[] = [];
    const result = await streamRows(pool, SERIES, (values, index, fields) => {
      seen.push(`${index}:${fields.map((f) => f.name).join(',')}`);
      return [values.join('/')];
    });
    expect(result.rows).toEqual([['1/2'], ['2/4'], ['3/6'], ['4/8'], ['5/10']]);
    expect(result.fields.map((f) => f.name)).toEqual(['i', '?column?']);
    expect(seen[4]).toBe('4:i,?column?');
    const client = await pool.connect();
    try {
      expect((await streamRows(client, SERIES, (values) => values)).rows).toHaveLength(5);
    } finally {
      client.release();
    }
  });

  it('rejects when building a row throws, and the pool serves the next query', async () => {
    // Thrown inside node-postgres' socket handler, this would have been an uncaught exception.
    const failing = streamRows(pool, SERIES, (values, index) => {
      if (index === 2) throw new TypeError('not a text value');
      return values;
    });
    await expect(failing).rejects.toThrow('not a text value');
    expect((await streamRows(pool, SERIES, (values) => values)).rows).toHaveLength(5);
  });

  it("rejects with Postgres' error, and the pool serves the next query", async () => {
    const failing = streamRows(pool, { ...SERIES, text: 'SELECT 1 / 0' }, (values) => values);
    await expect(failing).rejects.toThrow('division by zero');
    expect((await streamRows(pool, SERIES, (values) => values)).rows).toHaveLength(5);
  });
});
