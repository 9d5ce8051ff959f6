import {
  applySnapshotDelta,
  type Snapshot,
  type SnapshotDeltaMessage,
  type TextRow,
} from '@pg-static-cache/protocol';
import { rowParser, type ParsedSnapshot, type TypeParsers } from './snapshot-rows.ts';
import type { Row } from './static-cache.ts';

/** A new version built from a delta: the snapshot it stands for, and its rows. */
export interface DeltaRows {
  readonly snapshot: Snapshot;
  readonly rows: Row[];
}

/** Why a delta could not be applied to the rows held: it does not fit them, or a parser refused a value. */
export interface DeltaProblem {
  readonly problem: string;
  readonly cause?: unknown;
}

/**
 * `delta` applied to `base` (the snapshot a cache's rows came from, and those rows): every row it
 * does not carry is the held row object itself, and only the rows it carries are parsed. The
 * caller has checked that `base` is the delta's base (generation, version and digest).
 */
export function deltaRows(
  base: ParsedSnapshot,
  delta: SnapshotDeltaMessage,
  types: TypeParsers,
): DeltaRows | DeltaProblem {
  const { fields } = base.snapshot;
  const plan = applySnapshotDelta(base.snapshot.rows, delta, fields.length);
  if (plan === undefined) return { problem: 'delta does not fit the snapshot held' };
  const parse = rowParser(fields, types);
  const texts = new Array<TextRow>(plan.length);
  const rows = new Array<Row>(plan.length);
  try {
    plan.forEach((step, i) => {
      if ('from' in step) {
        texts[i] = base.snapshot.rows[step.from] as TextRow;
        rows[i] = base.rows[step.from] as Row;
      } else {
        texts[i] = step.text;
        rows[i] = parse(step.text);
      }
    });
  } catch (cause) {
    return { problem: 'delta has a value the type parsers refuse', cause };
  }
  const { table, oid, version, generation, lsn, at, digest } = delta;
  const snapshot: Snapshot = {
    v: 1,
    table,
    oid,
    version,
    generation,
    fields,
    rows: texts,
    lsn,
    at,
    digest,
  };
  return { snapshot, rows };
}
