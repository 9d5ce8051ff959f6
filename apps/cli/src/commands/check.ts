import type { Command } from 'commander';
import { checkTriggers, type TriggerReport } from '@pg-static-cache/postgres';
import {
  loadDatabaseConfig,
  parseTables,
  triggerOptions,
  type GlobalFlags,
  type NamingFlags,
} from '../config.ts';
import { withClient } from '../database.ts';
import { ExitCode } from '../exit.ts';
import { formatColumns, printLine } from '../output.ts';
import type { CommandContext } from './context.ts';
import { addNamingOptions } from './trigger-command.ts';

interface CheckFlags extends NamingFlags, GlobalFlags {
  readonly table?: readonly string[];
  readonly json?: boolean;
}

const HEADER = ['TABLE', 'STATE', 'ENABLED', 'CHANNEL', 'MEMBERS'] as const;

function row(report: TriggerReport, indent: string, members: string): string[] {
  return [
    // The form --table reads back (and SQL), not the unquoted display name.
    `${indent}${report.sql}`,
    report.state,
    report.enabled ? 'yes' : 'no',
    report.channel ?? '-',
    members,
  ];
}

/** One row per table, plus an indented row for each partition or child that is not ok. */
export function formatReports(reports: readonly TriggerReport[]): string {
  const rows: string[][] = [[...HEADER]];
  for (const report of reports) {
    const okMembers = report.members.filter((m) => m.ok).length;
    const members = report.members.length === 0 ? '-' : `${okMembers}/${report.members.length} ok`;
    rows.push(row(report, '', members));
    for (const member of report.members) if (!member.ok) rows.push(row(member, '  ', '-'));
  }
  return formatColumns(rows);
}

/** `check`: are the triggers there, enabled, on every partition, and notifying the right channel? */
export function registerCheck(program: Command, context: CommandContext): Command {
  const command = program
    .command('check')
    .description("report whether each table's triggers notify every change on the channel")
    .option('-t, --table <name...>', 'tables to check (default: every table with the trigger)')
    .option('--json', 'print the reports as a JSON array')
    .addHelpText(
      'after',
      '\nExits 0 when every table is ok, 1 when any table or partition is not, 2 on bad input.',
    );
  addNamingOptions(command).action(async (_options: unknown, self: Command) => {
    const flags = self.optsWithGlobals<CheckFlags>();
    const tables = flags.table === undefined ? undefined : parseTables(flags.table);
    const options = {
      ...triggerOptions(flags),
      ...(tables === undefined ? {} : { tables: tables.map((t) => t.text) }),
    };
    const config = loadDatabaseConfig(flags, context.env);
    const reports = await withClient(config, (client) => checkTriggers(client, options));
    if (flags.json === true) printLine(JSON.stringify(reports));
    else if (reports.length === 0) printLine('no table has the trigger or calls its function');
    else printLine(formatReports(reports));
    context.done(reports.every((r) => r.ok) ? ExitCode.OK : ExitCode.NOT_OK);
  });
  return command;
}
