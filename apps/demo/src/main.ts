// `npm run demo`: three app processes keep static caches of three tables fresh while the data
// changes in every way a table can change, and the demo shows each of them converging and how many
// table queries Postgres ran for it. In snapshot mode (the default) two bridges relay the changes
// and their reload workers query each changed table once for all apps; the leader is killed midway.
import pg from 'pg';
import { ConfigError, readConfig, USAGE, type DemoConfig } from './config.ts';
import { Fleet } from './fleet.ts';
import { keepRunning } from './keep.ts';
import {
  APP_HEARTBEAT_TIMEOUT_MS,
  APP_SNAPSHOT_WAIT_MS,
  howAppsFollow,
  printSessions,
  startMode,
} from './modes.ts';
import { formatMs, Narrator } from './narrator.ts';
import { formatTable, printQueries, printReport } from './report.ts';
import { Scenario } from './scenario.ts';
import { createDemoSchema, DEMO_TABLES } from './schema.ts';
import { acquireServices } from './services.ts';
import { formatQueries, openTableQueries, queriesBetween } from './table-queries.ts';
import { verifyApps } from './verify.ts';

const STOP_DEADLINE_MS = 5_000;

/** Resolves on the first Ctrl-C (or SIGTERM); handlers are removed by `dispose`. */
function interruption(): {
  readonly signalled: Promise<NodeJS.Signals>;
  readonly happened: () => boolean;
  dispose(): void;
} {
  let happened = false;
  let handler: (signal: NodeJS.Signals) => void = () => undefined;
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    handler = (signal) => {
      happened = true;
      resolve(signal);
    };
  });
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signalled,
    happened: () => happened,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/** How many cache loads the apps made so far, and (with workers) how many came from snapshots. */
function describeLoads(fleet: Fleet, workers: boolean): string {
  const loads = fleet.apps.flatMap((app) => app.lines).filter((line) => line.event === 'reload');
  const fromSnapshots = loads.filter((line) => line.source === 'snapshot').length;
  return `${loads.length} cache loads${workers ? ` (${fromSnapshots} from snapshots)` : ''}`;
}

/** Runs the demo; resolves with the exit code. Everything started is stopped in `finally`. */
async function runDemo(config: DemoConfig, log: Narrator): Promise<number> {
  const cleanups: (() => Promise<void>)[] = [];
  const interrupt = interruption();
  const interrupted = interrupt.signalled.then((signal) => {
    throw new Error(`interrupted by ${signal}`);
  });
  // Only ever awaited through a race; an interruption after the flow ended must not go unhandled.
  interrupted.catch(() => undefined);
  let failed = false;
  try {
    const services = await acquireServices(config, log);
    cleanups.push(() => services.release());
    const db = new pg.Pool({ connectionString: services.databaseUrl, max: 4 });
    db.on('error', () => undefined);
    cleanups.push(() => db.end());

    const began = performance.now();
    const demo = await createDemoSchema(db, services.databaseUrl, config.schema, config.channel);
    const counts = DEMO_TABLES.map((t) => `${t} ${demo.seeded[t]} rows`).join(', ');
    const bridgeRole = config.mode === 'direct' ? '' : `, bridges as ${demo.bridgeRole}`;
    log.line(
      `schema ${demo.schema} recreated in ${formatMs(performance.now() - began)}: ${counts}; apps log in as ${demo.role}${bridgeRole} (USAGE + SELECT only)`,
    );
    log.line(`triggers installed on channel ${config.channel}; checkTriggers says:`);
    const triggerRows = demo.triggers.map((r) => [
      r.table,
      r.state,
      `trigger ${r.trigger ?? '-'} → channel ${r.channel ?? '-'}${r.enabled ? '' : ' (disabled)'}`,
    ]);
    for (const line of formatTable(triggerRows)) log.detail(line);
    if (demo.triggers.some((r) => !r.ok)) throw new Error('triggers are not all ok');
    const queries = await openTableQueries(db, demo, config.mode === 'snapshot', log);
    const beforeStart = await queries?.sample();

    const mode = await startMode({
      config,
      services,
      demo,
      log,
      onCleanup: (cleanup) => cleanups.push(cleanup),
      stopDeadlineMs: STOP_DEADLINE_MS,
      interrupted,
    });

    const spawned = performance.now();
    const fleet = Fleet.spawn(config.processes, {
      mode: config.mode,
      databaseUrl: demo.appUrl,
      schema: config.schema,
      tables: DEMO_TABLES,
      channel: config.channel,
      redisUrl: services.redisUrl,
      namespace: config.schema,
      heartbeatTimeoutMs: APP_HEARTBEAT_TIMEOUT_MS,
      snapshotWaitMs: APP_SNAPSHOT_WAIT_MS,
      // Short, so the failing-reload step recovers within about a second of the GRANT.
      backoffCapMs: 1_000,
    });
    cleanups.push(() => fleet.stop(STOP_DEADLINE_MS));
    log.line(
      `starting ${config.processes} app processes (${howAppsFollow(config.mode, config.schema)}; node --import tsx apps/demo/src/app-process.ts), each caching ${DEMO_TABLES.join(', ')}`,
    );
    await Promise.race([fleet.waitReady(config.readyTimeoutMs), interrupted]);
    const pids = fleet.apps.map((app) => `${app.name} pid ${app.pid ?? '?'}`).join(' · ');
    log.line(`ready: ${pids}, started and loaded in ${formatMs(performance.now() - spawned)}`);
    if (queries !== undefined && beforeStart !== undefined) {
      await mode.settle();
      await fleet.idle(config.stepTimeoutMs);
      const count = queriesBetween(beforeStart, await queries.sample());
      log.detail(
        `${describeLoads(fleet, mode.workers)}; table queries so far: ${formatQueries(count, mode.workers)}`,
      );
    }

    const scenario = new Scenario({
      db,
      schema: config.schema,
      role: demo.role,
      fleet,
      log,
      stepTimeoutMs: config.stepTimeoutMs,
      faults: mode.faults,
      queries,
      workers: mode.workers,
      settle: mode.settle,
    });
    try {
      await Promise.race([scenario.run(), interrupted]);
    } catch (error) {
      failed = true;
      log.line(`FAILED: ${error instanceof Error ? error.message : String(error)}`);
    }
    await printSessions(db, mode, demo, config.processes, log);
    const verdicts = await verifyApps(fleet.apps, db, config.schema, config.stepTimeoutMs);
    printReport(log, verdicts, scenario.results);
    if (queries !== undefined) printQueries(log, scenario.results, config.mode, config.processes);
    if (verdicts.some((v) => !v.converged) || scenario.results.some((r) => !r.ok)) failed = true;
    if ((mode.bridges?.failures.length ?? 0) > 0) failed = true;

    // Kept even after a failure: a running setup is the best place to look into it.
    if (config.keep && !interrupt.happened()) {
      await keepRunning({
        log,
        fleet,
        services,
        demo,
        interrupted: interrupt.signalled,
        ...(mode.bridges === undefined ? {} : { bridges: mode.bridges }),
      });
    }
  } catch (error) {
    failed = true;
    log.line(`FAILED: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => {
        failed = true;
        log.line(`cleanup failed: ${error instanceof Error ? error.message : String(error)}`);
      });
    }
    interrupt.dispose();
  }
  log.line(failed ? 'demo FAILED' : `demo passed: every process converged after every change`);
  return failed ? 1 : 0;
}

function main(): Promise<number> {
  let config: DemoConfig;
  try {
    config = readConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`demo: ${error.message}\n`);
    return Promise.resolve(2);
  }
  if (config.help) {
    process.stdout.write(USAGE);
    return Promise.resolve(0);
  }
  // A reader that goes away (`npm run demo | head`) must not stop the cleanup: writes just fail.
  process.stdout.on('error', () => undefined);
  const log = new Narrator();
  log.plain(
    `pg-static-cache demo: ${config.processes} app processes cache ${DEMO_TABLES.length} tables; every change must reach all of them`,
  );
  return runDemo(config, log);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
