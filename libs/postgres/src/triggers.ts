import pg from 'pg';
import { PostgresError } from './errors.ts';
import {
  formatTableName,
  parseQualifiedName,
  quoteIdent,
  quoteLiteral,
  type TableName,
} from './identifiers.ts';
import {
  resolveTable,
  resolveTableOid,
  type Queryable,
  type ResolvedTable,
  type TableMember,
} from './table.ts';

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

/** What check found on one table: only `ok` means every committed change notifies. */
export type TriggerState =
  | 'ok'
  | 'missing'
  | 'disabled'
  /** tgenabled 'R': fires only under session_replication_role = replica, so not for normal writes. */
  | 'replica-only'
  /** tgenabled 'O': silent under logical-replication apply and pg_restore (replica role). */
  | 'not-always'
  | 'wrong-events'
  | 'wrong-channel';

/** The check result for one table (or, in `members`, one of its partitions or children). */
export interface TriggerReport {
  /** `schema.name`, unquoted. */
  readonly table: string;
  readonly oid: number;
  readonly state: TriggerState;
  /** The trigger found (by name, or else by the function it calls); undefined when missing. */
  readonly trigger: string | undefined;
  readonly enabled: boolean;
  /** The channel literal found in the trigger function's source. */
  readonly channel: string | undefined;
  /** Partitions and inheritance descendants (flat, each with no members of its own). */
  readonly members: readonly TriggerReport[];
  /** This table and every member are `ok`. */
  readonly ok: boolean;
}

const MAX_NAME_BYTES = 63;

function checkName(what: string, value: string): void {
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

// Bit layout of pg_trigger.tgtype (src/include/catalog/pg_trigger.h).
const TYPE_ROW = 1 << 0;
const TYPE_BEFORE = 1 << 1;
const TYPE_INSERT = 1 << 2;
const TYPE_DELETE = 1 << 3;
const TYPE_UPDATE = 1 << 4;
const TYPE_TRUNCATE = 1 << 5;
const TYPE_INSTEAD = 1 << 6;
const TYPE_ALL_EVENTS = TYPE_INSERT | TYPE_DELETE | TYPE_UPDATE | TYPE_TRUNCATE;

// "psc_trig" in ASCII: concurrent installs (every app instance at boot) would otherwise race on
// CREATE OR REPLACE FUNCTION and fail with "tuple concurrently updated".
const LOCK_SQL = 'SELECT pg_catalog.pg_advisory_xact_lock(8102929416196352359)';

function dollarQuote(body: string): string {
  for (let n = 0; ; n += 1) {
    const tag = n === 0 ? '$psc$' : `$psc${n}$`;
    // The body must not contain the tag, nor end in a prefix of it that would close early.
    if ((body + tag).indexOf(tag) === body.length) return `${tag}${body}${tag}`;
  }
}

function functionSignature(naming: TriggerNaming): string {
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

function script(header: string, statements: readonly string[]): string {
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

type Connection = pg.Client | pg.PoolClient;

async function inTransaction<T>(db: Queryable, fn: (client: Connection) => Promise<T>): Promise<T> {
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

/**
 * Installs the function and triggers (on every member) in one transaction; returns the resolved
 * tables. ResolvedTables are used as given. A client given here must not be in a transaction.
 */
export async function installTriggers(
  db: Queryable,
  tables: readonly string[] | readonly ResolvedTable[],
  options: TriggerOptions = {},
): Promise<ResolvedTable[]> {
  const naming = triggerNaming(options);
  return inTransaction(db, async (client) => {
    // Lock before resolving, so a concurrent install cannot change what we are about to read.
    await client.query(LOCK_SQL);
    const resolved = await resolveAll(client, tables);
    await client.query(installStatements(resolved, naming).join(';\n'));
    return resolved;
  });
}

/** Drops the triggers (and the function once unused) in one transaction; returns the resolved tables. */
export async function uninstallTriggers(
  db: Queryable,
  tables: readonly string[] | readonly ResolvedTable[],
  options: TriggerOptions = {},
): Promise<ResolvedTable[]> {
  const naming = triggerNaming(options);
  return inTransaction(db, async (client) => {
    await client.query(LOCK_SQL);
    const resolved = await resolveAll(client, tables);
    await client.query(uninstallStatements(resolved, naming).join(';\n'));
    return resolved;
  });
}

// The channel literal of the first pg_notify call, standard ('' doubled) or E'' (backslash escapes).
const NOTIFY_CALL = /\bpg_notify\s*\(\s*(?:[Ee]'((?:[^'\\]|''|\\.)*)'|'((?:[^']|'')*)')/s;
const BACKSLASH_ESCAPES: Readonly<Record<string, string>> = {
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

/** The channel a trigger function notifies, read from its source; undefined when not a literal. */
export function notifyChannel(source: string): string | undefined {
  const match = NOTIFY_CALL.exec(source);
  if (match === null) return undefined;
  const [, escaped, standard] = match;
  if (standard !== undefined) return standard.replaceAll("''", "'");
  return escaped
    ?.replaceAll("''", "'")
    .replace(/\\(.)/gs, (_all, c: string) => BACKSLASH_ESCAPES[c] ?? c);
}

interface TriggerRow {
  readonly tgrelid: unknown;
  readonly tgname: unknown;
  readonly tgenabled: unknown;
  readonly tgtype: unknown;
  readonly narrowed: unknown;
  readonly prosrc: unknown;
}

interface Finding {
  readonly state: TriggerState;
  readonly trigger: string;
  readonly enabled: boolean;
  readonly channel: string | undefined;
}

// One state per trigger, the most fundamental problem first (a disabled trigger sends nothing at all).
function stateOf(enabledChar: string, allStatements: boolean, rightChannel: boolean): TriggerState {
  if (enabledChar === 'D') return 'disabled';
  if (enabledChar === 'R') return 'replica-only';
  if (!allStatements) return 'wrong-events';
  if (!rightChannel) return 'wrong-channel';
  return enabledChar === 'A' ? 'ok' : 'not-always';
}

function evaluate(row: TriggerRow, naming: TriggerNaming): Finding {
  const enabledChar = String(row.tgenabled);
  const type = Number(row.tgtype);
  const channel = typeof row.prosrc === 'string' ? notifyChannel(row.prosrc) : undefined;
  const allStatements =
    (type & (TYPE_ROW | TYPE_BEFORE | TYPE_INSTEAD)) === 0 &&
    (type & TYPE_ALL_EVENTS) === TYPE_ALL_EVENTS &&
    // UPDATE OF columns or a WHEN condition would skip some statements.
    row.narrowed !== true;
  const state = stateOf(enabledChar, allStatements, channel === naming.channel);
  return { state, trigger: String(row.tgname), enabled: enabledChar !== 'D', channel };
}

function makeReport(
  table: TableMember,
  finding: Finding | undefined,
  members: readonly TriggerReport[],
): TriggerReport {
  const state = finding?.state ?? 'missing';
  return Object.freeze({
    table: table.display,
    oid: table.oid,
    state,
    trigger: finding?.trigger,
    enabled: finding?.enabled ?? false,
    channel: finding?.channel,
    members: Object.freeze([...members]),
    ok: state === 'ok' && members.every((m) => m.ok),
  });
}

const TRIGGERS_SQL = `
SELECT t.tgrelid, t.tgname, t.tgenabled, t.tgtype, p.prosrc,
  (t.tgqual IS NOT NULL OR pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) > 0) AS narrowed
FROM pg_catalog.pg_trigger t
JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
WHERE t.tgrelid = ANY($1::pg_catalog.oid[]) AND NOT t.tgisinternal
  AND (t.tgname = $2 OR t.tgfoid = $3::pg_catalog.oid)`;

// Tables holding our trigger whose ancestors do not: a partition of a checked parent is reported
// as the parent's member, not twice.
const ROOTS_SQL = `
WITH RECURSIVE found AS (
  SELECT DISTINCT tgrelid AS oid FROM pg_catalog.pg_trigger
  WHERE NOT tgisinternal AND (tgname = $1 OR tgfoid = $2::pg_catalog.oid)
), up(oid, ancestor) AS (
  SELECT oid, oid FROM found
  UNION
  SELECT up.oid, i.inhparent FROM up JOIN pg_catalog.pg_inherits i ON i.inhrelid = up.ancestor
)
SELECT f.oid FROM found f
JOIN pg_catalog.pg_class c ON c.oid = f.oid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND NOT EXISTS (SELECT FROM up WHERE up.oid = f.oid AND up.ancestor <> f.oid AND up.ancestor IN (SELECT oid FROM found))
ORDER BY n.nspname, c.relname`;

/**
 * Reports, per table, whether its trigger (and each partition's or child's) notifies every change
 * on the expected channel. Without `tables`, checks every table with the trigger or function.
 */
export async function checkTriggers(
  db: Queryable,
  options: TriggerOptions & { readonly tables?: readonly string[] } = {},
): Promise<TriggerReport[]> {
  const naming = triggerNaming(options);
  const fnResult = await db.query<{ oid: unknown }>(
    'SELECT pg_catalog.to_regprocedure($1)::pg_catalog.oid AS oid',
    [functionSignature(naming)],
  );
  const fnOid = fnResult.rows[0]?.oid ?? null;

  const tables: ResolvedTable[] = [];
  if (options.tables === undefined) {
    const roots = await db.query<{ oid: unknown }>(ROOTS_SQL, [naming.triggerName, fnOid]);
    for (const row of roots.rows) tables.push(await resolveTableOid(db, Number(row.oid)));
  } else {
    for (const text of options.tables) tables.push(await resolveTable(db, text));
  }

  const oids = [...new Set(tables.flatMap((t) => t.memberOids))];
  const rows = await db.query<TriggerRow>(TRIGGERS_SQL, [oids, naming.triggerName, fnOid]);
  const best = new Map<number, Finding>();
  for (const row of rows.rows) {
    const oid = Number(row.tgrelid);
    const finding = evaluate(row, naming);
    const previous = best.get(oid);
    // Several triggers may qualify (ours and a differently named one calling the function):
    // the table is fine if any of them is, and otherwise the one named as expected explains it.
    const rank = (f: Finding): number =>
      (f.state === 'ok' ? 0 : 2) + (f.trigger === naming.triggerName ? 0 : 1);
    if (previous === undefined || rank(finding) < rank(previous)) best.set(oid, finding);
  }

  return tables.map((table) => {
    const members = table.members
      .filter((m) => m.oid !== table.oid)
      .map((m) => makeReport(m, best.get(m.oid), []));
    return makeReport(table, best.get(table.oid), members);
  });
}
