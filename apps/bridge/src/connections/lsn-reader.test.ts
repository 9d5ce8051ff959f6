import type { Queryable } from '@pg-static-cache/postgres';
import { describe, expect, it } from 'vitest';
import { LsnReader } from './lsn-reader.ts';

// A database whose queries complete only when the test says so, numbering the LSNs it returns.
function fakeDb() {
  const pending: (() => void)[] = [];
  let count = 0;
  const db = {
    query: () =>
      new Promise((resolve) => {
        count += 1;
        const lsn = `0/${count}`;
        pending.push(() => resolve({ rows: [{ lsn }] }));
      }),
  } as unknown as Queryable;
  return {
    db,
    get queries() {
      return count;
    },
    finishNext: () => pending.shift()?.(),
  };
}

describe('LsnReader', () => {
  it('reads once per quiet call, and lets callers during a read share the next one', async () => {
    const fake = fakeDb();
    const reader = new LsnReader(fake.db);
    const first = reader.read();
    // Arrived while the first read runs: it may predate their notifications, so they wait.
    const second = reader.read();
    const third = reader.read();
    expect(fake.queries).toBe(1);
    fake.finishNext();
    expect(await first).toBe('0/1');
    await new Promise((resolve) => setImmediate(resolve));
    expect(fake.queries).toBe(2);
    fake.finishNext();
    expect(await Promise.all([second, third])).toEqual(['0/2', '0/2']);
    const fourth = reader.read();
    expect(fake.queries).toBe(3);
    fake.finishNext();
    expect(await fourth).toBe('0/3');
  });

  it('passes a failed read on to its callers only, and reads again afterwards', async () => {
    let fail = true;
    const db = {
      query: () =>
        fail
          ? Promise.reject(new Error('connection lost'))
          : Promise.resolve({ rows: [{ lsn: '0/9' }] }),
    } as unknown as Queryable;
    const reader = new LsnReader(db);
    await expect(reader.read()).rejects.toThrow('connection lost');
    fail = false;
    await expect(reader.read()).resolves.toBe('0/9');
  });
});
