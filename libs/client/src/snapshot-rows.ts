import { sameFields, sameTextRow, type Snapshot, type TextRow } from '@pg-static-cache/protocol';
import pg from 'pg';
import type { Row } from './static-cache.ts';

/** Turns a Postgres text value into what the app's queries return. */
type TextParser = (text: string) => unknown;

/** Where a subscriber finds type parsers: node-postgres' `types` option (pool or client config). */
export interface TypeParsers {
  getTypeParser(oid: number, format: 'text'): TextParser;
}

/**
 * The parsers the app's own queries use: the `types` of its pool or pool config when it set
 * them, else node-postgres' global ones (which `pg.types.setTypeParser` changes too).
 */
export function typeParsersOf(option: string | pg.PoolConfig | pg.Pool): TypeParsers {
  const config = option instanceof pg.Pool ? option.options : option;
  const custom = typeof config === 'string' ? undefined : config.types;
  // Typed by pg with an enum of built-in OIDs; enum types, arrays of them and extensions have others.
  const source: { getTypeParser(oid: number, format: 'text'): unknown } = custom ?? pg.types;
  return { getTypeParser: (oid, format) => source.getTypeParser(oid, format) as TextParser };
}

/** Rows as Postgres text, with the fields (names and type OIDs) that say how to parse them. */
export type TextRows = Pick<Snapshot, 'fields' | 'rows'>;

/** The text rows a cache's rows came from (a snapshot, or a table query), and those rows, index for index. */
export interface ParsedSnapshot {
  readonly snapshot: TextRows;
  readonly rows: readonly Row[];
}

/**
 * Rows of a snapshot exactly as node-postgres builds them from a text-format result: keys in
 * field order from one prebuilt template (so a repeated name keeps its first position and its
 * last value), NULL as null, every other value through the field type's parser.
 *
 * With `previous` (the snapshot the cache holds, of the same fields), a row whose text equals the
 * previous snapshot's row at the same index is that row again, not parsed anew: rows are in key
 * order, so a change that updates rows keeps every other row where it was (an insert or delete
 * shifts those after it, which are then parsed). Parsers are functions of the text, so the rows
 * are the same either way; only the work differs.
 */
export function snapshotRows(
  snapshot: TextRows,
  types: TypeParsers,
  previous?: ParsedSnapshot,
): Row[] {
  const { fields } = snapshot;
  const reuse =
    previous !== undefined && sameFields(previous.snapshot.fields, fields) ? previous : undefined;
  const parse = rowParser(fields, types);
  return snapshot.rows.map((values, index) => {
    const earlier = reuse?.rows[index];
    const text = reuse?.snapshot.rows[index];
    if (earlier !== undefined && text !== undefined && sameTextRow(text, values)) return earlier;
    return parse(values);
  });
}

/** Builds one row from its text values as {@link snapshotRows} does; throws what a parser throws. */
export function rowParser(
  fields: Snapshot['fields'],
  types: TypeParsers,
): (values: TextRow) => Row {
  const parsers = fields.map((field) => types.getTypeParser(field.dataTypeID, 'text'));
  // The same construction as pg's Result.addFields/parseRow, so that even odd names such as
  // `__proto__` end up as the same own properties.
  const template = Object.create(null) as Record<string, unknown>;
  for (const field of fields) template[field.name] = null;
  const prebuilt = { ...template };
  return (values) => {
    const row: Record<string, unknown> = { ...prebuilt };
    values.forEach((text, i) => {
      const name = fields[i]?.name;
      const parse = parsers[i];
      if (name === undefined || parse === undefined) return;
      row[name] = text === null ? null : parse(text);
    });
    return row;
  };
}
