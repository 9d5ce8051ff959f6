import type { Command } from 'commander';
import { loadDatabaseConfig, loadRedisConfig, type GlobalFlags } from '../config.ts';
import { ExitCode } from '../exit.ts';
import { httpUrl, printLine } from '../output.ts';
import { checkRedis } from '../redis.ts';
import { runUntilStopped } from '../run-until-stopped.ts';
import { addSettingOptions } from '../setting-options.ts';
import type { CommandContext } from './context.ts';

/** `worker`: a reload worker alone, for deployments that run bridges with --no-worker. */
export function registerWorker(program: Command, context: CommandContext): Command {
  const command = program
    .command('worker')
    .description(
      'run a reload worker alone: take reload jobs from the queue, store table snapshots in Redis',
    );
  const settings = addSettingOptions(command, 'worker');
  return command
    .addHelpText(
      'after',
      `
Every setting is also read from its environment variable (named above); a flag wins over its
variable. See docs/configuration.md. Needs DATABASE_URL and REDIS_URL (or --database-url and
--redis-url). Jobs come from the bridge that leads the namespace. stdout:
{"event":"started","worker","http"} once running. Runs until SIGINT or SIGTERM, lets running jobs
finish, exits 0.`,
    )
    .action(async (_options: unknown, self: Command) => {
      const flags = self.optsWithGlobals<GlobalFlags & Record<string, unknown>>();
      const database = loadDatabaseConfig(flags, context.env);
      const redis = loadRedisConfig(flags, context.env);
      // Loaded only here, like the bridge: its packages would slow every other command.
      const { loadConfig, startWorkerProcess } = await import('@pg-static-cache/bridge');
      const config = loadConfig({
        role: 'worker',
        env: context.env,
        flags: { ...settings(flags), databaseUrl: database.url, redisUrl: redis.url },
      });
      await checkRedis(redis);
      await runUntilStopped(
        () => startWorkerProcess(config),
        (worker) => {
          const http = httpUrl(worker.httpHost, worker.httpPort);
          printLine(JSON.stringify({ event: 'started', worker: worker.id, http }));
        },
      );
      context.done(ExitCode.OK);
    });
}
