import { createHash } from 'node:crypto';
import type pg from 'pg';
import { quoteIdent } from './identifiers.ts';
import type { ResolvedTable } from './table.ts';

/** What a cache loads: an optional SQL filter and the columns that order the rows. */
export interface SelectRowsOptions {
  /**
   * A boolean SQL expression the application registered (never one that arrived by message). It
   * may hold `$1`… placeholders: the caller sends their values with the query, in the extended
   * protocol, where the text can only ever be one statement.
   */
  readonly where?: string;
  /** Column names; @default the primary key, and no ORDER BY when the table has none. */
  readonly orderBy?: readonly string[];
}

/** The query that loads a whole cache: `SELECT * FROM "s"."t" [WHERE (...)] [ORDER BY "pk", ...]`. */
export function selectRowsSql(table: ResolvedTable, options: SelectRowsOptions = {}): string {
  let sql = `SELECT * FROM ${table.sql}`;
  // Parenthesised so the filter stays one boolean expression whatever operators it uses; the
  // closing one on a line of its own, so a filter ending in a `--` comment does not swallow it.
  if (options.where !== undefined) sql += ` WHERE (${options.where}\n)`;
  const orderBy = options.orderBy ?? table.primaryKey;
  if (orderBy.length > 0) sql += ` ORDER BY ${orderBy.map(quoteIdent).join(', ')}`;
  return sql;
}

/**
 * The values of a row queried with {@link TEXT_VALUES}: each is Postgres' text, or null for NULL.
 * Throws TypeError for anything else (a query that did not use them).
 */
export function textValues(values: readonly unknown[]): (string | null)[] {
  return values.map((value) => {
    if (value === null || typeof value === 'string') return value;
    throw new TypeError(`expected a text value, got ${typeof value}`);
  });
}

/**
 * Query `types` that leave every value the text Postgres sent: snapshots store it, and clients
 * parse it with the app's own node-postgres type parsers, so rows are what the app's query gives.
 */
export const TEXT_VALUES: pg.CustomTypesConfig = {
  getTypeParser: (() => (value: string) => value) as pg.CustomTypesConfig['getTypeParser'],
};

// A custom type parser may hand back bigint, which JSON.stringify refuses; its decimal text is
// what the default int8 parser would have given, so the digest stays comparable across processes.
function bigintAsText(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** SHA-256 hex of `JSON.stringify(rows)`, the digest `watch` prints (bigint values become decimal text). */
export function digestRows(rows: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(rows, bigintAsText)).digest('hex');
}

/** Rows of this many make one hash update: fewer calls into the hash, no whole-table string. */
const DIGEST_BATCH = 512;

/**
 * {@link digestRows} of successive versions of one table, stringifying only rows it has not seen:
 * each row object's JSON is kept (weakly) with it, so a row carried over unchanged from the
 * previous version (the same frozen object) costs no JSON.stringify again, and the full text is
 * never built: it is hashed in batches. Equal to `digestRows(rows)`, byte for byte.
 */
export class RowDigests {
  readonly #json = new WeakMap<object, string>();

  /** SHA-256 hex of `JSON.stringify(rows)`. */
  of(rows: readonly object[]): string {
    const hash = createHash('sha256').update('[');
    for (let start = 0; start < rows.length; start += DIGEST_BATCH) {
      const batch = rows.slice(start, start + DIGEST_BATCH).map((row) => this.#jsonOf(row));
      hash.update(start === 0 ? batch.join(',') : `,${batch.join(',')}`);
    }
    return hash.update(']').digest('hex');
  }

  #jsonOf(row: object): string {
    let json = this.#json.get(row);
    if (json === undefined) {
      json = JSON.stringify(row, bigintAsText);
      this.#json.set(row, json);
    }
    return json;
  }
}
