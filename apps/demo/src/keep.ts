// `--keep`: after the scenario, leave everything running, say how to connect, and narrate what
// the apps do with the user's own changes until Ctrl-C.
import { BOARD_PATH } from '@pg-static-cache/bridge';
import type { AppLine } from './app-events.ts';
import type { BridgeFleet } from './bridge-fleet.ts';
import type { Term } from './bridge-watch.ts';
import type { Fleet } from './fleet.ts';
import { formatMs, type Narrator } from './narrator.ts';
import type { DemoSchema } from './schema.ts';
import type { DemoServices } from './services.ts';

/** What stays up while the user experiments. */
export interface KeepOptions {
  readonly log: Narrator;
  readonly fleet: Fleet;
  readonly services: DemoServices;
  readonly demo: DemoSchema;
  readonly interrupted: Promise<NodeJS.Signals>;
  /** Redis mode's bridges. */
  readonly bridges?: BridgeFleet;
}

function describe(line: AppLine): string | undefined {
  switch (line.event) {
    case 'reload':
      return `${line.table} v${line.version} (${line.rows} rows from ${line.source}${line.fallback === undefined ? '' : ` (${line.fallback})`}, ${formatMs(line.ms)}, ${line.reason})`;
    case 'stale':
      return `${line.table} stale, still serving v${line.version}: ${line.error} (retry in ${formatMs(line.retryInMs)})`;
    case 'status':
      return `connection ${line.status}`;
    case 'error':
      return `error: ${line.message}`;
    case 'ready':
    case 'state':
    case 'idle':
      return undefined;
  }
}

/** Prints how to connect, echoes every app event, and resolves on Ctrl-C. */
export async function keepRunning(options: KeepOptions): Promise<void> {
  const { log, fleet, services, demo, bridges } = options;
  const processes = bridges === undefined ? 'the app processes' : 'the app processes, the bridges';
  const stops = [processes, ...services.startedHere].join(', ');
  log.plain(`--keep: everything stays up; Ctrl-C stops ${stops}.`);
  log.plain(`  export DATABASE_URL=${services.databaseUrl}`);
  log.plain(`  export REDIS_URL=${services.redisUrl}`);
  log.plain(`  apps log in as: ${demo.appUrl}`);
  log.plain(`  apps: ${fleet.apps.map((app) => `${app.name} pid ${app.pid ?? '?'}`).join(', ')}`);
  if (bridges !== undefined) {
    const lease = await bridges.watch.lease();
    const list = bridges.processes.map(
      (b) =>
        `${b.id} pid ${b.pid ?? '?'}${b.id === lease?.bridge ? ` (leader, epoch ${lease.epoch})` : ''}`,
    );
    log.plain(`  bridges: ${list.join(', ')}; kill -9 the leader to watch the other take over`);
    log.plain(
      `  their messages:  redis-cli -u "$REDIS_URL" SUBSCRIBE ${bridges.watch.names.events}`,
    );
    const leader = lease === undefined ? undefined : bridges.httpUrl(lease.bridge);
    if (bridges.jobs && leader !== undefined) {
      log.plain(`  reload jobs (Bull Board): ${leader}${BOARD_PATH} · metrics: ${leader}/metrics`);
    }
  }
  log.plain(
    `  try:  psql "$DATABASE_URL" -c "UPDATE ${demo.schema}.plans SET price_cents = price_cents + 100"`,
  );
  log.plain(`        psql "$DATABASE_URL" -c "TRUNCATE ${demo.schema}.feature_flags"`);
  log.plain('');
  const onTerm = (term: Term): void =>
    log.line(`${term.bridge} leads: epoch ${term.epoch} (${term.reason})`);
  bridges?.watch.on('term', onTerm);
  const detach = fleet.apps.map((app) => {
    const onLine = (line: AppLine): void => {
      const text = describe(line);
      if (text !== undefined) log.line(`${app.name} ${text}`);
    };
    const onExit = (): void => log.line(`${app.name} exited`);
    app.on('line', onLine);
    app.on('exit', onExit);
    return () => {
      app.off('line', onLine);
      app.off('exit', onExit);
    };
  });
  try {
    const signal = await options.interrupted;
    log.line(`${signal}: stopping ${stops}`);
  } finally {
    for (const off of detach) off();
    bridges?.watch.off('term', onTerm);
  }
}
