// The driver's own copy of a table, kept up to date by the rows its updates return: what a
// subscriber that followed every commit must hold, known without another query while the
// subscriber reloads. Its digests are computed only when a subscriber's line is compared with
// them, so after that line was stamped: the latency clock never includes the driver's hashing.
import { digestRows, resolveTable, selectRowsSql } from '@pg-static-cache/postgres';
import type pg from 'pg';
import { namesDigest } from './protocol.ts';

type Row = Readonly<Record<string, unknown>>;

/** What a subscriber holding the table as the driver knows it reports (digests computed on first use). */
export interface Expected {
  /** The newest change's name, the greatest in the table (Sequel's `reload` line shows it); undefined after a burst. */
  readonly token: string | undefined;
  /** `watch`'s digest: SHA-256 of `JSON.stringify(rows)` in primary-key order. */
  rowsDigest(): string;
  /** Sequel's `digest` line: SHA-256 of the names in primary-key order. */
  namesDigest(): string;
}

/** An update that committed: when its reply arrived (`performance.now()`), and what then to expect. */
export interface Committed {
  readonly committed: number;
  readonly expected: Expected;
}

function once<T>(compute: () => T): () => T {
  let value: { readonly v: T } | undefined;
  return () => (value ??= { v: compute() }).v;
}

/** A table with an `int` primary key `id` and a `text` column `name`, as node-postgres returns its rows. */
export class LocalTable {
  readonly #table: string;
  #rows: readonly Row[] = [];
  #index = new Map<unknown, number>();

  private constructor(table: string) {
    this.#table = table;
  }

  /** Reads the whole table once, with the query a subscriber loads it with (same order, same types). */
  static async load(db: pg.Client, table: string): Promise<LocalTable> {
    const local = new LocalTable(table);
    await local.reload(db);
    return local;
  }

  /** Reads the table again (after a burst, whose concurrent updates it did not follow). */
  async reload(db: pg.Client): Promise<void> {
    const result = await db.query<Row>(selectRowsSql(await resolveTable(db, this.#table)));
    this.#rows = result.rows;
    this.#index = new Map(result.rows.map((row, i) => [row['id'], i]));
  }

  /** What a subscriber holding the table now reports; `token` names the change that led here. */
  expected(token?: string): Expected {
    // Each update replaces the array, so these see the table as it was when this was asked for.
    const rows = this.#rows;
    return {
      token,
      rowsDigest: once(() => digestRows(rows)),
      namesDigest: once(() => namesDigest(rows.map((row) => String(row['name'])))),
    };
  }

  /**
   * One single-row autocommit update (`SET name = $1, updated_at = clock_timestamp()`): resolves
   * once it has committed, with the moment its reply arrived and what a subscriber must then hold.
   */
  async update(db: pg.Client, id: number, name: string): Promise<Committed> {
    const result = await db.query<Row>({
      // One prepared statement per table and connection.
      name: `psc_bench_update_${this.#table}`,
      text: `UPDATE ${this.#table} SET name = $1, updated_at = clock_timestamp() WHERE id = $2 RETURNING *`,
      values: [name, id],
    });
    const committed = performance.now();
    const row = result.rows[0];
    const at = this.#index.get(id);
    if (row === undefined || at === undefined) throw new Error(`${this.#table}: no row ${id}`);
    const rows = [...this.#rows];
    rows[at] = row;
    this.#rows = rows;
    return { committed, expected: this.expected(name) };
  }
}
