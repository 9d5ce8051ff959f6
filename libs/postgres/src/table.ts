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

function member(oid: number, schema: string, name: string): TableMember {
  return Object.freeze({
    oid,
    schema,
    name,
    display: `${schema}.${name}`,
    sql: formatTableName({ schema, name }),
  });
}

const RELATION_SQL = `
SELECT c.oid, n.nspname, c.relname, c.relkind
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = $1::pg_catalog.oid`;

const PRIMARY_KEY_SQL = `
SELECT a.attname
FROM pg_catalog.pg_index i
CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1::pg_catalog.oid AND i.indisprimary
ORDER BY k.ord`;

// UNION (not UNION ALL) so a child reached twice through multiple inheritance is listed once.
const MEMBERS_SQL = `
WITH RECURSIVE tree(oid) AS (
  SELECT $1::pg_catalog.oid
  UNION
  SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.oid
)
SELECT c.oid, n.nspname, c.relname
FROM tree
JOIN pg_catalog.pg_class c ON c.oid = tree.oid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
ORDER BY c.oid <> $1::pg_catalog.oid, n.nspname, c.relname`;

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

/** Resolves a table by OID (as a notification payload carries it); `label` names it in errors. */
export async function resolveTableOid(
  db: Queryable,
  oid: number,
  label: string = String(oid),
): Promise<ResolvedTable> {
  const relation = await db.query<{
    oid: unknown;
    nspname: unknown;
    relname: unknown;
    relkind: unknown;
  }>(RELATION_SQL, [oid]);
  const row = relation.rows[0];
  if (row === undefined) {
    throw new PostgresError('TABLE_NOT_FOUND', `table ${JSON.stringify(label)} does not exist`);
  }
  const relkind = toText(row.relkind);
  if (relkind !== 'r' && relkind !== 'p') {
    const what = KIND_NAMES[relkind] ?? `a relation of kind ${JSON.stringify(relkind)}`;
    throw new PostgresError('NOT_A_TABLE', `${JSON.stringify(label)} is ${what}, not a table`);
  }
  const [primaryKey, members] = await Promise.all([
    db.query<{ attname: unknown }>(PRIMARY_KEY_SQL, [oid]),
    db.query<{ oid: unknown; nspname: unknown; relname: unknown }>(MEMBERS_SQL, [oid]),
  ]);
  const self = member(toOid(row.oid), toText(row.nspname), toText(row.relname));
  const memberList = members.rows.map((m) =>
    member(toOid(m.oid), toText(m.nspname), toText(m.relname)),
  );
  return Object.freeze({
    ...self,
    kind: relkind === 'p' ? 'partitioned' : 'table',
    primaryKey: Object.freeze(primaryKey.rows.map((r) => toText(r.attname))),
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
