import { parseTableName, type TableName, type TriggerOptions } from '@pg-static-cache/postgres';
import { parseRedisUrl, ProtocolError, type RedisEndpoint } from '@pg-static-cache/protocol';
import { InvalidArgumentError } from 'commander';
import { CliError } from './errors.ts';

/**
 * The environment the CLI reads: the URLs here, the bridge and worker settings (PSC_*) through the
 * bridge's loadConfig; never deeper in the code.
 */
export interface CliEnv {
  readonly DATABASE_URL?: string | undefined;
  readonly REDIS_URL?: string | undefined;
  readonly [name: string]: string | undefined;
}

/** Flags that every command accepts (declared on the root program). */
export interface GlobalFlags {
  readonly databaseUrl?: string;
  readonly redisUrl?: string;
}

/** How every command reaches Postgres; built once per run, validated, frozen. */
export interface DatabaseConfig {
  /** From `--database-url`, else `DATABASE_URL`; always `postgres://` or `postgresql://`. */
  readonly url: string;
  /** Give up on a connection attempt after this long, so a black-holed host cannot hang a command. @default 10000 */
  readonly connectTimeoutMs: number;
  /** Shown in pg_stat_activity unless the URL sets its own. @default 'pg-static-cache' */
  readonly applicationName: string;
}

/** How the Redis commands (bridge, status, resync, watch --mode redis) reach Redis; validated, frozen. */
export interface RedisConfig {
  /** From `--redis-url`, else `REDIS_URL`; `redis://`, `rediss://` or `redis-cluster://`. */
  readonly url: string;
  /** What the URL names: one server or a cluster. */
  readonly endpoint: RedisEndpoint;
  /** Give up on a connection attempt after this long; one-shot commands never retry. @default 3000 */
  readonly connectTimeoutMs: number;
  /** CLIENT SETNAME of the CLI's own connections. @default 'pg-static-cache' */
  readonly connectionName: string;
}

const URL_FORM = /^postgres(?:ql)?:\/\//i;

// The flag wins over the environment; `source` names where a bad value came from, never the value.
function flagOrEnv(
  flag: string | undefined,
  fromEnv: string | undefined,
  option: string,
  name: string,
) {
  return flag === undefined ? { url: fromEnv, source: name } : { url: flag, source: option };
}

/** Builds the database config: the flag overrides the environment; a missing or malformed URL is bad input. */
export function loadDatabaseConfig(flags: GlobalFlags, env: CliEnv): DatabaseConfig {
  const { url, source } = flagOrEnv(
    flags.databaseUrl,
    env.DATABASE_URL,
    '--database-url',
    'DATABASE_URL',
  );
  if (url === undefined || url === '') {
    throw new CliError('NO_DATABASE', 'no database: set DATABASE_URL or pass --database-url');
  }
  // The value is never echoed: a malformed URL may still carry a password.
  if (!URL_FORM.test(url) || !URL.canParse(url)) {
    throw new CliError(
      'BAD_URL',
      `${source} is not a valid database URL (expected postgres://user:password@host:port/database)`,
    );
  }
  return Object.freeze({ url, connectTimeoutMs: 10_000, applicationName: 'pg-static-cache' });
}

/** Whether a database URL was given at all (commands for which Postgres is optional). */
export function hasDatabase(flags: GlobalFlags, env: CliEnv): boolean {
  const url = flags.databaseUrl ?? env.DATABASE_URL;
  return url !== undefined && url !== '';
}

/** Builds the Redis config like {@link loadDatabaseConfig}: flag over environment, bad or missing is bad input. */
export function loadRedisConfig(flags: GlobalFlags, env: CliEnv): RedisConfig {
  const { url, source } = flagOrEnv(flags.redisUrl, env.REDIS_URL, '--redis-url', 'REDIS_URL');
  if (url === undefined || url === '') {
    throw new CliError('NO_REDIS', 'no Redis: set REDIS_URL or pass --redis-url');
  }
  let endpoint: RedisEndpoint;
  try {
    endpoint = parseRedisUrl(url);
  } catch (error) {
    // The protocol's message never holds the URL.
    const detail = error instanceof ProtocolError ? error.message : 'not a valid Redis URL';
    throw new CliError('BAD_URL', `${source} is ${detail}`);
  }
  return Object.freeze({
    url,
    endpoint,
    connectTimeoutMs: 3_000,
    connectionName: 'pg-static-cache',
  });
}

/** Validates table names as written in SQL before anything connects, keeping the text as given. */
export function parseTables(
  values: readonly string[],
): readonly { text: string; name: TableName }[] {
  return Object.freeze(values.map((text) => Object.freeze({ text, name: parseTableName(text) })));
}

/** The trigger naming flags shared by install, uninstall and check. */
export interface NamingFlags {
  readonly channel?: string;
  readonly functionName?: string;
  readonly triggerName?: string;
}

/** Trigger options from the naming flags, leaving out the ones not given (library defaults apply). */
export function triggerOptions(flags: NamingFlags): TriggerOptions {
  return Object.freeze({
    ...(flags.channel === undefined ? {} : { channel: flags.channel }),
    ...(flags.functionName === undefined ? {} : { functionName: flags.functionName }),
    ...(flags.triggerName === undefined ? {} : { triggerName: flags.triggerName }),
  });
}

/** Commander argument parser for a whole number of milliseconds > 0. */
export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError('expected a positive whole number.');
  }
  return n;
}
