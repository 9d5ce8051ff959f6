import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applySnapshotDelta, snapshotDelta, type TextRow } from './snapshot-delta.ts';

// Tables of two text columns keyed by the first, in key order as a snapshot holds them.
const table = fc
  .uniqueArray(fc.integer({ min: 0, max: 60 }), { maxLength: 40 })
  .chain((keys) =>
    fc.tuple(
      fc.constant([...keys].sort((a, b) => a - b)),
      fc.array(fc.option(fc.constantFrom('a', 'b', 'c')), {
        minLength: keys.length,
        maxLength: keys.length,
      }),
    ),
  )
  .map(([keys, values]): TextRow[] => keys.map((key, i) => [String(key), values[i] ?? null]));

/** The rows `plan` builds from `older`, as an app builds them. */
function build(older: readonly TextRow[], newer: readonly TextRow[]): TextRow[] | undefined {
  const delta = snapshotDelta(older, newer, [0]);
  if (delta === undefined) return undefined;
  const plan = applySnapshotDelta(older, delta, 2);
  return plan?.map((step) => ('from' in step ? (older[step.from] as TextRow) : step.text));
}

describe('snapshot deltas', () => {
  it('rebuild the newer rows exactly from the older ones, whatever was updated, inserted or deleted', () => {
    fc.assert(
      fc.property(table, table, (older, newer) => {
        expect(build(older, newer)).toEqual(newer);
      }),
      { numRuns: 500 },
    );
  });

  it('carry only what changed', () => {
    const older: TextRow[] = [
      ['1', 'a'],
      ['2', 'b'],
      ['3', 'c'],
    ];
    const newer: TextRow[] = [
      ['1', 'a'],
      ['2', 'B'],
      ['4', null],
    ];
    expect(snapshotDelta(older, newer, [0])).toEqual({
      length: 3,
      removed: [1, 2],
      rows: [
        [1, ['2', 'B']],
        [2, ['4', null]],
      ],
    });
    // Rows cannot be matched when a key repeats.
    expect(
      snapshotDelta(
        [
          ['1', 'a'],
          ['1', 'b'],
        ],
        newer,
        [0],
      ),
    ).toBeUndefined();
  });

  it('refuse a delta that does not fit the rows held, never throwing', () => {
    const older: TextRow[] = [
      ['1', 'a'],
      ['2', 'b'],
    ];
    const fits = { length: 2, removed: [1], rows: [[1, ['2', 'x']]] as [number, TextRow][] };
    expect(applySnapshotDelta(older, fits, 2)).toEqual([{ from: 0 }, { text: ['2', 'x'] }]);
    for (const bad of [
      { ...fits, length: 3 },
      { ...fits, removed: [2] },
      { ...fits, removed: [1, 1], length: 1 },
      { ...fits, removed: [-1] },
      { ...fits, rows: [[2, ['2', 'x']]] as [number, TextRow][] },
      { ...fits, rows: [[1, ['2']]] as [number, TextRow][] },
      { ...fits, length: 1.5 },
    ]) {
      expect(applySnapshotDelta(older, bad, 2), JSON.stringify(bad)).toBeUndefined();
    }
  });
});
