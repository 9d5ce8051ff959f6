import { createHash } from 'node:crypto';
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

// A custom type parser may hand back bigint, which JSON.stringify refuses; its decimal text is
// what the default int8 parser would have given, so the digest stays comparable across processes.
function bigintAsText(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** SHA-256 hex of `JSON.stringify(rows)`, the digest `watch` prints (bigint values become decimal text). */
export function digestRows(rows: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(rows, bigintAsText)).digest('hex');
}
