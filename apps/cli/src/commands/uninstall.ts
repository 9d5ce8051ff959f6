import type { Command } from 'commander';
import {
  eventTriggerUninstallSql,
  uninstallEventTrigger,
  uninstallSql,
  uninstallTriggers,
} from '@pg-static-cache/postgres';
import type { CommandContext } from './context.ts';
import { membersSuffix, registerTriggerCommand } from './trigger-command.ts';

/** `uninstall`: drop the triggers, and the function once no trigger calls it anymore. */
export function registerUninstall(program: Command, context: CommandContext): Command {
  return registerTriggerCommand(program, context, {
    name: 'uninstall',
    description: 'remove the triggers (the function too, once no table uses it)',
    sql: uninstallSql,
    apply: uninstallTriggers,
    describe: (trigger, table) =>
      `removed trigger ${trigger} from ${table.display}${membersSuffix(table)}`,
    eventTrigger: {
      sql: eventTriggerUninstallSql,
      apply: uninstallEventTrigger,
      describe: (naming) => `removed event trigger ${naming.eventTriggerName}`,
    },
  });
}
