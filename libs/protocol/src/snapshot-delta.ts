import type { Snapshot, SnapshotField } from './snapshot.ts';

/** One row of a snapshot: Postgres text values, null for NULL, one per field. */
export type TextRow = readonly (string | null)[];

/**
 * How one stored snapshot of a table becomes the next, by position: drop the rows at `removed`
 * (indexes into the older rows, ascending), then place each of `rows` at its index in the newer
 * rows (ascending); every other row keeps its order. Rows are in primary-key order in both, so a
 * row that did not change keeps its place relative to the others; a changed row is removed and
 * placed again.
 */
export interface SnapshotDelta {
  /** Rows in the newer snapshot. */
  readonly length: number;
  readonly removed: readonly number[];
  readonly rows: readonly (readonly [number, TextRow])[];
}

function keyOf(row: TextRow, keyIndexes: readonly number[]): string {
  return JSON.stringify(keyIndexes.map((i) => row[i] ?? null));
}

/** Whether two text rows hold the same values. */
export function sameTextRow(a: TextRow, b: TextRow): boolean {
  return a === b || (a.length === b.length && a.every((text, i) => text === b[i]));
}

/**
 * The delta from `older` to `newer` (rows of the same fields), matching rows by the text of the
 * columns at `keyIndexes` (the primary key); undefined when a key repeats, where rows cannot be
 * matched.
 */
export function snapshotDelta(
  older: readonly TextRow[],
  newer: readonly TextRow[],
  keyIndexes: readonly number[],
): SnapshotDelta | undefined {
  if (keyIndexes.length === 0) return undefined;
  return updatedInPlace(older, newer, keyIndexes) ?? byKey(older, newer, keyIndexes);
}

// The common change to a static table, some rows updated and none added or removed, found without
// keying every row: the rows that differ keep their keys, so each is replaced where it stands.
function updatedInPlace(
  older: readonly TextRow[],
  newer: readonly TextRow[],
  keyIndexes: readonly number[],
): SnapshotDelta | undefined {
  if (older.length !== newer.length) return undefined;
  const changed: number[] = [];
  for (const [index, row] of newer.entries()) {
    const before = older[index];
    if (before !== undefined && sameTextRow(before, row)) continue;
    if (before === undefined || keyOf(before, keyIndexes) !== keyOf(row, keyIndexes)) {
      return undefined;
    }
    changed.push(index);
  }
  return {
    length: newer.length,
    removed: changed,
    rows: changed.map((index) => [index, newer[index] as TextRow] as const),
  };
}

function byKey(
  older: readonly TextRow[],
  newer: readonly TextRow[],
  keyIndexes: readonly number[],
): SnapshotDelta | undefined {
  const olderAt = new Map<string, number>();
  for (const [index, row] of older.entries()) olderAt.set(keyOf(row, keyIndexes), index);
  if (olderAt.size !== older.length) return undefined;
  const kept = new Set<number>();
  const rows: [number, TextRow][] = [];
  for (const [index, row] of newer.entries()) {
    const before = olderAt.get(keyOf(row, keyIndexes));
    const same = before === undefined ? undefined : older[before];
    if (before !== undefined && same !== undefined && sameTextRow(same, row) && !kept.has(before)) {
      kept.add(before);
    } else {
      rows.push([index, row]);
    }
  }
  if (kept.size + rows.length !== newer.length) return undefined;
  const removed = older.map((_, index) => index).filter((index) => !kept.has(index));
  return { length: newer.length, removed, rows };
}

function ascendingBelow(indexes: readonly number[], limit: number): boolean {
  return indexes.every(
    (index, i) =>
      Number.isInteger(index) &&
      index >= 0 &&
      index < limit &&
      (i === 0 || index > (indexes[i - 1] ?? -1)),
  );
}

/**
 * Applies `delta` to `older`: for every row of the newer snapshot, either the index of the older
 * row it is (`from`) or the text it has (`text`); undefined when the delta does not fit `older`
 * (indexes out of order or range, counts that do not add up, rows of another width). Untrusted
 * input: never throws.
 */
export function applySnapshotDelta(
  older: readonly TextRow[],
  delta: SnapshotDelta,
  width: number,
): readonly ({ readonly from: number } | { readonly text: TextRow })[] | undefined {
  const { length, removed, rows } = delta;
  const places = rows.map(([index]) => index);
  if (
    !Number.isInteger(length) ||
    older.length - removed.length + rows.length !== length ||
    !ascendingBelow(removed, older.length) ||
    !ascendingBelow(places, length) ||
    !rows.every(([, row]) => row.length === width)
  ) {
    return undefined;
  }
  const out = new Array<{ from: number } | { text: TextRow }>(length);
  let next = 0;
  let skip = 0;
  let placed = 0;
  for (let index = 0; index < length; index += 1) {
    const row = rows[placed];
    if (row !== undefined && row[0] === index) {
      out[index] = { text: row[1] };
      placed += 1;
      continue;
    }
    while (removed[skip] === next) {
      skip += 1;
      next += 1;
    }
    out[index] = { from: next };
    next += 1;
  }
  return out;
}

/** Whether two snapshots have the same fields (names and types, in order): a delta needs it. */
export function sameFields(a: readonly SnapshotField[], b: readonly SnapshotField[]): boolean {
  return (
    a.length === b.length &&
    a.every((field, i) => {
      const other = b[i];
      return field.name === other?.name && field.dataTypeID === other.dataTypeID;
    })
  );
}

/**
 * Builds each row of a table read again, as the rows arrive in the order of `previous` (the last
 * read): a row whose text is that of `previous`' row at the same index, with the same fields, is
 * `previous`' own array. Unchanged rows then keep one array from read to read, and the arrays that
 * arrived for them are garbage at once.
 */
export function keepingUnchanged(
  previous: Pick<Snapshot, 'fields' | 'rows'> | undefined,
): (values: TextRow, index: number, fields: readonly SnapshotField[]) => TextRow {
  let reuse: readonly TextRow[] | undefined;
  return (values, index, fields) => {
    if (index === 0) {
      reuse =
        previous !== undefined && sameFields(previous.fields, fields) ? previous.rows : undefined;
    }
    const earlier = reuse?.[index];
    return earlier !== undefined && sameTextRow(earlier, values) ? earlier : values;
  };
}
