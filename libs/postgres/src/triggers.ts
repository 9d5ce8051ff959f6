import pg from 'pg';
import { PostgresError } from './errors.ts';
import {
  formatTableName,
  parseQualifiedName,
  quoteIdent,
  quoteLiteral,
  type QualifiedName,
  type TableName,
} from './identifiers.ts';
import { resolveTable, type Queryable, type ResolvedTable } from './table.ts';

/** The NOTIFY channel, and the default function and trigger name, when none is given. */
export const DEFAULT_CHANNEL = 'pg_static_cache_update';

/** The trigger function's schema when `functionName` names none. */
export const DEFAULT_FUNCTION_SCHEMA = 'public';

/** Names of the channel, trigger function and triggers; each defaults to the channel. */
export interface TriggerOptions {
  /** @default DEFAULT_CHANNEL */
  readonly channel?: string;
  /**
   * Parsed like a table name; without a schema it goes in {@link DEFAULT_FUNCTION_SCHEMA}, never
   * where a search_path says, so install, check and the bridge always look in the same place.
   * @default `public.<channel>`
   */
  readonly functionName?: string;
  /** The exact trigger name (never qualified: a trigger lives in its table). @default the channel */
  readonly triggerName?: string;
}

/** Validated names; with channel `sequel_static_cache_update` they are exactly Sequel's. */
export interface TriggerNaming {
  readonly channel: string;
  readonly functionName: QualifiedName;
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
  const parsed =
    options.functionName === undefined
      ? { schema: undefined, name: channel }
      : parseQualifiedName(options.functionName, 'function name', 'INVALID_NAME');
  const functionName = { schema: parsed.schema ?? DEFAULT_FUNCTION_SCHEMA, name: parsed.name };
  checkName('function schema', functionName.schema);
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

// The tables as named (a ResolvedTable by its qualified name); their members are found when the
// SQL runs, not here.
function roots(tables: readonly TableRef[]): string[] {
  return [...new Set(tables.map((t) => ('members' in t ? t.sql : formatTableName(t))))];
}

// `pg_catalog.format('<before>%s<after>', member)`: one statement per member, with `member` the
// loop variable of memberLoop. The fixed parts are SQL we quoted already; a `%` in them is escaped.
function perMember(before: string, after = ''): string {
  const escape = (text: string): string => text.replaceAll('%', '%%');
  return `pg_catalog.format(${quoteLiteral(`${escape(before)}%s${escape(after)}`)}, member)`;
}

/**
 * A DO block that runs `commands` (perMember calls) for `table` and, recursively, each of its
 * partitions and inheritance children as the catalog holds them when it runs. Statement triggers
 * do not propagate: a statement that targets a partition or a child directly fires only that
 * relation's own triggers. Finding the members at run time is what makes printed SQL right in a
 * migration applied later, elsewhere, or to partitions that did not exist when it was printed.
 */
function memberLoop(table: string, commands: readonly string[]): string {
  // OPERATOR(pg_catalog.=) and qualified names: whatever search_path the caller runs it under
  // (a migration tool's, a hostile one) resolves nothing here but the named table.
  const body = `
DECLARE
  member pg_catalog.text;
BEGIN
  FOR member IN
    WITH RECURSIVE tree(oid) AS (
      SELECT ${quoteLiteral(table)}::pg_catalog.regclass::pg_catalog.oid
      UNION
      SELECT i.inhrelid FROM pg_catalog.pg_inherits i
      JOIN tree ON i.inhparent OPERATOR(pg_catalog.=) tree.oid
    )
    SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
    FROM tree
    JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) tree.oid
    JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
  LOOP
${commands.map((command) => `    EXECUTE ${command};`).join('\n')}
  END LOOP;
END
`;
  return `DO ${dollarQuote(body)}`;
}

function installStatements(tables: readonly TableRef[], naming: TriggerNaming): string[] {
  const fn = functionSignature(naming);
  const trigger = quoteIdent(naming.triggerName);
  // pg_catalog-qualified, and a fixed search_path for the rest (`text`, the function's own lookups):
  // nothing earlier in the search_path of whichever session writes to a table can stand in.
  const body = `\nBEGIN\n  PERFORM pg_catalog.pg_notify(${quoteLiteral(naming.channel)}, TG_RELID::text);\n  RETURN NULL;\nEND\n`;
  const statements = [
    `CREATE OR REPLACE FUNCTION ${fn} RETURNS pg_catalog.trigger LANGUAGE plpgsql\n` +
      `SET search_path = pg_catalog, pg_temp AS ${dollarQuote(body)}`,
  ];
  for (const table of roots(tables)) {
    // OR REPLACE also upgrades an older trigger of the same name, such as Sequel's without TRUNCATE.
    // ALWAYS so it also fires under session_replication_role = replica (logical-replication
    // apply, pg_restore).
    statements.push(
      memberLoop(table, [
        perMember(
          `CREATE OR REPLACE TRIGGER ${trigger} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON `,
          ` FOR EACH STATEMENT EXECUTE FUNCTION ${fn}`,
        ),
        perMember('ALTER TABLE ', ` ENABLE ALWAYS TRIGGER ${trigger}`),
      ]),
    );
  }
  return statements;
}

function uninstallStatements(tables: readonly TableRef[], naming: TriggerNaming): string[] {
  const fn = functionSignature(naming);
  const trigger = quoteIdent(naming.triggerName);
  const statements = roots(tables).map((table) =>
    memberLoop(table, [perMember(`DROP TRIGGER IF EXISTS ${trigger} ON `)]),
  );
  // The function stays while any trigger still calls it: other tables, or a Sequel app sharing it.
  const guard = `
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger WHERE tgfoid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure(${quoteLiteral(fn)})) THEN
    DROP FUNCTION IF EXISTS ${fn};
  END IF;
END
`;
  statements.push(`DO ${dollarQuote(guard)}`);
  return statements;
}

/** How a printed script is framed. */
export interface ScriptOptions {
  /**
   * Wrap it in BEGIN and COMMIT, to run the file on its own. Off by default: psql
   * --single-transaction and migration tools (Flyway, Knex, node-pg-migrate) open their own
   * transaction, and a BEGIN inside theirs would break it.
   * @default false
   */
  readonly transaction?: boolean;
}

/** A migration script: the header, then the installer lock and `statements` (in BEGIN/COMMIT only when asked). */
export function script(
  header: readonly string[],
  statements: readonly string[],
  options: ScriptOptions = {},
): string {
  const framing =
    options.transaction === true
      ? '-- One transaction, BEGIN to COMMIT: run the file on its own (psql -f).'
      : [
          '-- No BEGIN/COMMIT: run it inside one transaction (psql --single-transaction, or a migration',
          "-- tool's), which the advisory lock against concurrent installs lasts for.",
        ].join('\n');
  const head = [...header, framing].join('\n');
  const body = [LOCK_SQL, ...statements].map((s) => `${s};\n`).join('\n');
  return options.transaction === true
    ? `${head}\nBEGIN;\n\n${body}\nCOMMIT;\n`
    : `${head}\n\n${body}`;
}

/**
 * The install script as plain SQL for migration tools: the function, then a trigger on each table
 * and on each of its partitions and children as they are when the script runs.
 */
export function installSql(
  tables: readonly TableRef[],
  options: TriggerOptions = {},
  scriptOptions: ScriptOptions = {},
): string {
  const naming = triggerNaming(options);
  const header = [
    `-- pg-static-cache: after every INSERT, UPDATE, DELETE or TRUNCATE statement on these tables, and on`,
    `-- each partition and inheritance child they have when this runs, NOTIFY channel`,
    `-- ${JSON.stringify(naming.channel)} with the changed table's OID (TG_RELID::text).`,
    `-- Safe to run again; needs PostgreSQL 14+ (CREATE OR REPLACE TRIGGER).`,
  ];
  return script(header, installStatements(tables, naming), scriptOptions);
}

/** The uninstall script as plain SQL: drops the triggers, and the function once no trigger calls it. */
export function uninstallSql(
  tables: readonly TableRef[],
  options: TriggerOptions = {},
  scriptOptions: ScriptOptions = {},
): string {
  const naming = triggerNaming(options);
  const header = [
    `-- pg-static-cache: stop notifying channel ${JSON.stringify(naming.channel)} for these tables, their`,
    `-- partitions and their inheritance children.`,
    `-- The trigger function is dropped only when no trigger uses it anymore. Safe to run again.`,
  ];
  return script(header, uninstallStatements(tables, naming), scriptOptions);
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
