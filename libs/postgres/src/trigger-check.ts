import {
  functionSignature,
  triggerNaming,
  type TriggerNaming,
  type TriggerOptions,
} from './triggers.ts';
import {
  resolveTable,
  resolveTableOid,
  type Queryable,
  type ResolvedTable,
  type TableMember,
} from './table.ts';

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
  /** `schema.name`, unquoted: the name messages and snapshot keys use. */
  readonly table: string;
  /**
   * The name as `--table` and SQL read it, quoted only where needed (Postgres' quote_ident):
   * `public.items`, `"Weird Schema"."Mixed Case"`.
   */
  readonly sql: string;
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

// Bit layout of pg_trigger.tgtype (src/include/catalog/pg_trigger.h).
const TYPE_ROW = 1 << 0;
const TYPE_BEFORE = 1 << 1;
const TYPE_INSERT = 1 << 2;
const TYPE_DELETE = 1 << 3;
const TYPE_UPDATE = 1 << 4;
const TYPE_TRUNCATE = 1 << 5;
const TYPE_INSTEAD = 1 << 6;
const TYPE_ALL_EVENTS = TYPE_INSERT | TYPE_DELETE | TYPE_UPDATE | TYPE_TRUNCATE;

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
  readonly relid: unknown;
  readonly sql: unknown;
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
  sql: string | undefined,
  finding: Finding | undefined,
  members: readonly TriggerReport[],
): TriggerReport {
  const state = finding?.state ?? 'missing';
  return Object.freeze({
    table: table.display,
    // Always-quoted when the table went away since it was resolved: still readable back.
    sql: sql ?? table.sql,
    oid: table.oid,
    state,
    trigger: finding?.trigger,
    enabled: finding?.enabled ?? false,
    channel: finding?.channel,
    members: Object.freeze([...members]),
    ok: state === 'ok' && members.every((m) => m.ok),
  });
}

// A row per table and qualifying trigger, or one with a NULL trigger for a table without any. The
// name comes from the server's own quote_ident (via format's %I), which knows its keywords.
const TRIGGERS_SQL = `
SELECT m.oid AS relid, pg_catalog.format('%I.%I', n.nspname, c.relname) AS sql,
  t.tgname, t.tgenabled, t.tgtype, p.prosrc,
  (t.tgqual IS NOT NULL OR pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) > 0) AS narrowed
FROM pg_catalog.unnest($1::pg_catalog.oid[]) AS m(oid)
JOIN pg_catalog.pg_class c ON c.oid = m.oid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN (pg_catalog.pg_trigger t JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid)
  ON t.tgrelid = m.oid AND NOT t.tgisinternal
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
  const sqlNames = new Map<number, string>();
  for (const row of rows.rows) {
    const oid = Number(row.relid);
    if (typeof row.sql === 'string') sqlNames.set(oid, row.sql);
    if (row.tgname === null) continue;
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
      .map((m) => makeReport(m, sqlNames.get(m.oid), best.get(m.oid), []));
    return makeReport(table, sqlNames.get(table.oid), best.get(table.oid), members);
  });
}
