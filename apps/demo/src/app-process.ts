// One "application" of the demo: holds a static cache per table and prints a JSON line for every
// version it serves (see app-events.ts). Started by the demo as `node --import tsx app-process.ts`.
//   env DATABASE_URL   where to read and LISTEN (the demo passes its low-privilege role's URL)
//   env REDIS_URL      redis and snapshot mode: where the bridges publish and workers store snapshots
//   --name N --schema S --table T... [--mode direct|redis|snapshot] [--channel C] [--namespace NS]
//   [--heartbeat-timeout-ms MS] [--snapshot-wait-ms MS] [--backoff-cap-ms MS]
// stdin: the line `state` prints what every cache serves right now, `idle` prints once no reload
// is running; end of stdin or SIGTERM exits.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  createSubscriber,
  StaticCache,
  type AnyCache,
  type SubscriberOptions,
} from '@pg-static-cache/client';
import { DEFAULT_CHANNEL, formatTableName } from '@pg-static-cache/postgres';
import {
  APP_MODES,
  preciseNow,
  type AppLine,
  type AppProcessOptions,
  type CacheState,
} from './app-events.ts';

function readConfig(): AppProcessOptions {
  const { values } = parseArgs({
    options: {
      name: { type: 'string', default: `app-${process.pid}` },
      mode: { type: 'string', default: 'direct' },
      schema: { type: 'string', default: 'public' },
      table: { type: 'string', multiple: true, default: [] },
      channel: { type: 'string', default: DEFAULT_CHANNEL },
      namespace: { type: 'string', default: 'psc' },
      'heartbeat-timeout-ms': { type: 'string', default: '6000' },
      'snapshot-wait-ms': { type: 'string', default: '2000' },
      'backoff-cap-ms': { type: 'string', default: '5000' },
    },
  });
  const mode = APP_MODES.find((m) => m === values.mode);
  if (mode === undefined) throw new Error(`unknown --mode ${values.mode}`);
  const databaseUrl = process.env['DATABASE_URL'];
  if (databaseUrl === undefined) throw new Error('DATABASE_URL is not set');
  const redisUrl = process.env['REDIS_URL'] ?? '';
  if (mode !== 'direct' && redisUrl === '') throw new Error('REDIS_URL is not set');
  if (values.table.length === 0) throw new Error('give at least one --table');
  return {
    name: values.name,
    mode,
    databaseUrl,
    schema: values.schema,
    tables: values.table,
    channel: values.channel,
    redisUrl,
    namespace: values.namespace,
    heartbeatTimeoutMs: Number(values['heartbeat-timeout-ms']),
    snapshotWaitMs: Number(values['snapshot-wait-ms']),
    backoffCapMs: Number(values['backoff-cap-ms']),
  };
}

type SourceChoice = Pick<
  SubscriberOptions,
  'mode' | 'channel' | 'redis' | 'namespace' | 'heartbeatTimeoutMs' | 'snapshotWaitMs'
>;

/**
 * Where this app hears of changes (its own LISTEN session, or the bridges' channel on Redis) and,
 * in snapshot mode, how long it waits for a worker's snapshot before querying Postgres itself.
 */
function sourceOf(config: AppProcessOptions): SourceChoice {
  const bridged = {
    redis: config.redisUrl,
    namespace: config.namespace,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
  };
  switch (config.mode) {
    case 'direct':
      return { mode: 'direct', channel: config.channel };
    case 'redis':
      return { mode: 'redis', ...bridged };
    case 'snapshot':
      return { mode: 'snapshot', ...bridged, snapshotWaitMs: config.snapshotWaitMs };
  }
}

// One write per line: the pipe to the demo is the only output, read line by line.
const print = (line: AppLine): void => void process.stdout.write(`${JSON.stringify(line)}\n`);

function stateOf(cache: AnyCache): CacheState {
  return {
    version: cache.version,
    rows: cache.size,
    digest: cache.digest ?? null,
    status: cache.status,
  };
}

async function main(): Promise<void> {
  const config = readConfig();
  const caches = config.tables.map(
    (name) => new StaticCache({ table: formatTableName({ schema: config.schema, name }), name }),
  );
  const subscriber = createSubscriber({
    ...sourceOf(config),
    // application_name lets the demo find this process's sessions in pg_stat_activity.
    pg: { connectionString: config.databaseUrl, application_name: config.name, max: 2 },
    caches,
    backoff: { baseMs: 100, capMs: config.backoffCapMs },
  });
  subscriber.on('reload', (e) =>
    print({
      event: 'reload',
      table: e.cache.name,
      version: e.version,
      rows: e.rows,
      digest: e.digest,
      ms: e.ms,
      reason: e.reason,
      source: e.source,
      ...(e.fallback === undefined ? {} : { fallback: e.fallback }),
      at: preciseNow(),
    }),
  );
  subscriber.on('stale', (e) =>
    print({
      event: 'stale',
      table: e.cache.name,
      version: e.cache.version,
      rows: e.cache.size,
      error: e.error.message,
      retryInMs: e.retryInMs,
      at: preciseNow(),
    }),
  );
  subscriber.on('status', (status) => print({ event: 'status', status, at: preciseNow() }));
  // Warnings repeat what `status` and `stale` already say; listening keeps them off stderr.
  subscriber.on('warning', () => undefined);

  const input = createInterface({ input: process.stdin });
  let closing: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (closing ??= (async () => {
      input.close();
      process.stdin.destroy();
      await subscriber.close();
    })());
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
  // The demo holds our stdin open: when it goes away (even killed), so do we.
  input.on('close', () => void shutdown());
  input.on('line', (line) => {
    switch (line.trim()) {
      case 'state': {
        const tables = Object.fromEntries(caches.map((cache) => [cache.name, stateOf(cache)]));
        print({ event: 'state', tables, at: preciseNow() });
        return;
      }
      case 'idle':
        void subscriber.idle().then(() => print({ event: 'idle', at: preciseNow() }));
        return;
    }
  });

  try {
    await subscriber.start();
  } catch (error) {
    await shutdown();
    throw error;
  }
  // From here the open stdin keeps the process alive until shutdown.
  if (closing === undefined) {
    print({ event: 'ready', pid: process.pid, mode: config.mode, at: preciseNow() });
  }
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  print({ event: 'error', message, at: preciseNow() });
  process.exitCode = 1;
});
