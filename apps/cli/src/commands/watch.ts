import { Option, type Command } from 'commander';
import {
  StaticCache,
  createSubscriber,
  type ReloadEvent,
  type Subscriber,
} from '@pg-static-cache/client';
import { loadDatabaseConfig, parseTables, positiveInteger, type GlobalFlags } from '../config.ts';
import { clientConfig } from '../database.ts';
import { CliError } from '../errors.ts';
import { ExitCode } from '../exit.ts';
import { logEvent, printLine } from '../output.ts';
import type { CommandContext } from './context.ts';

const MODES = ['direct', 'redis', 'snapshot'] as const;

interface WatchFlags extends GlobalFlags {
  readonly table: readonly string[];
  readonly mode: (typeof MODES)[number];
  readonly channel?: string;
  readonly namespace: string;
  readonly heartbeatMs?: number;
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

// Diagnostics go to stderr as JSON lines so stdout stays one line per cache version.
function logSubscriberEvents(subscriber: Subscriber): void {
  subscriber.on('reload', (event) => printLine(versionLine(event)));
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

/** Resolves on the first SIGINT or SIGTERM; `dispose` restores the default handling. */
function stopSignal(): { readonly stopped: Promise<void>; dispose(): void } {
  let resolve: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (resolve = r));
  const onSignal = (): void => resolve();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    stopped,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

async function watch(flags: WatchFlags, context: CommandContext): Promise<void> {
  if (flags.mode !== 'direct') {
    throw new CliError('NOT_AVAILABLE', `mode ${flags.mode} is not available yet`);
  }
  const tables = parseTables(flags.table);
  const config = loadDatabaseConfig(flags, context.env);
  const subscriber = createSubscriber({
    mode: 'direct',
    pg: { ...clientConfig(config), max: 4 },
    caches: tables.map((t) => new StaticCache({ table: t.text })),
    ...(flags.channel === undefined ? {} : { channel: flags.channel }),
    ...(flags.heartbeatMs === undefined ? {} : { heartbeatIntervalMs: flags.heartbeatMs }),
  });
  logSubscriberEvents(subscriber);
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
      new Option('--mode <mode>', 'where change events come from (only direct so far)')
        .choices(MODES)
        .default('direct'),
    )
    .option('--channel <name>', 'NOTIFY channel the triggers use (default: pg_static_cache_update)')
    .option('--namespace <name>', 'Redis key namespace (redis and snapshot modes)', 'psc')
    .option('--heartbeat-ms <ms>', 'LISTEN heartbeat period (default: 5000)', positiveInteger)
    .addHelpText(
      'after',
      `
stdout: one line per loaded version, {"table","rows","digest","version","ms"}, where digest is the
SHA-256 hex of JSON.stringify(rows) ordered by primary key and ms the reload time.
stderr: JSON lines for status changes, warnings and stale caches ({"event":"stale",...}).
Runs until SIGINT or SIGTERM, then closes its connections and exits 0.`,
    )
    .action(async (_options: unknown, self: Command) => {
      await watch(self.optsWithGlobals<WatchFlags>(), context);
      context.done(ExitCode.OK);
    });
}
