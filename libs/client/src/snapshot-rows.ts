import type { Snapshot } from '@pg-static-cache/protocol';
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

/**
 * Rows of a snapshot exactly as node-postgres builds them from a text-format result: keys in
 * field order from one prebuilt template (so a repeated name keeps its first position and its
 * last value), NULL as null, every other value through the field type's parser.
 */
export function snapshotRows(snapshot: Snapshot, types: TypeParsers): Row[] {
  const { fields } = snapshot;
  const parsers = fields.map((field) => types.getTypeParser(field.dataTypeID, 'text'));
  // The same construction as pg's Result.addFields/parseRow, so that even odd names such as
  // `__proto__` end up as the same own properties.
  const template = Object.create(null) as Record<string, unknown>;
  for (const field of fields) template[field.name] = null;
  const prebuilt = { ...template };
  return snapshot.rows.map((values) => {
    const row: Record<string, unknown> = { ...prebuilt };
    values.forEach((text, i) => {
      const name = fields[i]?.name;
      const parse = parsers[i];
      if (name === undefined || parse === undefined) return;
      row[name] = text === null ? null : parse(text);
    });
    return row;
  });
}
