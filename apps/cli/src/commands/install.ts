import type { Command } from 'commander';
import {
  eventTriggerInstallSql,
  installEventTrigger,
  installSql,
  installTriggers,
} from '@pg-static-cache/postgres';
import type { CommandContext } from './context.ts';
import { membersSuffix, registerTriggerCommand } from './trigger-command.ts';

/** `install`: the NOTIFY function plus a statement trigger on each table and each of its partitions. */
export function registerInstall(program: Command, context: CommandContext): Command {
  return registerTriggerCommand(program, context, {
    name: 'install',
    description:
      'install (or update) the triggers that NOTIFY on every INSERT, UPDATE, DELETE and TRUNCATE',
    sql: installSql,
    apply: installTriggers,
    describe: (trigger, table) =>
      `installed trigger ${trigger} on ${table.display}${membersSuffix(table)}`,
    eventTrigger: {
      sql: eventTriggerInstallSql,
      apply: installEventTrigger,
      describe: (naming) =>
        `installed event trigger ${naming.eventTriggerName}: a dropped table carrying trigger ${naming.triggerName} is notified on ${naming.channel}`,
    },
  });
}
