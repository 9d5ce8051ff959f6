// Every setting of the bridge and the reload worker: its environment variable, its CLI flag, who
// reads it, its default as documented, and one line of meaning. `pg-static-cache bridge|worker`
// build their flags from this list, loadConfig reads the variables and flags it names, and a test
// holds docs/configuration.md and the schema's defaults to it. No runtime imports: the CLI loads
// this on every command to build its help.
import type { BridgeConfig } from './config.ts';

/** Who reads a setting: a bridge (with its in-process worker) or a reload worker run alone. */
export type SettingRole = 'bridge' | 'worker';

/**
 * How a setting's text is read: as is, a whole number, a switch (1/0), a comma-separated list, or
 * a comma-separated list of `name=value` whose values may hold commas themselves (a cluster URL's
 * nodes): a new item starts only at a comma followed by `name=`.
 */
export type SettingKind = 'text' | 'integer' | 'switch' | 'list' | 'pairs';

/** The config fields a setting fills (an embedding app's `logger` is code, not a setting). */
export type SettingKey = Exclude<keyof BridgeConfig, 'logger'>;

/** One setting. */
export interface Setting {
  readonly key: SettingKey;
  /** The environment variable. */
  readonly env: string;
  /** The CLI flag; undefined for a secret, which would show in `ps` (switches also get `--no-…`). */
  readonly flag: `--${string}` | undefined;
  /** The flag's argument in `--help`, e.g. `<ms>`; switches take none. */
  readonly arg: string | undefined;
  readonly kind: SettingKind;
  readonly roles: readonly SettingRole[];
  /** The default as people read it; a test checks it against the schema's. */
  readonly default: string;
  /** What it does, in one line. */
  readonly summary: string;
}

const BOTH: readonly SettingRole[] = ['bridge', 'worker'];
const BRIDGE: readonly SettingRole[] = ['bridge'];

function setting(
  key: SettingKey,
  env: string,
  flag: `--${string}` | undefined,
  arg: string | undefined,
  kind: SettingKind,
  roles: readonly SettingRole[],
  defaultText: string,
  summary: string,
): Setting {
  return Object.freeze({ key, env, flag, arg, kind, roles, default: defaultText, summary });
}

/** Every setting, in the order the docs and `--help` list them. */
export const SETTINGS: readonly Setting[] = Object.freeze([
  setting(
    'databaseUrl',
    'DATABASE_URL',
    '--database-url',
    '<url>',
    'text',
    BOTH,
    'required',
    'The primary Postgres (not a hot standby, not through PgBouncer transaction pooling).',
  ),
  setting(
    'redisUrl',
    'REDIS_URL',
    '--redis-url',
    '<url>',
    'text',
    BOTH,
    'required',
    "The home Redis (or redis-cluster://host:port,…): the leader lease, control and status, and the home region's events, jobs and snapshots.",
  ),
  setting(
    'regions',
    'PSC_REGIONS',
    '--region',
    '<name=url...>',
    'pairs',
    BRIDGE,
    'none',
    'More regions (name=redis://…; repeat the flag, comma-separate the variable): each gets every message and its own reload jobs.',
  ),
  setting(
    'replicaUrl',
    'PSC_REPLICA_URL',
    '--replica',
    '<url>',
    'text',
    BOTH,
    'none',
    "A read replica the reload worker queries once it replayed the job's position; else the primary.",
  ),
  setting(
    'replicaWaitMs',
    'PSC_REPLICA_WAIT_MS',
    '--replica-wait-ms',
    '<ms>',
    'integer',
    BOTH,
    '2000',
    'How long a reload job waits for the replica to replay its position before it reads the primary.',
  ),
  setting(
    'namespace',
    'PSC_NAMESPACE',
    '--namespace',
    '<name>',
    'text',
    BOTH,
    'psc',
    'Prefix of every Redis name (events channel, lease, queue, snapshots).',
  ),
  setting(
    'channel',
    'PSC_CHANNEL',
    '--channel',
    '<name>',
    'text',
    BRIDGE,
    'pg_static_cache_update',
    'The NOTIFY channel the triggers use.',
  ),
  setting(
    'functionName',
    'PSC_FUNCTION_NAME',
    '--function-name',
    '<name>',
    'text',
    BRIDGE,
    'the channel, in schema public',
    'Trigger function (may be schema-qualified; unqualified, it is in public), to find the watched tables.',
  ),
  setting(
    'triggerName',
    'PSC_TRIGGER_NAME',
    '--trigger-name',
    '<name>',
    'text',
    BRIDGE,
    'the channel',
    'Trigger name on each table, to find the watched tables.',
  ),
  setting(
    'tables',
    'PSC_TABLES',
    '--table',
    '<name...>',
    'list',
    BRIDGE,
    'every table with the trigger',
    'Tables the scheduled resync checks (comma-separated in the variable).',
  ),
  setting(
    'bridgeId',
    'PSC_BRIDGE_ID',
    '--bridge-id',
    '<id>',
    'text',
    BOTH,
    '<host>-<pid>-<random>',
    'Names this process in messages, the lease, status and logs.',
  ),
  setting(
    'httpHost',
    'PSC_HTTP_HOST',
    '--http-host',
    '<host>',
    'text',
    BOTH,
    '127.0.0.1',
    'Address of /healthz, /readyz, /metrics and (bridge) Bull Board at /queues.',
  ),
  setting(
    'httpPort',
    'PSC_HTTP_PORT',
    '--http-port',
    '<port>',
    'integer',
    BOTH,
    '9464',
    'Port of those endpoints; 0 picks a free one (logged at start).',
  ),
  setting(
    'allowedHosts',
    'PSC_ALLOWED_HOSTS',
    '--allowed-hosts',
    '<names>',
    'list',
    BRIDGE,
    'localhost,127.0.0.1,::1',
    'Host header names Bull Board answers, against DNS rebinding (plus the HTTP host if specific).',
  ),
  setting(
    'boardUser',
    'PSC_BOARD_USER',
    '--board-user',
    '<user>',
    'text',
    BRIDGE,
    'admin',
    "User name of Bull Board's basic auth.",
  ),
  setting(
    'boardPassword',
    'PSC_BOARD_PASSWORD',
    undefined,
    undefined,
    'text',
    BRIDGE,
    'none',
    'With it, Bull Board is fully usable behind basic auth; without, read-only and localhost only.',
  ),
  setting(
    'signingKeys',
    'PSC_SIGNING_KEY',
    '--signing-key',
    '<keys>',
    'list',
    BOTH,
    'none',
    'Comma-separated keys (16+ characters) signing messages and snapshots; the first signs.',
  ),
  setting(
    'logLevel',
    'PSC_LOG_LEVEL',
    '--log-level',
    '<level>',
    'text',
    BOTH,
    'info',
    'JSON logs on stderr: fatal, error, warn, info, debug, trace or silent.',
  ),
  setting(
    'leaseMs',
    'PSC_LEASE_MS',
    '--lease-ms',
    '<ms>',
    'integer',
    BRIDGE,
    '3000',
    'Leader lease lifetime: a leader silent this long may be fenced by a standby.',
  ),
  setting(
    'renewMs',
    'PSC_RENEW_MS',
    '--renew-ms',
    '<ms>',
    'integer',
    BRIDGE,
    '1000',
    'How often the leader renews its lease; at most half the lease.',
  ),
  setting(
    'standbyPollMs',
    'PSC_STANDBY_POLL_MS',
    '--standby-poll-ms',
    '<ms>',
    'integer',
    BRIDGE,
    '500',
    'How often a standby checks the leader lock and lease.',
  ),
  setting(
    'heartbeatMs',
    'PSC_HEARTBEAT_MS',
    '--heartbeat-ms',
    '<ms>',
    'integer',
    BRIDGE,
    '2000',
    'How often the leader publishes a heartbeat message.',
  ),
  setting(
    'listenHeartbeatIntervalMs',
    'PSC_LISTEN_HEARTBEAT_INTERVAL_MS',
    '--listen-heartbeat-interval-ms',
    '<ms>',
    'integer',
    BRIDGE,
    '5000',
    'How often the LISTEN session proves itself with a NOTIFY to itself.',
  ),
  setting(
    'listenHeartbeatTimeoutMs',
    'PSC_LISTEN_HEARTBEAT_TIMEOUT_MS',
    '--listen-heartbeat-timeout-ms',
    '<ms>',
    'integer',
    BRIDGE,
    '3000',
    'A LISTEN heartbeat not back by then means the session is dead.',
  ),
  setting(
    'resyncSchedule',
    'PSC_RESYNC_SCHEDULE',
    '--resync-schedule',
    '<cron>',
    'text',
    BRIDGE,
    '*/5 * * * *',
    'node-cron expression of the trigger check and drift digest.',
  ),
  setting(
    'poolMax',
    'PSC_POOL_MAX',
    '--pool-max',
    '<n>',
    'integer',
    BRIDGE,
    '4',
    'Connections of the general pool (lock polling, catalog, resync digests).',
  ),
  setting(
    'applicationName',
    'PSC_APPLICATION_NAME',
    '--application-name',
    '<name>',
    'text',
    BRIDGE,
    'pg-static-cache-bridge',
    "application_name of the bridge's sessions in pg_stat_activity.",
  ),
  setting(
    'jobs',
    'PSC_JOBS',
    '--jobs',
    undefined,
    'switch',
    BRIDGE,
    '1',
    'Add a reload job per changed table and serve Bull Board; 0: messages only.',
  ),
  setting(
    'worker',
    'PSC_WORKER',
    '--worker',
    undefined,
    'switch',
    BRIDGE,
    '1',
    'Run a reload worker in the bridge process (with jobs); 0: another process runs it.',
  ),
  setting(
    'workerConcurrency',
    'PSC_WORKER_CONCURRENCY',
    '--worker-concurrency',
    '<n>',
    'integer',
    BOTH,
    '2',
    'Reload jobs one worker runs at once (never two of one table).',
  ),
  setting(
    'inlineReloadRows',
    'PSC_INLINE_RELOAD_ROWS',
    '--inline-reload-rows',
    '<n>',
    'integer',
    BRIDGE,
    '1000',
    "The leader's worker reloads a table of at most n rows at once, without a job; 0: always a job.",
  ),
  setting(
    'jobAttempts',
    'PSC_JOB_ATTEMPTS',
    '--job-attempts',
    '<n>',
    'integer',
    BRIDGE,
    '5',
    'Tries per reload job before it is failed (kept for Bull Board).',
  ),
  setting(
    'jobBackoffMs',
    'PSC_JOB_BACKOFF_MS',
    '--job-backoff-ms',
    '<ms>',
    'integer',
    BRIDGE,
    '200',
    'First retry delay of a failed reload job; doubles with each try.',
  ),
  setting(
    'jobLockMs',
    'PSC_JOB_LOCK_MS',
    '--job-lock-ms',
    '<ms>',
    'integer',
    BOTH,
    '30000',
    'Lock of a running job: a worker that dies holds its job this long at most.',
  ),
  setting(
    'jobStalledIntervalMs',
    'PSC_JOB_STALLED_INTERVAL_MS',
    '--job-stalled-interval-ms',
    '<ms>',
    'integer',
    BOTH,
    '30000',
    'How often workers look for jobs whose worker died, to run them again.',
  ),
]);

/** The settings `role` reads. */
export function settingsOf(role: SettingRole): readonly Setting[] {
  return SETTINGS.filter((s) => s.roles.includes(role));
}
