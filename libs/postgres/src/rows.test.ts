import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { digestRows, RowDigests } from './rows.ts';

// Values as node-postgres' parsers hand them back: text, numbers, bigint (a custom int8 parser),
// dates, json, arrays, bytea and null.
const value = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.bigInt(),
  fc.date({ noInvalidDate: true }),
  fc.jsonValue(),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.uint8Array({ maxLength: 4 }).map((bytes) => Buffer.from(bytes)),
  fc.constant(null),
);
const row = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), value, { maxKeys: 5 });

describe('RowDigests', () => {
  it('equals digestRows for every version, rows carried over from earlier versions included', () => {
    fc.assert(
      fc.property(fc.array(fc.array(row, { maxLength: 1_200 }), { maxLength: 4 }), (versions) => {
        const digests = new RowDigests();
        let previous: object[] = [];
        for (const fresh of versions) {
          // Half of each version is the previous version's very objects, as structural sharing keeps them.
          const rows = [...previous.slice(0, previous.length >> 1), ...fresh];
          expect(digests.of(rows)).toBe(digestRows(rows));
          previous = rows;
        }
      }),
      { numRuns: 60 },
    );
    expect(new RowDigests().of([])).toBe(digestRows([]));
  });
});
