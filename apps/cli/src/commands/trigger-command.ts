import type { Command } from 'commander';
import {
  PostgresError,
  triggerNaming,
  type EventTriggerNaming,
  type Queryable,
  type ResolvedTable,
  type ScriptOptions,
  type TableName,
  type TriggerOptions,
} from '@pg-static-cache/postgres';
import {
  loadDatabaseConfig,
  parseTables,
  triggerOptions,
  type GlobalFlags,
  type NamingFlags,
} from '../config.ts';
import { withClient } from '../database.ts';
import { CliError } from '../errors.ts';
import { ExitCode } from '../exit.ts';
import { printLine } from '../output.ts';
import type { CommandContext } from './context.ts';

/** Adds `--channel`, `--function-name` and `--trigger-name`, which must match between install and check. */
export function addNamingOptions(command: Command): Command {
  return command
    .option('--channel <name>', 'NOTIFY channel (default: pg_static_cache_update)')
    .option(
      '--function-name <name>',
      'trigger function, may be schema-qualified; without a schema it is in public (default: public.<channel>)',
    )
    .option('--trigger-name <name>', 'trigger name on each table (default: the channel)');
}

/** What differs between install and uninstall. */
export interface TriggerCommandSpec {
  readonly name: string;
  readonly description: string;
  readonly sql: (
    tables: readonly TableName[],
    options: TriggerOptions,
    scriptOptions: ScriptOptions,
  ) => string;
  readonly apply: (
    db: Queryable,
    tables: readonly string[],
    options: TriggerOptions,
  ) => Promise<ResolvedTable[]>;
  /** The line printed per table, e.g. `installed trigger x on s.t`. */
  readonly describe: (trigger: string, table: ResolvedTable) => string;
  /** The same for the `sql_drop` event trigger (`--event-trigger`). */
  readonly eventTrigger: {
    readonly sql: (options: TriggerOptions, scriptOptions: ScriptOptions) => string;
    readonly apply: (db: Queryable, options: TriggerOptions) => Promise<EventTriggerNaming>;
    readonly describe: (naming: EventTriggerNaming) => string;
  };
}

interface TriggerCommandFlags extends NamingFlags, GlobalFlags {
  readonly table?: readonly string[];
  readonly printSql?: boolean;
  readonly transaction?: boolean;
  readonly eventTrigger?: boolean;
}

/** `(+2 partitions)`: the members that carry their own trigger, so users see why there are more. */
export function membersSuffix(table: ResolvedTable): string {
  const extra = table.memberOids.length - 1;
  if (extra === 0) return '';
  const noun = table.kind === 'partitioned' ? 'partition' : 'child table';
  return ` (+${extra} ${noun}${extra === 1 ? '' : 's'})`;
}

/** Registers install or uninstall: print the SQL offline, or apply it in one transaction. */
export function registerTriggerCommand(
  program: Command,
  context: CommandContext,
  spec: TriggerCommandSpec,
): Command {
  const command = program
    .command(spec.name)
    .description(spec.description)
    .option(
      '-t, --table <name...>',
      'table(s) as written in SQL, e.g. items "My Schema"."Items" (required unless --event-trigger)',
    )
    .option(
      '--event-trigger',
      `also ${spec.name} the database-wide sql_drop event trigger that reports a dropped table at once (superuser only)`,
    )
    .option(
      '--print-sql',
      "print the SQL for a migration instead of running it; reads no database (the SQL finds each table's partitions and child tables when it runs)",
    )
    .option(
      '--transaction',
      "with --print-sql: wrap it in BEGIN/COMMIT to run the file on its own (by default the caller's transaction: psql --single-transaction, a migration tool)",
    );
  addNamingOptions(command).action(async (_options: unknown, self: Command) => {
    const flags = self.optsWithGlobals<TriggerCommandFlags>();
    const eventTrigger = flags.eventTrigger === true;
    if (flags.table === undefined && !eventTrigger) {
      throw new CliError('USAGE', "required option '-t, --table <name...>' not specified");
    }
    const tables = parseTables(flags.table ?? []);
    const options = triggerOptions(flags);
    const naming = triggerNaming(options);
    if (flags.printSql === true) {
      const scriptOptions = { transaction: flags.transaction === true };
      if (eventTrigger) process.stdout.write(spec.eventTrigger.sql(options, scriptOptions));
      if (tables.length > 0) {
        process.stdout.write(
          spec.sql(
            tables.map((t) => t.name),
            options,
            scriptOptions,
          ),
        );
      }
    } else if (flags.transaction === true) {
      throw new CliError(
        'USAGE',
        `--transaction only applies to --print-sql (${spec.name} itself always runs in one transaction)`,
      );
    } else {
      const config = loadDatabaseConfig(flags, context.env);
      await withClient(config, async (client) => {
        // First: a role that may not create it fails before any table trigger is touched.
        if (eventTrigger) {
          const done = await applyEventTrigger(spec, client, options);
          printLine(spec.eventTrigger.describe(done));
        }
        if (tables.length === 0) return;
        const texts = tables.map((t) => t.text);
        const resolved = await spec.apply(client, texts, options);
        for (const table of resolved) printLine(spec.describe(naming.triggerName, table));
      });
    }
    context.done(ExitCode.OK);
  });
  return command;
}

async function applyEventTrigger(
  spec: TriggerCommandSpec,
  client: Queryable,
  options: TriggerOptions,
): Promise<EventTriggerNaming> {
  try {
    return await spec.eventTrigger.apply(client, options);
  } catch (error) {
    if (error instanceof PostgresError && error.code === 'NOT_SUPERUSER') {
      throw new CliError(
        'USAGE',
        `${spec.name} --event-trigger needs a superuser (${error.message}); without it, the bridge's scheduled check still finds dropped tables`,
        { cause: error },
      );
    }
    throw error;
  }
}
