import { Option, type Command } from 'commander';
import {
  StaticCache,
  createSubscriber,
  type ReloadEvent,
  type SourceOptions,
  type Subscriber,
} from '@pg-static-cache/client';
import { parseSigningKeys } from '@pg-static-cache/protocol';
import {
  loadDatabaseConfig,
  loadRedisConfig,
  parseTables,
  positiveInteger,
  type DatabaseConfig,
  type GlobalFlags,
} from '../config.ts';
import { clientConfig } from '../database.ts';
import { CliError } from '../errors.ts';
import { ExitCode } from '../exit.ts';
import { logEvent, printLine } from '../output.ts';
import { checkRedis } from '../redis.ts';
import { stopSignal } from '../stop-signal.ts';
import type { CommandContext } from './context.ts';

const MODES = ['direct', 'redis', 'snapshot'] as const;

interface WatchFlags extends GlobalFlags {
  readonly table: readonly string[];
  readonly mode: (typeof MODES)[number];
  readonly channel?: string;
  readonly namespace?: string;
  readonly signingKey?: string;
  readonly listenHeartbeatIntervalMs?: number;
  readonly listenHeartbeatTimeoutMs?: number;
  readonly bridgeSilenceMs?: number;
  readonly snapshotWaitMs?: number;
  readonly backoffBaseMs?: number;
  readonly backoffCapMs?: number;
  readonly replica?: string;
  readonly replicaWaitMs?: number;
  readonly events?: boolean;
}

/**
 * A flag that was renamed, hidden from --help: given, it fails at once with one line naming the
 * new flag, rather than "unknown option" or, worse, a value that means something else now.
 */
function renamedFlag(old: string, now: string): Option {
  return new Option(`${old} <value>`).hideHelp().argParser(() => {
    throw new CliError('USAGE', `${old} was renamed: use ${now}`);
  });
}

/** The stdout contract, keys in this order: `{"table","rows","digest","version","ms"}`. */
export function versionLine(event: ReloadEvent): string {
  return JSON.stringify({
    table: event.cache.table?.display ?? event.cache.name,
    rows: event.rows,
    digest: event.digest,
    version: event.version,
    ms: Math.round(event.ms * 1000) / 1000,
  });
}

/** `--events`: a version served (get/all return it), said before anything is computed for output. */
function appliedEvent(event: ReloadEvent): Record<string, unknown> {
  return {
    table: event.cache.table?.display ?? event.cache.name,
    version: event.version,
    rows: event.rows,
  };
}

/** `--events`: a reload on stderr with what stdout leaves out: why it ran and where its rows came from. */
function reloadEvent(event: ReloadEvent): Record<string, unknown> {
  return {
    table: event.cache.table?.display ?? event.cache.name,
    version: event.version,
    rows: event.rows,
    digest: event.digest,
    reason: event.reason,
    source: event.source,
    ...(event.fallback === undefined ? {} : { fallback: event.fallback }),
    ...(event.replica === undefined ? {} : { replica: event.replica }),
    ...(event.delta === undefined ? {} : { delta: event.delta }),
  };
}

// Diagnostics go to stderr as JSON lines so stdout stays one line per cache version.
function logSubscriberEvents(subscriber: Subscriber, events: boolean): void {
  subscriber.on('reload', (event) => {
    // The moment the rows are served, before the digest of the stdout line is computed.
    if (events) logEvent('applied', appliedEvent(event));
    printLine(versionLine(event));
    if (events) logEvent('reload', reloadEvent(event));
  });
  subscriber.on('stale', ({ cache, error, retryInMs }) =>
    logEvent('stale', {
      table: cache.table?.display ?? cache.name,
      error: error.message,
      retryInMs,
    }),
  );
  // `closed` only ever comes from our own shutdown (or a failed start, already reported as an error).
  subscriber.on('status', (status) => {
    if (status !== 'closed') logEvent('status', { status });
  });
  subscriber.on('warning', (error) => logEvent('warning', { message: error.message }));
}

// Where events come from: the mode's part of the subscriber options.
async function sourceOptions(
  flags: WatchFlags,
  context: CommandContext,
): Promise<Omit<SourceOptions, 'pg'>> {
  switch (flags.mode) {
    case 'direct':
      return {
        mode: 'direct',
        ...(flags.channel === undefined ? {} : { channel: flags.channel }),
        ...(flags.listenHeartbeatIntervalMs === undefined
          ? {}
          : { listenHeartbeatIntervalMs: flags.listenHeartbeatIntervalMs }),
        ...(flags.listenHeartbeatTimeoutMs === undefined
          ? {}
          : { listenHeartbeatTimeoutMs: flags.listenHeartbeatTimeoutMs }),
      };
    case 'redis':
    case 'snapshot': {
      const redis = loadRedisConfig(flags, context.env);
      // Checked once up front: the subscriber retries an unreachable Redis forever once started,
      // and its first failure would only say "Connection is closed.".
      await checkRedis(redis);
      const keys = parseSigningKeys(flags.signingKey ?? context.env['PSC_SIGNING_KEY']);
      return {
        mode: flags.mode,
        redis: redis.url,
        namespace: flags.namespace ?? context.env['PSC_NAMESPACE'] ?? 'psc',
        ...(keys.length === 0 ? {} : { signingKey: keys }),
        ...(flags.bridgeSilenceMs === undefined ? {} : { bridgeSilenceMs: flags.bridgeSilenceMs }),
        ...(flags.snapshotWaitMs === undefined ? {} : { snapshotWaitMs: flags.snapshotWaitMs }),
      };
    }
  }
}

// The retry delays given; a base above the cap would silently be the cap, so it is refused.
function backoff(flags: WatchFlags): Pick<SourceOptions, 'backoff'> {
  const { backoffBaseMs: baseMs, backoffCapMs: capMs } = flags;
  if (baseMs !== undefined && capMs !== undefined && baseMs > capMs) {
    throw new CliError(
      'USAGE',
      `--backoff-base-ms (${baseMs}) must not exceed --backoff-cap-ms (${capMs})`,
    );
  }
  if (baseMs === undefined && capMs === undefined) return {};
  return {
    backoff: {
      ...(baseMs === undefined ? {} : { baseMs }),
      ...(capMs === undefined ? {} : { capMs }),
    },
  };
}

const POSTGRES_URL = /^postgres(?:ql)?:\/\//i;

// --replica, else PSC_REPLICA_URL: a read replica for the table queries, reached like the primary.
function replica(
  flags: WatchFlags,
  context: CommandContext,
  primary: DatabaseConfig,
): Pick<SourceOptions, 'replica' | 'replicaWaitMs'> {
  const [url, source] =
    flags.replica === undefined
      ? [context.env['PSC_REPLICA_URL'], 'PSC_REPLICA_URL']
      : [flags.replica, '--replica'];
  if (url === undefined || url === '') {
    if (flags.replicaWaitMs === undefined) return {};
    throw new CliError('USAGE', '--replica-wait-ms needs --replica (or PSC_REPLICA_URL)');
  }
  // The value is never echoed: a malformed URL may still carry a password.
  if (!POSTGRES_URL.test(url) || !URL.canParse(url)) {
    throw new CliError(
      'BAD_URL',
      `${source} is not a valid database URL (expected postgres://user:password@host:port/database)`,
    );
  }
  return {
    replica: { ...clientConfig({ ...primary, url }), max: 4 },
    ...(flags.replicaWaitMs === undefined ? {} : { replicaWaitMs: flags.replicaWaitMs }),
  };
}

async function watch(flags: WatchFlags, context: CommandContext): Promise<void> {
  const tables = parseTables(flags.table);
  const config = loadDatabaseConfig(flags, context.env);
  const retry = backoff(flags);
  const subscriber = createSubscriber({
    ...(await sourceOptions(flags, context)),
    ...retry,
    pg: { ...clientConfig(config), max: 4 },
    ...replica(flags, context, config),
    caches: tables.map((t) => new StaticCache({ table: t.text })),
  });
  logSubscriberEvents(subscriber, flags.events === true);
  const signal = stopSignal();
  try {
    // A signal during start stops at once; start's own failure (bad table, no database) propagates.
    const first = await Promise.race([
      subscriber.start().then(() => 'started' as const),
      signal.stopped.then(() => 'stopped' as const),
    ]);
    if (first === 'started') await signal.stopped;
  } finally {
    signal.dispose();
    await subscriber.close();
  }
}

/** `watch`: keep a cache per table fresh and print a JSON line for each version it loads. */
export function registerWatch(program: Command, context: CommandContext): Command {
  return program
    .command('watch')
    .description('keep caches of the tables and print one JSON line per cache version')
    .requiredOption('-t, --table <name...>', 'table(s) to cache; each needs a primary key')
    .addOption(
      new Option(
        '--mode <mode>',
        'where changes come from: direct (LISTEN), redis (a running bridge), snapshot (a bridge and its reload worker: rows from Redis snapshots)',
      )
        .choices(MODES)
        .default('direct'),
    )
    .option(
      '--channel <name>',
      'direct mode: NOTIFY channel the triggers use (default: pg_static_cache_update)',
    )
    .option(
      '--namespace <name>',
      'redis and snapshot modes: namespace of the bridge (env PSC_NAMESPACE; default: psc)',
    )
    .option(
      '--signing-key <keys>',
      'redis and snapshot modes: the key(s) bridge and workers sign with, comma-separated (env PSC_SIGNING_KEY); unsigned messages and snapshots are then dropped',
    )
    .option(
      '--listen-heartbeat-interval-ms <ms>',
      'direct mode: how often the LISTEN session sends itself a NOTIFY to prove it still receives (default: 5000)',
      positiveInteger,
    )
    .option(
      '--listen-heartbeat-timeout-ms <ms>',
      'direct mode: a LISTEN heartbeat not back by then means the session is dead (default: 3000)',
      positiveInteger,
    )
    .option(
      '--bridge-silence-ms <ms>',
      'redis and snapshot modes: how long the bridge may stay silent before caches count as stale (default: 6000)',
      positiveInteger,
    )
    .option(
      '--snapshot-wait-ms <ms>',
      'snapshot mode: how long a cache waits, after a change or a resync, for a snapshot that covers it before it queries Postgres instead (default: 2000)',
      positiveInteger,
    )
    .option(
      '--backoff-base-ms <ms>',
      'reconnects and failed reloads: the first retry waits up to this, each next one twice as long (default: 100)',
      positiveInteger,
    )
    .option(
      '--backoff-cap-ms <ms>',
      'reconnects and failed reloads: no retry waits longer than this (default: 5000)',
      positiveInteger,
    )
    .option(
      '--replica <url>',
      'a streaming read replica for the table queries (env PSC_REPLICA_URL), read only once it replayed the change (else the primary)',
    )
    .option(
      '--replica-wait-ms <ms>',
      'with --replica: how long a reload waits for the replica to replay the change before it reads the primary (default: 2000)',
      positiveInteger,
    )
    .addOption(renamedFlag('--heartbeat-ms', '--listen-heartbeat-interval-ms'))
    .option(
      '--events',
      'also print each version on stderr as {"event":"reload",...} with its reason, source (postgres or snapshot) and fallback',
    )
    .addHelpText(
      'after',
      `
stdout: one line per loaded version, {"table","rows","digest","version","ms"}, where digest is the
SHA-256 hex of JSON.stringify(rows) ordered by primary key and ms the reload time.
Redis mode needs REDIS_URL or --redis-url and a running bridge (pg-static-cache bridge); rows are
still loaded from Postgres.
stderr: JSON lines for status changes (the first "ready" once every cache is loaded), warnings and
stale caches ({"event":"stale",...}); with --events also {"event":"applied","table","version","rows"}
the moment a version is served (before its digest is computed), and {"event":"reload","table",
"version","rows","digest","reason","source"[,"fallback"][,"replica"][,"delta"]} after each
version's stdout line, delta saying the version was built from a worker's delta, replica
saying who served a table query with --replica: replica, or the primary because it was lagging or
unavailable (warned once per streak).
Runs until SIGINT or SIGTERM, then closes its connections and exits 0.`,
    )
    .action(async (_options: unknown, self: Command) => {
      await watch(self.optsWithGlobals<WatchFlags>(), context);
      context.done(ExitCode.OK);
    });
}
