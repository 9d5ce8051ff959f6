import {
  sameFields,
  snapshotDelta,
  type Snapshot,
  type SnapshotDelta,
} from '@pg-static-cache/protocol';

/** A delta and the snapshot it applies to. */
export interface DeltaFrom extends SnapshotDelta {
  readonly from: number;
  readonly fromDigest: string;
}

/** Deltas with more rows than this are not worth a message: apps read the stored value instead. */
const MAX_DELTA_ROWS = 500;

/**
 * The last snapshot this worker stored of each table, and the delta from it to the next one it
 * stores: what a `snapshot-delta` message carries (apps holding that very snapshot apply it
 * without reading the stored value). One snapshot per table is held in memory, as Postgres text.
 */
export class SnapshotDeltas {
  readonly #last = new Map<string, Snapshot>();

  /**
   * The delta from the last snapshot of `snapshot.table` stored here to `snapshot`; undefined when
   * there is none to give: no earlier snapshot of the same generation and fields, a table without
   * a primary key, or too many rows changed. {@link stored} then remembers `snapshot` once it is.
   */
  deltaTo(snapshot: Snapshot, primaryKey: readonly string[]): DeltaFrom | undefined {
    const last = this.#last.get(snapshot.table);
    if (
      last?.generation !== snapshot.generation ||
      last.version >= snapshot.version ||
      !sameFields(last.fields, snapshot.fields)
    ) {
      return undefined;
    }
    const keyIndexes = primaryKey.map((column) =>
      snapshot.fields.findIndex((field) => field.name === column),
    );
    if (keyIndexes.some((index) => index < 0)) return undefined;
    const delta = snapshotDelta(last.rows, snapshot.rows, keyIndexes);
    if (delta === undefined || delta.rows.length + delta.removed.length > MAX_DELTA_ROWS) {
      return undefined;
    }
    return { ...delta, from: last.version, fromDigest: last.digest };
  }

  /** `snapshot` was stored: later deltas start from it, unless a newer one was remembered first. */
  stored(snapshot: Snapshot): void {
    const last = this.#last.get(snapshot.table);
    if (last?.generation === snapshot.generation && last.version > snapshot.version) return;
    this.#last.set(snapshot.table, snapshot);
  }

  /** The last snapshot of `table` stored here; undefined when none is. */
  lastOf(table: string): Snapshot | undefined {
    return this.#last.get(table);
  }

  /** Forgets `table` (dropped). */
  forget(table: string): void {
    this.#last.delete(table);
  }
}
