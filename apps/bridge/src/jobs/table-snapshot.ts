import {
  PostgresError,
  resolveTableOid,
  selectRowsSql,
  streamRows,
  TEXT_VALUES,
  textValues,
  type Queryable,
  type ResolvedTable,
} from '@pg-static-cache/postgres';
import {
  keepingUnchanged,
  type Snapshot,
  type SnapshotField,
  type TextRow,
} from '@pg-static-cache/protocol';
import { BridgeError } from '../errors.ts';

// Relations by their unquoted `schema.name`; a dot inside a name could make two match, and then
// the snapshot key itself is ambiguous, so the caller refuses.
const BY_DISPLAY_SQL = `
SELECT c.oid
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) c.relname = $1
  AND c.relkind IN ('r', 'p')`;

/** The table now named `display` (unquoted `schema.name`); undefined when there is none. */
export async function tableByDisplay(
  db: Queryable,
  display: string,
): Promise<ResolvedTable | undefined> {
  const found = await db.query<{ oid: unknown }>(BY_DISPLAY_SQL, [display]);
  if (found.rows.length > 1) {
    const count = String(found.rows.length);
    throw new BridgeError('UNKNOWN_TABLE', `${JSON.stringify(display)} names ${count} tables`);
  }
  const oid = found.rows[0]?.oid;
  if (oid === undefined) return undefined;
  try {
    return await resolveTableOid(db, Number(oid), display);
  } catch (error) {
    // Dropped between the two queries.
    if (error instanceof PostgresError) return undefined;
    throw error;
  }
}

/**
 * The table a job for `display` (with the OID it had when the job was added) must snapshot: the
 * table with that OID while it still has that name, else whatever table has the name now (it was
 * dropped and re-created). Undefined when no table has the name any more. `db` is one of the
 * worker's own sessions on DATABASE_URL, which must not go through a transaction-mode pooler
 * (docs/configuration.md): the catalog query is a prepared statement there.
 */
export async function resolveJobTable(
  db: Queryable,
  display: string,
  oid: number,
): Promise<ResolvedTable | undefined> {
  try {
    const table = await resolveTableOid(db, oid, display, true);
    if (table.display === display) return table;
  } catch (error) {
    if (!(error instanceof PostgresError)) throw error;
  }
  return tableByDisplay(db, display);
}

/** A table's rows as Postgres text (null for NULL), with field names and type OIDs. */
export interface TextRows {
  readonly fields: SnapshotField[];
  readonly rows: TextRow[];
}

/**
 * `SELECT * FROM table ORDER BY <primary key>`, every value left as Postgres text. Rows whose text
 * did not change since `previous` (the last snapshot of the table) are its own arrays (see
 * keepingUnchanged): a one-row change then keeps one new row, and a delta finds the others equal
 * at a glance.
 */
export async function selectTextRows(
  db: Queryable,
  table: ResolvedTable,
  previous?: Pick<Snapshot, 'fields' | 'rows'>,
): Promise<TextRows> {
  const keep = keepingUnchanged(previous);
  const result = await streamRows(
    db,
    { text: selectRowsSql(table), rowMode: 'array', types: TEXT_VALUES },
    (values, index, fields) => keep(textValues(values), index, fields),
  );
  const fields = result.fields.map(({ name, dataTypeID }) => ({ name, dataTypeID }));
  return { fields, rows: result.rows };
}
