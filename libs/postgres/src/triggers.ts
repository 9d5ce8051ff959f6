import pg from 'pg';
import { PostgresError } from './errors.ts';
import {
  formatTableName,
  parseQualifiedName,
  quoteIdent,
  quoteLiteral,
  type TableName,
} from './identifiers.ts';
import { resolveTable, type Queryable, type ResolvedTable } from './table.ts';

/** The NOTIFY channel, and the default function and trigger name, when none is given. */
export const DEFAULT_CHANNEL = 'pg_static_cache_update';

/** Names of the channel, trigger function and triggers; each defaults to the channel. */
export interface TriggerOptions {
  /** @default DEFAULT_CHANNEL */
  readonly channel?: string;
  /** Parsed like a table name, so it may be schema-qualified. @default the channel, as one quoted identifier */
  readonly functionName?: string;
  /** The exact trigger name (never qualified: a trigger lives in its table). @default the channel */
  readonly triggerName?: string;
}

/** Validated names; with channel `sequel_static_cache_update` they are exactly Sequel's. */
export interface TriggerNaming {
  readonly channel: string;
  readonly functionName: TableName;
  readonly triggerName: string;
}

const MAX_NAME_BYTES = 63;

/** Throws INVALID_NAME unless `value` is a usable Postgres identifier (not empty, no NUL, ≤ 63 bytes). */
export function checkName(what: string, value: string): void {
  const fail = (reason: string): never => {
    throw new PostgresError('INVALID_NAME', `invalid ${what} ${JSON.stringify(value)}: ${reason}`);
  };
  if (value === '') fail('empty');
  if (value.includes('\0')) fail('NUL character');
  // Postgres truncates longer identifiers silently (LISTEN) or refuses them (pg_notify), so a
  // longer name would make install and listen disagree.
  if (Buffer.byteLength(value, 'utf8') > MAX_NAME_BYTES)
    fail(`longer than ${MAX_NAME_BYTES} bytes`);
}

/** Validates the options and fills in defaults: function and trigger named after the channel. */
export function triggerNaming(options: TriggerOptions = {}): TriggerNaming {
  const channel = options.channel ?? DEFAULT_CHANNEL;
  checkName('channel', channel);
  const functionName =
    options.functionName === undefined
      ? { schema: undefined, name: channel }
      : parseQualifiedName(options.functionName, 'function name', 'INVALID_NAME');
  if (functionName.schema !== undefined) checkName('function schema', functionName.schema);
  checkName('function name', functionName.name);
  const triggerName = options.triggerName ?? channel;
  checkName('trigger name', triggerName);
  return Object.freeze({ channel, functionName: Object.freeze(functionName), triggerName });
}

// "psc_trig" in ASCII: concurrent installs (every app instance at boot) would otherwise race on
// CREATE OR REPLACE FUNCTION and fail with "tuple concurrently updated".
export const LOCK_SQL = 'SELECT pg_catalog.pg_advisory_xact_lock(8102929416196352359)';

/** `body` in dollar quotes whose tag it cannot contain. */
export function dollarQuote(body: string): string {
  for (let n = 0; ; n += 1) {
    const tag = n === 0 ? '$psc$' : `$psc${n}$`;
    // The body must not contain the tag, nor end in a prefix of it that would close early.
    if ((body + tag).indexOf(tag) === body.length) return `${tag}${body}${tag}`;
  }
}

/** `"schema"."fn"()` as SQL, for to_regprocedure and DDL. */
export function functionSignature(naming: TriggerNaming): string {
  return `${formatTableName(naming.functionName)}()`;
}

type TableRef = TableName | ResolvedTable;

// Every relation a trigger must sit on: a resolved table brings its partitions and children.
function targets(tables: readonly TableRef[]): string[] {
  const sqls = tables.flatMap((t) =>
    'members' in t ? t.members.map((m) => m.sql) : [formatTableName(t)],
  );
  return [...new Set(sqls)];
}

function installStatements(tables: readonly TableRef[], naming: TriggerNaming): string[] {
  const fn = functionSignature(naming);
  const trigger = quoteIdent(naming.triggerName);
  // pg_catalog-qualified so a pg_notify earlier in a session's search_path cannot be called instead.
  const body = `\nBEGIN\n  PERFORM pg_catalog.pg_notify(${quoteLiteral(naming.channel)}, TG_RELID::text);\n  RETURN NULL;\nEND\n`;
  const statements = [
    `CREATE OR REPLACE FUNCTION ${fn} RETURNS trigger LANGUAGE plpgsql AS ${dollarQuote(body)}`,
  ];
  for (const table of targets(tables)) {
    // OR REPLACE also upgrades an older trigger of the same name, such as Sequel's without TRUNCATE.
    // One block per table; ALWAYS so it also fires under session_replication_role = replica
    // (logical-replication apply, pg_restore).
    statements.push(
      `CREATE OR REPLACE TRIGGER ${trigger} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION ${fn};\n` +
        `ALTER TABLE ${table} ENABLE ALWAYS TRIGGER ${trigger}`,
    );
  }
  return statements;
}

function uninstallStatements(tables: readonly TableRef[], naming: TriggerNaming): string[] {
  const fn = functionSignature(naming);
  const trigger = quoteIdent(naming.triggerName);
  const statements: string[] = [];
  for (const table of targets(tables))
    statements.push(`DROP TRIGGER IF EXISTS ${trigger} ON ${table}`);
  // The function stays while any trigger still calls it: other tables, or a Sequel app sharing it.
  const guard = `
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger WHERE tgfoid = pg_catalog.to_regprocedure(${quoteLiteral(fn)})) THEN
    DROP FUNCTION IF EXISTS ${fn};
  END IF;
END
`;
  statements.push(`DO ${dollarQuote(guard)}`);
  return statements;
}

/** A migration script: the header, then the installer lock and `statements` in one transaction. */
export function script(header: string, statements: readonly string[]): string {
  const body = [LOCK_SQL, ...statements].map((s) => `${s};\n`).join('\n');
  return `${header}\nBEGIN;\n\n${body}\nCOMMIT;\n`;
}

/**
 * The install script as plain SQL for migration tools: the function, then a trigger per table. A
 * ResolvedTable also gets one on each partition and child; a bare TableName only on itself.
 */
export function installSql(tables: readonly TableRef[], options: TriggerOptions = {}): string {
  const naming = triggerNaming(options);
  const header = [
    `-- pg-static-cache: after every INSERT, UPDATE, DELETE or TRUNCATE statement on these tables,`,
    `-- NOTIFY channel ${JSON.stringify(naming.channel)} with the changed table's OID (TG_RELID::text).`,
    `-- Safe to run again; needs PostgreSQL 14+ (CREATE OR REPLACE TRIGGER).`,
  ].join('\n');
  return script(header, installStatements(tables, naming));
}

/** The uninstall script as plain SQL: drops the triggers, and the function once no trigger calls it. */
export function uninstallSql(tables: readonly TableRef[], options: TriggerOptions = {}): string {
  const naming = triggerNaming(options);
  const header = [
    `-- pg-static-cache: stop notifying channel ${JSON.stringify(naming.channel)} for these tables.`,
    `-- The trigger function is dropped only when no trigger uses it anymore. Safe to run again.`,
  ].join('\n');
  return script(header, uninstallStatements(tables, naming));
}

/** One session: a lone client or one checked out of a pool. */
export type Connection = pg.Client | pg.PoolClient;

/** Runs `fn` in one transaction on one session (taken from `db` when it is a pool). */
export async function inTransaction<T>(
  db: Queryable,
  fn: (client: Connection) => Promise<T>,
): Promise<T> {
  // A pool would run each statement on whichever connection is free: take one for the transaction.
  const client = db instanceof pg.Pool ? await db.connect() : db;
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw error;
  } finally {
    // A connection that could not roll back must not go back to the pool mid-transaction.
    if (db instanceof pg.Pool) (client as pg.PoolClient).release(broken);
  }
}

async function resolveAll(
  client: Connection,
  tables: readonly string[] | readonly ResolvedTable[],
): Promise<ResolvedTable[]> {
  const resolved: ResolvedTable[] = [];
  for (const table of tables) {
    resolved.push(typeof table === 'string' ? await resolveTable(client, table) : table);
  }
  return resolved;
}

// Both directions run the same way: one transaction, the installer lock taken before resolving
// (so a concurrent install cannot change what we are about to read), then the statements.
async function applyStatements(
  db: Queryable,
  tables: readonly string[] | readonly ResolvedTable[],
  options: TriggerOptions,
  statements: (tables: readonly ResolvedTable[], naming: TriggerNaming) => string[],
): Promise<ResolvedTable[]> {
  const naming = triggerNaming(options);
  return inTransaction(db, async (client) => {
    await client.query(LOCK_SQL);
    const resolved = await resolveAll(client, tables);
    await client.query(statements(resolved, naming).join(';\n'));
    return resolved;
  });
}

/**
 * Installs the function and triggers (on every member) in one transaction; returns the resolved
 * tables. ResolvedTables are used as given. A client given here must not be in a transaction.
 */
export function installTriggers(
  db: Queryable,
  tables: readonly string[] | readonly ResolvedTable[],
  options: TriggerOptions = {},
): Promise<ResolvedTable[]> {
  return applyStatements(db, tables, options, installStatements);
}

/** Drops the triggers (and the function once unused) in one transaction; returns the resolved tables. */
export function uninstallTriggers(
  db: Queryable,
  tables: readonly string[] | readonly ResolvedTable[],
  options: TriggerOptions = {},
): Promise<ResolvedTable[]> {
  return applyStatements(db, tables, options, uninstallStatements);
}
