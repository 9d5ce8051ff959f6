import { parseTableName, type TableName, type TriggerOptions } from '@pg-static-cache/postgres';
import { InvalidArgumentError } from 'commander';
import { CliError } from './errors.ts';

/** The environment variables the CLI reads (only here, never deeper in the code). */
export interface CliEnv {
  readonly DATABASE_URL?: string | undefined;
}

/** Flags that every command accepts (declared on the root program). */
export interface GlobalFlags {
  readonly databaseUrl?: string;
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

const URL_FORM = /^postgres(?:ql)?:\/\//i;

/** Builds the database config: the flag overrides the environment; a missing or malformed URL is bad input. */
export function loadDatabaseConfig(flags: GlobalFlags, env: CliEnv): DatabaseConfig {
  const fromFlag = flags.databaseUrl !== undefined;
  const url = flags.databaseUrl ?? env.DATABASE_URL;
  const source = fromFlag ? '--database-url' : 'DATABASE_URL';
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
