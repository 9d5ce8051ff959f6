// The demo's one config object: flags, then environment, then defaults; validated and frozen.
import { parseArgs } from 'node:util';
import { DEFAULT_CHANNEL, triggerNaming } from '@pg-static-cache/postgres';

/** Bad flags or environment: reported as one line, exit code 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * How the apps (`pg-static-cache watch --mode …`) follow changes: `snapshot` loads the snapshots
 * the bridges' reload workers store in Redis, `redis` follows the bridges and queries Postgres
 * itself, `direct` LISTENs to Postgres itself. The first is the default.
 */
export const MODES = ['snapshot', 'redis', 'direct'] as const;

/** One of {@link MODES}. */
export type Mode = (typeof MODES)[number];

/** Everything a demo run needs to know. */
export interface DemoConfig {
  /** Leave services, bridges and apps running until Ctrl-C. @default false */
  readonly keep: boolean;
  /** Schema recreated for the demo tables, also the bridges' namespace. @default 'psc_demo' or $PSC_DEMO_SCHEMA */
  readonly schema: string;
  /** NOTIFY channel of the triggers. @default 'pg_static_cache_update' or $PSC_DEMO_CHANNEL */
  readonly channel: string;
  /** @default 'snapshot' */
  readonly mode: Mode;
  /** A second region (its own Redis, worker, apps and a delayed read replica). @default false */
  readonly regions: boolean;
  /** Deadline for each step to converge. @default 10000 */
  readonly stepTimeoutMs: number;
  /** Deadline for processes to start and load. @default 30000 */
  readonly readyTimeoutMs: number;
  /** Services to use instead of local ones: given when DATABASE_URL and REDIS_URL are both set. */
  readonly services: { readonly databaseUrl: string; readonly redisUrl: string } | undefined;
  readonly help: boolean;
}

/** Shown by `--help`. */
export const USAGE = `usage: npm run demo [-- --keep] [--schema NAME] [--channel NAME] [--mode snapshot|redis|direct]
                    [--regions]

Starts Postgres and Redis (or uses DATABASE_URL and REDIS_URL when both are set), creates demo
tables in a fresh schema, runs 3 apps (pg-static-cache watch) that cache them, changes the data in
every way and shows each app converging, with the table queries Postgres ran for each change
(pg_stat_statements). In snapshot and redis mode two bridges (pg-static-cache bridge) relay the
changes and the leading one is killed midway. Exit code 0 when every app serves the database's rows.

  --keep          leave the services, bridges and apps running until Ctrl-C
  --schema NAME   schema to (re)create, also the bridges' Redis namespace
                  (default psc_demo, or $PSC_DEMO_SCHEMA)
  --channel NAME  NOTIFY channel (default ${DEFAULT_CHANNEL}, or $PSC_DEMO_CHANNEL)
  --mode MODE     snapshot (default): the bridges' workers query each changed table once and
                                      store a snapshot in Redis; the apps load it
                  redis:              the bridges relay the changes; each app queries Postgres
                  direct:             each app LISTENs to Postgres itself and queries it
  --regions       also a region b: its own Redis (the bridges publish there too), reload worker
                  and 2 apps, reading a read replica delayed by 1 s; each step says who served
                  each region's rows (snapshot, replica, primary). Not with --mode direct
`;

// No quoting needed anywhere, and `<schema>_bridge` (the longest role name) fits 63 bytes; also a
// valid Redis namespace.
const SCHEMA = /^[a-z_][a-z0-9_]{0,55}$/;

/** Reads flags (argv without node and script) and the environment. */
export function readConfig(argv: readonly string[], env: NodeJS.ProcessEnv): DemoConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        keep: { type: 'boolean', default: false },
        schema: { type: 'string' },
        channel: { type: 'string' },
        mode: { type: 'string', default: MODES[0] },
        regions: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new ConfigError(error instanceof Error ? error.message : String(error));
  }
  const schema = values.schema ?? env['PSC_DEMO_SCHEMA'] ?? 'psc_demo';
  if (!SCHEMA.test(schema)) {
    throw new ConfigError(
      `invalid schema ${JSON.stringify(schema)}: use [a-z_][a-z0-9_]*, at most 56 characters`,
    );
  }
  const mode = MODES.find((m) => m === values.mode);
  if (mode === undefined) {
    throw new ConfigError(
      `unknown --mode ${JSON.stringify(values.mode)} (expected ${MODES.join(', ')})`,
    );
  }
  if (values.regions && mode === 'direct') {
    throw new ConfigError('--regions needs the bridges: use --mode snapshot or redis');
  }
  const channel = values.channel ?? env['PSC_DEMO_CHANNEL'] ?? DEFAULT_CHANNEL;
  try {
    triggerNaming({ channel });
  } catch (error) {
    throw new ConfigError(error instanceof Error ? error.message : String(error));
  }
  const databaseUrl = env['DATABASE_URL'] ?? '';
  const redisUrl = env['REDIS_URL'] ?? '';
  return Object.freeze({
    keep: values.keep,
    schema,
    channel,
    mode,
    regions: values.regions,
    stepTimeoutMs: 10_000,
    readyTimeoutMs: 30_000,
    services:
      databaseUrl !== '' && redisUrl !== '' ? Object.freeze({ databaseUrl, redisUrl }) : undefined,
    help: values.help,
  });
}
