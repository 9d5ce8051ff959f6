import type { Command } from 'commander';
import type { BridgeConfig } from '@pg-static-cache/bridge';
import {
  loadDatabaseConfig,
  loadRedisConfig,
  portNumber,
  positiveInteger,
  type GlobalFlags,
} from '../config.ts';
import { ExitCode } from '../exit.ts';
import { httpUrl, printLine } from '../output.ts';
import { checkRedis } from '../redis.ts';
import { runUntilStopped } from '../run-until-stopped.ts';
import type { CommandContext } from './context.ts';

interface WorkerFlags extends GlobalFlags {
  readonly namespace?: string;
  readonly concurrency?: number;
  readonly httpHost?: string;
  readonly httpPort?: number;
  readonly logLevel?: string;
}

/** `worker`: a reload worker alone, for deployments that run bridges with --no-worker. */
export function registerWorker(program: Command, context: CommandContext): Command {
  return program
    .command('worker')
    .description(
      'run a reload worker alone: take reload jobs from the queue, store table snapshots in Redis',
    )
    .option('--namespace <name>', 'prefix of every Redis name (default: psc)')
    .option('--concurrency <n>', 'jobs run at once (default: 2)', positiveInteger)
    .option('--http-host <host>', 'address of /healthz, /readyz, /metrics (default: 127.0.0.1)')
    .option('--http-port <port>', 'their port; 0 picks a free one (default: 0)', portNumber)
    .option('--log-level <level>', 'JSON logs on stderr (default: info)')
    .addHelpText(
      'after',
      `
Needs DATABASE_URL and REDIS_URL (or --database-url and --redis-url). Jobs come from the bridge
that leads the namespace. stdout: {"event":"started","worker","http"} once running. Runs until
SIGINT or SIGTERM, lets running jobs finish, exits 0.`,
    )
    .action(async (_options: unknown, self: Command) => {
      const flags = self.optsWithGlobals<WorkerFlags>();
      const database = loadDatabaseConfig(flags, context.env);
      const redis = loadRedisConfig(flags, context.env);
      await checkRedis(redis);
      // Loaded only here, like the bridge: its packages would slow every other command.
      const { startWorkerProcess } = await import('@pg-static-cache/bridge');
      await runUntilStopped(
        () =>
          startWorkerProcess({
            databaseUrl: database.url,
            redisUrl: redis.url,
            namespace: flags.namespace,
            workerConcurrency: flags.concurrency,
            httpHost: flags.httpHost,
            httpPort: flags.httpPort,
            // An unknown level is rejected by the bridge's config parser (exit 2).
            logLevel: flags.logLevel as BridgeConfig['logLevel'] | undefined,
          }),
        (worker) => {
          const http = httpUrl(worker.httpHost, worker.httpPort);
          printLine(JSON.stringify({ event: 'started', worker: worker.id, http }));
        },
      );
      context.done(ExitCode.OK);
    });
}
