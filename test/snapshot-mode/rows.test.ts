// A snapshot-mode cache must hold exactly the rows a direct-mode cache of the same table holds:
// every common column type, NULLs, a composite key, and the app's own type parsers.
import { StaticCache, type AnyCache } from '@pg-static-cache/client';
import { installTriggers } from '@pg-static-cache/postgres';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { watchCaches } from '../support/fixtures/direct-mode.ts';
import { EVERY_TYPE_SQL } from '../support/fixtures/every-type.ts';
import { uniqueName, waitFor } from '../support/index.ts';
import { storedFirst, watchSnapshots } from './snapshot-kit.ts';

/** node-postgres' own parsers, typed by OID number rather than pg's enum of built-in types. */
const builtIn: {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (text: string) => unknown;
} = pg.types;

/** numeric as a JavaScript number and int8 as a bigint: parsers an app may set on its pool. */
const CUSTOM_TYPES: pg.CustomTypesConfig = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') => {
    if (oid === 1700) return (text: string) => Number(text);
    if (oid === 20) return (text: string) => BigInt(text);
    return builtIn.getTypeParser(oid, format);
  },
};

const rowsOf = (cache: AnyCache) => cache.rows() as readonly Record<string, unknown>[];

describe('snapshot mode: rows', () => {
  for (const [name, types] of [
    ['node-postgres parsers', undefined],
    ['custom pool types', CUSTOM_TYPES],
  ] as const) {
    it(`equal direct-mode rows with ${name}`, async () => {
      const snapshotCache = new StaticCache({ table: 'everything' });
      await using env = await watchSnapshots({
        setupSql: EVERY_TYPE_SQL,
        caches: [snapshotCache],
        beforeStart: storedFirst('everything'),
        ...(types === undefined ? {} : { poolTypes: types }),
      });
      const channel = uniqueName('ch');
      await installTriggers(env.schema.pool, ['everything'], { channel });
      const directCache = new StaticCache({ table: 'everything' });
      await using direct = watchCaches({
        mode: 'direct',
        pg: { connectionString: env.schema.url, max: 2, ...(types === undefined ? {} : { types }) },
        channel,
        caches: [directCache],
      });
      await direct.subscriber.start();

      // Both modes parse Postgres text with the app's parsers; node-postgres' own query is the oracle.
      const oracle = new pg.Pool({
        connectionString: env.schema.url,
        max: 1,
        ...(types === undefined ? {} : { types }),
      });
      const queried = await oracle.query('SELECT * FROM everything ORDER BY region, id');
      await oracle.end();
      expect(rowsOf(directCache)).toEqual(queried.rows);
      expect(rowsOf(directCache).map((row) => Object.keys(row))).toEqual(
        queried.rows.map((row: object) => Object.keys(row)),
      );
      expect(env.reloads.map((r) => [r.source, r.reason])).toEqual([['snapshot', 'start']]);
      expect(env.tableQueries()).toBe(0);
      expect(rowsOf(snapshotCache)).toEqual(rowsOf(directCache));
      expect(rowsOf(snapshotCache).map((row) => Object.keys(row))).toEqual(
        rowsOf(directCache).map((row) => Object.keys(row)),
      );
      expect(snapshotCache.digest).toBe(directCache.digest);
      expect(snapshotCache.get(['eu', types === undefined ? '1' : 1n])).toBe(
        rowsOf(snapshotCache)[0],
      );
      if (types !== undefined) expect(rowsOf(snapshotCache)[0]?.['amount']).toBe(12345.6789);

      // A change reaches both: direct mode by NOTIFY, snapshot mode by a new snapshot.
      await env.schema.pool.query(
        `UPDATE everything SET amount = amount * 2, doc = doc || '{"c": true}', ints = ints || 4
         WHERE region = 'eu';
         INSERT INTO everything (region, id, note) VALUES ('ap', 1, 'new')`,
      );
      // Not waitConverged: with custom types the digest is not the one of a plain query.
      await waitFor('the direct-mode reload', () => directCache.version === 2);
      await env.writer.publish('everything', 2);
      await waitFor('the second snapshot', () => snapshotCache.version === 2);
      expect(env.reloads.map((r) => r.source)).toEqual(['snapshot', 'snapshot']);
      expect(env.tableQueries()).toBe(0);
      expect(rowsOf(snapshotCache)).toEqual(rowsOf(directCache));
      expect(snapshotCache.digest).toBe(directCache.digest);
    });
  }
});
