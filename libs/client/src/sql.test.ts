// The forms `where` accepts, and the plain string it refuses: values never become SQL text.
import { describe, expect, it } from 'vitest';
import { ClientError } from './errors.ts';
import { sql } from './sql.ts';
import { StaticCache } from './static-cache.ts';

/** The ClientError code and message `build` throws with. */
function refusal(build: () => unknown): { code: string; message: string } {
  try {
    build();
  } catch (error) {
    if (error instanceof ClientError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a ClientError');
}

describe('sql and where', () => {
  it('sql`…` numbers a placeholder per value and keeps the values apart', () => {
    const tenant = "x'); DELETE FROM plans; --";
    expect(sql`active AND tenant = ${tenant} AND tier > ${2}`).toEqual({
      text: 'active AND tenant = $1 AND tier > $2',
      values: [tenant, 2],
    });
    expect(sql`active`).toEqual({ text: 'active', values: [] });
    const nested = refusal(() => sql`a AND ${sql`b = ${1}`}`);
    expect(nested.code).toBe('INVALID_OPTIONS');
  });

  it('a cache holds the filter of where (either form) or whereRaw, values copied', () => {
    const values = [7];
    const cache = new StaticCache({ table: 'plans', where: { text: 'tenant = $1', values } });
    values.push(8);
    expect(cache.filter).toEqual({ text: 'tenant = $1', values: [7] });
    expect(new StaticCache({ table: 'plans', where: { text: 'active' } }).filter).toEqual({
      text: 'active',
      values: [],
    });
    expect(new StaticCache({ table: 'plans', whereRaw: 'active' }).filter).toEqual({
      text: 'active',
      values: [],
    });
    expect(new StaticCache({ table: 'plans' }).filter).toBeUndefined();
  });

  it('refuses a plain string in where, naming the forms it takes', () => {
    const options: unknown = { table: 'plans', where: 'active' };
    const refused = refusal(() => new StaticCache(options as { table: string }));
    expect(refused).toEqual({
      code: 'INVALID_OPTIONS',
      message:
        "where takes parameterized SQL, not a string: sql`tenant = ${id}` or { text: 'tenant = $1', values: [id] } (raw SQL text goes in whereRaw)",
    });
  });

  it('refuses both filters at once, and filters that are not SQL text', () => {
    const bad: object[] = [
      { where: sql`a`, whereRaw: 'b' },
      { where: { text: '' } },
      { where: { text: 'tenant = $1', values: 7 } },
      { where: 42 },
      { whereRaw: '' },
      { whereRaw: ['active'] },
    ];
    for (const options of bad) {
      const all = { table: 'plans', ...options };
      expect(refusal(() => new StaticCache(all)).code, JSON.stringify(options)).toBe(
        'INVALID_OPTIONS',
      );
    }
  });
});
