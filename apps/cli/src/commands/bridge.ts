import type { Command } from 'commander';
import { loadDatabaseConfig, loadRedisConfig, type CliEnv, type GlobalFlags } from '../config.ts';
import { ExitCode } from '../exit.ts';
import { addSettingOptions, type SettingFlags } from '../setting-options.ts';
import type { CommandContext } from './context.ts';
import type { BridgeRun } from './run-bridge.ts';

/**
 * The bridge's one configuration: its flags over its PSC_* variables over the defaults, the same
 * loader the bridge's own entry point uses. The URLs go through the CLI's checks first, for the
 * same one-line errors every command gives.
 */
async function bridgeRun(
  flags: GlobalFlags,
  settings: SettingFlags,
  env: CliEnv,
): Promise<BridgeRun> {
  const database = loadDatabaseConfig(flags, env);
  const redis = loadRedisConfig(flags, env);
  // Loaded only here: the bridge package (express, pino, prom-client) would slow every command.
  const { loadConfig } = await import('@pg-static-cache/bridge');
  const config = loadConfig({
    role: 'bridge',
    env,
    flags: { ...settings, databaseUrl: database.url, redisUrl: redis.url },
  });
  return { database, redis, config };
}

/** `bridge`: run a bridge process (leader or standby) until SIGINT or SIGTERM. */
export function registerBridge(program: Command, context: CommandContext): Command {
  const command = program
    .command('bridge')
    .description(
      'run a bridge: the elected leader LISTENs once and republishes every change on Redis, others stand by; each runs a reload worker unless told not to',
    );
  const settings = addSettingOptions(command, 'bridge');
  return command
    .addHelpText(
      'after',
      `
Every setting is also read from its environment variable (named above); a flag wins over its
variable. See docs/configuration.md. Needs DATABASE_URL (the primary; not through PgBouncer
transaction pooling) and REDIS_URL, or --database-url and --redis-url.
Without PSC_BOARD_PASSWORD, Bull Board (/queues) is read-only and answers only on localhost.
stdout: JSON lines {"event":"started","bridge","http","role"} once running, then
{"event":"role","bridge","role"} on each role change and {"event":"term","bridge","epoch","reason"}
when this bridge begins a leadership term. stderr: the bridge's JSON logs (pino).
Runs until SIGINT or SIGTERM, then releases leadership, closes its connections and exits 0.`,
    )
    .action(async (_options: unknown, self: Command) => {
      const flags = self.optsWithGlobals<GlobalFlags & Record<string, unknown>>();
      const run = await bridgeRun(flags, settings(flags), context.env);
      const { runBridge } = await import('./run-bridge.ts');
      await runBridge(run);
      context.done(ExitCode.OK);
    });
}
