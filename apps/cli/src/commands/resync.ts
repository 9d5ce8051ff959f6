import type { Command } from 'commander';
import { positiveInteger } from '../config.ts';
import type { CommandContext } from './context.ts';
import type { ResyncFlags } from './resync-request.ts';

/** `resync`: ask the leading bridge to make every client reload (all tables, or the listed ones). */
export function registerResync(program: Command, context: CommandContext): Command {
  return program
    .command('resync')
    .description('ask the leading bridge to publish a resync, so every client reloads its caches')
    .option('-t, --table <name...>', 'only these tables, as written in SQL (default: all)')
    .option('--namespace <name>', 'namespace of the bridges (env PSC_NAMESPACE; default: psc)')
    .option(
      '--signing-key <keys>',
      "the bridges' signing key(s), comma-separated (env PSC_SIGNING_KEY); a bridge with keys answers only signed requests",
    )
    .option('--timeout-ms <ms>', 'how long to wait for the leader', positiveInteger, 5000)
    .addHelpText(
      'after',
      `
Publishes a resync-request on <namespace>:control (Redis: REDIS_URL or --redis-url) and waits for
the leader's answer. stdout: "resync published by <bridge> (epoch <n>): <tables>".
Exits 0 once the leader published the resync, 1 when no bridge runs or no leader answered in time,
2 on bad input, when Redis cannot be reached, or when the leader refused (e.g. an unknown table).`,
    )
    .action(async (_options: unknown, self: Command) => {
      // Loaded only here: it needs the bridge package, which would slow every other command.
      const { resync } = await import('./resync-request.ts');
      context.done(await resync(self.optsWithGlobals<ResyncFlags>(), context.env));
    });
}
