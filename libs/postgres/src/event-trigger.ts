// The optional `sql_drop` event trigger: a DROP TABLE (or DROP COLUMN) sends no row-level or
// statement-level NOTIFY, so without it a cache keeps serving a dropped table's rows until a
// scheduled check notices. Event triggers are database-wide and need a superuser.
import { PostgresError } from './errors.ts';
import { formatTableName, quoteIdent, quoteLiteral, type QualifiedName } from './identifiers.ts';
import {
  checkName,
  dollarQuote,
  inTransaction,
  LOCK_SQL,
  script,
  triggerNaming,
  type ScriptOptions,
  type TriggerOptions,
} from './triggers.ts';
import type { Queryable } from './table.ts';

/** Names of the event trigger and its function, next to the table triggers they complement. */
export interface EventTriggerNaming {
  readonly channel: string;
  /** The table triggers' name: only tables carrying it are reported. */
  readonly triggerName: string;
  /** `<function name>_drop`, in the table trigger function's schema. */
  readonly functionName: QualifiedName;
  /** `<trigger name>_drop` (event triggers are database-wide, never schema-qualified). */
  readonly eventTriggerName: string;
}

const SUFFIX = '_drop';

/** The event trigger's names for these trigger options; INVALID_NAME when a name gets too long. */
export function eventTriggerNaming(options: TriggerOptions = {}): EventTriggerNaming {
  const naming = triggerNaming(options);
  const functionName = { ...naming.functionName, name: `${naming.functionName.name}${SUFFIX}` };
  const eventTriggerName = `${naming.triggerName}${SUFFIX}`;
  checkName('event trigger function name', functionName.name);
  checkName('event trigger name', eventTriggerName);
  return Object.freeze({
    channel: naming.channel,
    triggerName: naming.triggerName,
    functionName: Object.freeze(functionName),
    eventTriggerName,
  });
}

function installStatements(naming: EventTriggerNaming): string[] {
  const fn = `${formatTableName(naming.functionName)}()`;
  const trigger = quoteLiteral(naming.triggerName);
  // The payload is the bare OID on the table triggers' own channel: every listener (apps in
  // direct mode, the bridge, a Sequel app sharing the channel) already reloads the table with
  // that OID, and the reload's "undefined table" is how it learns of the drop. Only tables that
  // carried our trigger (dropped along with them) are reported, so unrelated DDL stays off a
  // shared channel; a dropped column of such a table is reported too, since it changes the rows.
  const body = `
BEGIN
  FOR dropped IN
    SELECT DISTINCT d.objid
    FROM pg_catalog.pg_event_trigger_dropped_objects() AS d
    WHERE NOT d.is_temporary AND (
      (d.object_type = 'table' AND EXISTS (
        SELECT FROM pg_catalog.pg_event_trigger_dropped_objects() AS t
        WHERE t.object_type = 'trigger'
          AND t.address_names = ARRAY[d.address_names[1], d.address_names[2], ${trigger}]))
      OR (d.object_type = 'table column' AND EXISTS (
        SELECT FROM pg_catalog.pg_trigger AS g
        WHERE g.tgrelid = d.objid AND g.tgname = ${trigger})))
  LOOP
    PERFORM pg_catalog.pg_notify(${quoteLiteral(naming.channel)}, dropped::text);
  END LOOP;
END
`;
  return [
    // The fixed search_path keeps a DROP run under any session's search_path from resolving `=`
    // or ARRAY to someone else's operator.
    `CREATE OR REPLACE FUNCTION ${fn} RETURNS pg_catalog.event_trigger LANGUAGE plpgsql\n` +
      `SET search_path = pg_catalog, pg_temp AS ${dollarQuote(`\nDECLARE\n  dropped pg_catalog.oid;${body}`)}`,
    // No CREATE OR REPLACE for event triggers: dropped and created in the same transaction.
    `DROP EVENT TRIGGER IF EXISTS ${quoteIdent(naming.eventTriggerName)}`,
    `CREATE EVENT TRIGGER ${quoteIdent(naming.eventTriggerName)} ON sql_drop EXECUTE FUNCTION ${fn}`,
  ];
}

function uninstallStatements(naming: EventTriggerNaming): string[] {
  return [
    `DROP EVENT TRIGGER IF EXISTS ${quoteIdent(naming.eventTriggerName)}`,
    `DROP FUNCTION IF EXISTS ${formatTableName(naming.functionName)}()`,
  ];
}

/** The event trigger's install script as plain SQL, for migration tools (run it as a superuser). */
export function eventTriggerInstallSql(
  options: TriggerOptions = {},
  scriptOptions: ScriptOptions = {},
): string {
  const naming = eventTriggerNaming(options);
  const header = [
    `-- pg-static-cache: when a table carrying trigger ${JSON.stringify(naming.triggerName)} (or one of its columns)`,
    `-- is dropped, NOTIFY channel ${JSON.stringify(naming.channel)} with the table's OID, so caches learn of it at once.`,
    `-- Database-wide; needs a superuser. Safe to run again.`,
  ];
  return script(header, installStatements(naming), scriptOptions);
}

/** The event trigger's uninstall script as plain SQL. */
export function eventTriggerUninstallSql(
  options: TriggerOptions = {},
  scriptOptions: ScriptOptions = {},
): string {
  const naming = eventTriggerNaming(options);
  const header = [
    `-- pg-static-cache: remove the sql_drop event trigger ${JSON.stringify(naming.eventTriggerName)}. Safe to run again.`,
  ];
  return script(header, uninstallStatements(naming), scriptOptions);
}

async function requireSuperuser(db: Queryable): Promise<void> {
  // current_user, not is_superuser (the session's): SET ROLE decides what the DDL may do.
  const result = await db.query<{ superuser: unknown; role: unknown }>(
    'SELECT r.rolsuper AS superuser, r.rolname AS role FROM pg_catalog.pg_roles r WHERE r.rolname = current_user',
  );
  const row = result.rows[0];
  if (row?.superuser !== true) {
    throw new PostgresError(
      'NOT_SUPERUSER',
      `the sql_drop event trigger needs a superuser; role ${JSON.stringify(String(row?.role))} is not one`,
    );
  }
}

async function apply(
  db: Queryable,
  options: TriggerOptions,
  statements: (naming: EventTriggerNaming) => string[],
): Promise<EventTriggerNaming> {
  const naming = eventTriggerNaming(options);
  // Checked first: Postgres' own refusal ("permission denied to create event trigger") comes only
  // after the function was created in the same transaction, and says nothing about what to do.
  await requireSuperuser(db);
  await inTransaction(db, async (client) => {
    await client.query(LOCK_SQL);
    await client.query(statements(naming).join(';\n'));
  });
  return naming;
}

/** Installs (or updates) the event trigger in one transaction; PostgresError NOT_SUPERUSER unless a superuser. */
export function installEventTrigger(
  db: Queryable,
  options: TriggerOptions = {},
): Promise<EventTriggerNaming> {
  return apply(db, options, installStatements);
}

/** Drops the event trigger and its function; PostgresError NOT_SUPERUSER unless a superuser. */
export function uninstallEventTrigger(
  db: Queryable,
  options: TriggerOptions = {},
): Promise<EventTriggerNaming> {
  return apply(db, options, uninstallStatements);
}
