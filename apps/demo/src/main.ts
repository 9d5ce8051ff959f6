// `npm run demo`: three apps (`pg-static-cache watch`) keep static caches of three tables fresh
// while the data changes in every way a table can change, and the demo shows each of them
// converging and how many table queries Postgres ran for it. In snapshot mode (the default) two
// bridges (`pg-static-cache bridge`) relay the changes and their reload workers query each changed
// table once for all apps; the leader is killed midway. With --regions a region b follows its own
// Redis, worker and read replica (delayed 1 s), and every step says who served each region's rows.
import { waitFor } from '@pg-static-cache/test-support/wait';
import pg from 'pg';
import { App } from './apps.ts';
import { BRIDGE_IDS, Bridges, onReplica, type DemoRegion } from './bridges.ts';
import { ConfigError, readConfig, USAGE, type DemoConfig } from './config.ts';
import { formatMs, Narrator } from './narrator.ts';
import { formatTable, printQueries, printReport, printSessions, problemOf } from './report.ts';
import { Scenario } from './scenario.ts';
import { createDemoSchema, DEMO_TABLES, tableDigests } from './schema.ts';
import { acquireServices } from './services.ts';
import { openTableQueries } from './table-queries.ts';

const APPS = 3;
/** Apps in region b (--regions). */
const REGION_APPS = 2;
const STOP_DEADLINE_MS = 5_000;

/** Rejects on the first Ctrl-C (or SIGTERM), so every wait raced with it ends. */
function interruption(): { readonly interrupted: Promise<never>; readonly dispose: () => void } {
  let handler: (signal: NodeJS.Signals) => void = () => undefined;
  const interrupted = new Promise<never>((_, reject) => {
    handler = (signal) => reject(new Error(`interrupted by ${signal}`));
  });
  interrupted.catch(() => undefined);
  process.on('SIGINT', handler).on('SIGTERM', handler);
  return { interrupted, dispose: () => process.off('SIGINT', handler).off('SIGTERM', handler) };
}

/** Runs the demo; resolves with the exit code. Everything started is stopped in `finally`. */
async function runDemo(config: DemoConfig, log: Narrator): Promise<number> {
  const cleanups: (() => Promise<void>)[] = [];
  const { interrupted, dispose } = interruption();
  const race = <T>(promise: Promise<T>): Promise<T> => Promise.race([promise, interrupted]);
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
    const triggers = demo.triggers.map((r) => [r.table, r.state, `channel ${r.channel ?? '-'}`]);
    for (const line of formatTable(triggers)) log.detail(line);
    if (demo.triggers.some((r) => !r.ok)) throw new Error('triggers are not all ok');
    const queries = await openTableQueries(db, demo, config.mode === 'snapshot', log);

    const region: DemoRegion | undefined =
      services.regionB === undefined ? undefined : { name: 'b', ...services.regionB };
    let bridges: Bridges | undefined;
    if (config.mode !== 'direct') {
      const tables = DEMO_TABLES.map((t) => `${config.schema}.${t}`);
      const started = performance.now();
      const fleet = await Bridges.start({
        databaseUrl: demo.bridgeUrl,
        redisUrl: services.redisUrl,
        namespace: config.schema,
        channel: config.channel,
        tables,
        jobs: config.mode === 'snapshot',
        ...(region === undefined ? {} : { region }),
      });
      bridges = fleet;
      cleanups.push(() => fleet.close(STOP_DEADLINE_MS));
      log.line(
        `starting ${BRIDGE_IDS.length} bridges (pg-static-cache bridge, PSC_NAMESPACE=${config.schema} PSC_TABLES=${tables.join(',')}), logged in as ${demo.bridgeRole}`,
      );
      if (region !== undefined) {
        const worker =
          config.mode === 'snapshot'
            ? ` and a worker there (pg-static-cache worker, REDIS_URL=${region.redisUrl} --replica)`
            : '';
        log.line(
          `region b: the bridges also publish to ${region.redisUrl} (--region b=${region.redisUrl})${worker}`,
        );
      }
      const term = await race(fleet.nextTerm(0, config.readyTimeoutMs));
      const standbys = BRIDGE_IDS.filter((id) => id !== term.bridge);
      await race(Promise.all(standbys.map((id) => fleet.standby(id, config.readyTimeoutMs))));
      const lease = await fleet.leader();
      log.line(
        `${term.bridge} leads: epoch ${term.epoch}, LISTEN session pid ${lease.backendPid}, ${formatMs(term.at - started)} after the start; ${standbys.join(', ')} standby`,
      );
      if (config.mode === 'snapshot') {
        const stored = () => fleet.snapshotsStored();
        await race(waitFor('a snapshot of every table', stored, config.readyTimeoutMs));
        log.line(
          `the leader's "${term.reason}" resync queued a reload job per table; the workers stored ${tables.length} snapshots (${fleet.names.snapshot('<table>')}) ${formatMs(performance.now() - term.at)} after it`,
        );
      }
    }

    const spawned = performance.now();
    const options = { ...config, databaseUrl: demo.appUrl, redisUrl: services.redisUrl };
    const apps = Array.from({ length: APPS }, (_, i) => new App(`app-${i + 1}`, options));
    if (region !== undefined) {
      const replicaUrl = onReplica(demo.appUrl, region.replicaUrl);
      const there = { ...options, redisUrl: region.redisUrl, replicaUrl };
      for (let i = 1; i <= REGION_APPS; i += 1) apps.push(new App(`app-b${i}`, there, 'b'));
    }
    cleanups.push(async () => {
      await Promise.all(apps.map((app) => app.stop(STOP_DEADLINE_MS)));
    });
    log.line(
      `starting ${APPS} apps: pg-static-cache watch --events --mode ${config.mode} --table ${DEMO_TABLES.map((t) => `${config.schema}.${t}`).join(' ')}`,
    );
    if (region !== undefined) {
      log.line(
        `starting ${REGION_APPS} apps in region b (app-b1, app-b2): the same, with REDIS_URL=${region.redisUrl} --replica (as ${demo.role}, on ${new URL(region.replicaUrl).host})`,
      );
    }
    await race(Promise.all(apps.map((app) => app.ready(config.readyTimeoutMs))));
    const pids = apps.map((app) => `${app.name} pid ${app.pid ?? '?'}`).join(' · ');
    const loads = apps.flatMap((app) => app.events().filter((e) => e.event === 'reload'));
    const fromSnapshots = loads.filter((e) => e.source === 'snapshot').length;
    log.line(
      `ready: ${pids}, started and loaded in ${formatMs(performance.now() - spawned)}: ${loads.length} cache loads${config.mode === 'snapshot' ? ` (${fromSnapshots} from snapshots)` : ''}`,
    );

    const scenario = new Scenario({ ...config, db, role: demo.role, apps, bridges, log, queries });
    try {
      await race(scenario.run());
    } catch (error) {
      failed = true;
      log.line(`FAILED: ${error instanceof Error ? error.message : String(error)}`);
    }
    const reads = await bridges?.regionReads();
    if (reads !== undefined) {
      const why = Object.entries(reads.primary).map(([reason, n]) => `${reason} ${n}`);
      const onPrimary = Object.values(reads.primary).reduce((a, b) => a + b, 0);
      log.line(
        `region b's worker: ${reads.replica} table queries on the replica (each once it had replayed the change), ${onPrimary} on the primary (${why.join(', ')})`,
      );
    }
    await printSessions(
      db,
      { apps: demo.role, bridges: demo.bridgeRole },
      config.mode,
      apps.length,
      log,
    );
    const expected = await tableDigests(db, config.schema);
    const problems = await Promise.all(
      apps.map((app) =>
        app
          .until(
            'the database rows',
            () => problemOf(app, expected) === undefined,
            config.stepTimeoutMs,
          )
          .then(
            () => undefined,
            () => problemOf(app, expected) ?? 'exited',
          ),
      ),
    );
    printReport(log, apps, problems, scenario.results);
    printQueries(log, scenario.results, config.mode, apps.length);
    if (problems.some((p) => p !== undefined) || scenario.results.some((r) => !r.ok)) failed = true;

    // Kept even after a failure: a running setup is the best place to look into it.
    if (config.keep) {
      log.plain(`--keep: everything stays up; Ctrl-C stops it.`);
      log.plain(`  export DATABASE_URL=${services.databaseUrl} REDIS_URL=${services.redisUrl}`);
      log.plain(
        `  try:  psql "$DATABASE_URL" -c "UPDATE ${demo.schema}.plans SET price_cents = price_cents + 100"`,
      );
      await interrupted.catch((error: unknown) => log.line(`${String(error)}: stopping`));
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
    dispose();
  }
  log.line(
    failed
      ? 'demo FAILED'
      : `demo passed: every app${config.regions ? ' in both regions' : ''} converged after every change`,
  );
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
    `pg-static-cache demo: ${APPS} apps${config.regions ? ` (+ ${REGION_APPS} in region b)` : ''} cache ${DEMO_TABLES.length} tables in ${config.mode} mode; every change must reach all of them`,
  );
  return runDemo(config, log);
}

process.exitCode = await main().catch((error: unknown) => {
  process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
});
