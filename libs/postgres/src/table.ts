import type pg from 'pg';
import { PostgresError } from './errors.ts';
import { formatTableName, parseTableName } from './identifiers.ts';

/** Anything that runs a query: a pool, a client checked out of one, or a lone client. */
export type Queryable = pg.Pool | pg.PoolClient | pg.Client;

/** One relation whose rows show up in a table's `SELECT *`: the table itself, a partition or an inheritance child. */
export interface TableMember {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  /** `schema.name` unquoted, for people. */
  readonly display: string;
  /** `"schema"."name"`, for SQL. */
  readonly sql: string;
}

/** A table found in the catalog, with what a cache of it needs to know. Frozen. */
export interface ResolvedTable extends TableMember {
  readonly kind: 'table' | 'partitioned';
  /** Primary key columns in index order; empty when the table has none. */
  readonly primaryKey: readonly string[];
  /**
   * The table's own OID plus every partition and inheritance descendant: their changes change what
   * `SELECT * FROM` the table returns, and a statement trigger on the parent does not fire for a
   * statement that targets a partition or child directly, so each carries its own trigger.
   */
  readonly memberOids: readonly number[];
  /** The same relations as `memberOids` (the table itself first), with their names. */
  readonly members: readonly TableMember[];
}

const KIND_NAMES: Readonly<Record<string, string>> = {
  v: 'a view',
  m: 'a materialized view',
  f: 'a foreign table',
  S: 'a sequence',
  i: 'an index',
  I: 'a partitioned index',
  c: 'a composite type',
  t: 'a TOAST table',
};

// pg parses `oid` as a number by default, but an application may have replaced the type parser.
function toOid(value: unknown): number {
  const oid = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(oid) || oid <= 0) throw new TypeError(`not an OID: ${String(value)}`);
  return oid;
}

function toText(value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`expected text, got ${typeof value}`);
  return value;
}

// The catalog's JSON arrays come back as text (cast in the query), whatever type parsers the
// app has set for json.
function jsonList(value: unknown): unknown[] {
  const list: unknown = JSON.parse(toText(value));
  if (!Array.isArray(list)) throw new TypeError('expected a JSON array');
  return list;
}

function member(oid: number, schema: string, name: string): TableMember {
  return Object.freeze({
    oid,
    schema,
    name,
    display: `${schema}.${name}`,
    sql: formatTableName({ schema, name }),
  });
}

// One round trip: the relation, its primary key columns in index order, and its members. UNION
// (not UNION ALL) so a child reached twice through multiple inheritance is listed once.
const RELATION_SQL = `
SELECT c.oid, n.nspname, c.relname, c.relkind,
  (
    SELECT pg_catalog.json_agg(a.attname ORDER BY k.ord)::pg_catalog.text
    FROM pg_catalog.pg_index i
    CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = c.oid AND i.indisprimary
  ) AS primary_key,
  (
    WITH RECURSIVE tree(oid) AS (
      SELECT c.oid
      UNION
      SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.oid
    )
    SELECT pg_catalog.json_agg(
      pg_catalog.json_build_array(m.oid::pg_catalog.text, mn.nspname, m.relname)
      ORDER BY m.oid <> c.oid, mn.nspname, m.relname
    )::pg_catalog.text
    FROM tree
    JOIN pg_catalog.pg_class m ON m.oid = tree.oid
    JOIN pg_catalog.pg_namespace mn ON mn.oid = m.relnamespace
  ) AS members
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = $1::pg_catalog.oid`;

/** Resolves a table name as a user writes it (search_path applies without a schema) to its catalog entry. */
export async function resolveTable(db: Queryable, text: string): Promise<ResolvedTable> {
  const parsed = parseTableName(text);
  const found = await db.query<{ oid: unknown }>(
    'SELECT pg_catalog.to_regclass($1)::pg_catalog.oid AS oid',
    [formatTableName(parsed)],
  );
  const oid = found.rows[0]?.oid;
  if (oid === null || oid === undefined) {
    throw new PostgresError('TABLE_NOT_FOUND', `table ${JSON.stringify(text)} does not exist`);
  }
  return resolveTableOid(db, toOid(oid), text);
}

// Planning RELATION_SQL costs more than running it (~0.4 of ~0.7 ms on a 2-core machine).
const RELATION_STATEMENT = 'pg-static-cache-resolve-table';

/**
 * Resolves a table by OID (as a notification payload carries it); `label` names it in errors.
 * `prepared`: as a named statement, planned once per session (~0.3 ms a call instead of ~0.7);
 * only on sessions of their own, never through a transaction-mode pooler, which hands each
 * statement to any session.
 */
export async function resolveTableOid(
  db: Queryable,
  oid: number,
  label: string = String(oid),
  prepared = false,
): Promise<ResolvedTable> {
  const relation = await db.query<{
    oid: unknown;
    nspname: unknown;
    relname: unknown;
    relkind: unknown;
    primary_key: unknown;
    members: unknown;
  }>({ text: RELATION_SQL, values: [oid], ...(prepared ? { name: RELATION_STATEMENT } : {}) });
  const row = relation.rows[0];
  if (row === undefined) {
    throw new PostgresError('TABLE_NOT_FOUND', `table ${JSON.stringify(label)} does not exist`);
  }
  const relkind = toText(row.relkind);
  if (relkind !== 'r' && relkind !== 'p') {
    const what = KIND_NAMES[relkind] ?? `a relation of kind ${JSON.stringify(relkind)}`;
    throw new PostgresError('NOT_A_TABLE', `${JSON.stringify(label)} is ${what}, not a table`);
  }
  const self = member(toOid(row.oid), toText(row.nspname), toText(row.relname));
  const primaryKey = row.primary_key === null ? [] : jsonList(row.primary_key).map(toText);
  const memberList = jsonList(row.members).map((entry) => {
    const [memberOid, schema, name] = Array.isArray(entry) ? (entry as unknown[]) : [];
    return member(toOid(memberOid), toText(schema), toText(name));
  });
  return Object.freeze({
    ...self,
    kind: relkind === 'p' ? 'partitioned' : 'table',
    primaryKey: Object.freeze(primaryKey),
    memberOids: Object.freeze(memberList.map((m) => m.oid)),
    members: Object.freeze(memberList),
  });
}

// One round trip for every name: to_regclass answers NULL for a name that names nothing.
const CURRENT_OIDS_SQL = `
SELECT pg_catalog.to_regclass(u.name)::pg_catalog.oid AS oid
FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS u(name, ord)
ORDER BY u.ord`;

/**
 * The OID each table name (as a user writes it; search_path applies) names right now, or
 * undefined when it names nothing: a cheap way to notice a table dropped, renamed or replaced.
 */
export async function currentTableOids(
  db: Queryable,
  names: readonly string[],
): Promise<(number | undefined)[]> {
  if (names.length === 0) return [];
  const formatted = names.map((text) => formatTableName(parseTableName(text)));
  const result = await db.query<{ oid: unknown }>(CURRENT_OIDS_SQL, [formatted]);
  return result.rows.map((row) => (row.oid === null ? undefined : toOid(row.oid)));
}

/** The error is Postgres' `undefined_table` (42P01): the statement named a table that does not exist. */
export function isUndefinedTable(error: unknown): boolean {
  return (
    error instanceof Error && (error as { code?: unknown }).code === '42P01' && 'severity' in error
  );
}
