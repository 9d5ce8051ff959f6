import { Command } from 'commander';
import packageJson from '../package.json' with { type: 'json' };
import { registerBridge } from './commands/bridge.ts';
import { registerCheck } from './commands/check.ts';
import type { CommandContext } from './commands/context.ts';
import { registerInstall } from './commands/install.ts';
import { registerResync } from './commands/resync.ts';
import { registerStatus } from './commands/status.ts';
import { registerUninstall } from './commands/uninstall.ts';
import { registerWatch } from './commands/watch.ts';
import { registerWorker } from './commands/worker.ts';
import { EXIT_CODES_HELP } from './exit.ts';

/**
 * The whole command tree. Commander never exits or prints errors itself (`exitOverride`, silent
 * `outputError`): its errors reach the same mapping as every other failure.
 */
export function createProgram(context: CommandContext): Command {
  const program = new Command('pg-static-cache')
    .description('Keep in-process caches of small PostgreSQL tables fresh via NOTIFY triggers.')
    .version(packageJson.version, '-V, --version', 'print the version')
    .option('--database-url <url>', 'postgres:// URL (default: $DATABASE_URL)')
    .option('--redis-url <url>', 'redis:// or rediss:// URL (default: $REDIS_URL)')
    .exitOverride()
    .configureOutput({ outputError: () => undefined })
    .configureHelp({ showGlobalOptions: true })
    .addHelpText('afterAll', `\n${EXIT_CODES_HELP}`);
  // Registered with program.command(), so each inherits the settings above.
  registerInstall(program, context);
  registerUninstall(program, context);
  registerCheck(program, context);
  registerWatch(program, context);
  registerBridge(program, context);
  registerWorker(program, context);
  registerStatus(program, context);
  registerResync(program, context);
  return program;
}
