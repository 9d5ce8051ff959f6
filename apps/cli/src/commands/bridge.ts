import type { Command } from 'commander';
import type { BridgeConfig, BridgeConfigInput } from '@pg-static-cache/bridge';
import {
  loadDatabaseConfig,
  loadRedisConfig,
  portNumber,
  positiveInteger,
  type CliEnv,
  type DatabaseConfig,
  type GlobalFlags,
  type NamingFlags,
  type RedisConfig,
} from '../config.ts';
import { ExitCode } from '../exit.ts';
import type { CommandContext } from './context.ts';
import { addNamingOptions } from './trigger-command.ts';

interface BridgeFlags extends GlobalFlags, NamingFlags {
  readonly namespace?: string;
  readonly table?: readonly string[];
  readonly httpHost?: string;
  readonly httpPort?: number;
  readonly resyncSchedule?: string;
  readonly leaseMs?: number;
  readonly renewMs?: number;
  readonly heartbeatMs?: number;
  readonly standbyPollMs?: number;
  readonly bridgeId?: string;
  /** Checked by the bridge's config parser, which names the levels it accepts. */
  readonly logLevel?: string;
  /** `--no-jobs`: false; commander makes it true otherwise (the bridge's default too). */
  readonly jobs: boolean;
  /** `--no-worker`: false. */
  readonly worker: boolean;
}

/** What a bridge run needs: the CLI's own connection settings and the bridge's config input. */
export interface BridgeRun {
  readonly database: DatabaseConfig;
  readonly redis: RedisConfig;
  readonly input: BridgeConfigInput;
}

/** The bridge config from flags and environment; flags not given leave the bridge's defaults. */
function bridgeRun(flags: BridgeFlags, env: CliEnv): BridgeRun {
  const database = loadDatabaseConfig(flags, env);
  const redis = loadRedisConfig(flags, env);
  const input = {
    databaseUrl: database.url,
    redisUrl: redis.url,
    namespace: flags.namespace,
    channel: flags.channel,
    functionName: flags.functionName,
    triggerName: flags.triggerName,
    tables: flags.table,
    httpHost: flags.httpHost,
    httpPort: flags.httpPort,
    resyncSchedule: flags.resyncSchedule,
    leaseMs: flags.leaseMs,
    renewMs: flags.renewMs,
    heartbeatMs: flags.heartbeatMs,
    standbyPollMs: flags.standbyPollMs,
    bridgeId: flags.bridgeId,
    // An unknown level is rejected by parseBridgeConfig (INVALID_CONFIG, exit 2).
    logLevel: flags.logLevel as BridgeConfig['logLevel'] | undefined,
    jobs: flags.jobs,
    worker: flags.worker,
  };
  return { database, redis, input };
}

/** `bridge`: run a bridge process (leader or standby) until SIGINT or SIGTERM. */
export function registerBridge(program: Command, context: CommandContext): Command {
  const command = program
    .command('bridge')
    .description(
      'run a bridge: the elected leader LISTENs once and republishes every change on Redis, others stand by; each runs a reload worker unless told not to',
    )
    .option('--namespace <name>', 'prefix of every Redis name (default: psc)')
    .option(
      '-t, --table <name...>',
      'tables the scheduled resync checks (default: every table with the trigger)',
    )
    .option(
      '--http-host <host>',
      'address of the health, metrics and Bull Board endpoints (default: 127.0.0.1)',
    )
    .option(
      '--http-port <port>',
      'port of those endpoints; 0 picks a free one (default: 0)',
      portNumber,
    )
    .option(
      '--resync-schedule <cron>',
      'node-cron expression of the trigger check and drift digest (default: "*/5 * * * *")',
    )
    .option('--lease-ms <ms>', 'leader lease lifetime (default: 3000)', positiveInteger)
    .option(
      '--renew-ms <ms>',
      'lease renewal period, at most half the lease (default: 1000)',
      positiveInteger,
    )
    .option('--heartbeat-ms <ms>', 'heartbeat message period (default: 2000)', positiveInteger)
    .option(
      '--standby-poll-ms <ms>',
      'how often a standby checks the leader (default: 500)',
      positiveInteger,
    )
    .option(
      '--bridge-id <id>',
      'name in messages, the lease and logs (default: <host>-<pid>-<random>)',
    )
    .option('--no-jobs', 'publish messages only: no reload jobs, no snapshots, no Bull Board')
    .option('--no-worker', 'run no reload worker in this process (another process runs it)')
    .option(
      '--log-level <level>',
      'JSON logs on stderr: fatal, error, warn, info, debug, trace or silent (default: info)',
    );
  addNamingOptions(command)
    .addHelpText(
      'after',
      `
Needs DATABASE_URL (the primary; not through PgBouncer transaction pooling) and REDIS_URL, or
--database-url and --redis-url.
stdout: JSON lines {"event":"started","bridge","http","role"} once running, then
{"event":"role","bridge","role"} on each role change and {"event":"term","bridge","epoch","reason"}
when this bridge begins a leadership term. stderr: the bridge's JSON logs (pino).
Runs until SIGINT or SIGTERM, then releases leadership, closes its connections and exits 0.`,
    )
    .action(async (_options: unknown, self: Command) => {
      const run = bridgeRun(self.optsWithGlobals<BridgeFlags>(), context.env);
      // Loaded only here: the bridge package (express, pino, prom-client) would slow every command.
      const { runBridge } = await import('./run-bridge.ts');
      await runBridge(run);
      context.done(ExitCode.OK);
    });
  return command;
}
