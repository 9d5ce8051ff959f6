// `npm run bench`: commit → reload latency of Ruby Sequel, of our direct subscriber and of our
// redis- and snapshot-mode subscribers behind a bridge, then a burst for each, then the Postgres
// connections and the table queries per change of 20 processes per mode, then a 100,000-row table,
// then commit → applied per region. Starts the local services if needed (and stops only what it
// started).
import { join } from 'node:path';
import {
  repoRoot,
  startServices,
  stopPostgres,
  stopRedis,
  type LocalServices,
} from '@pg-static-cache/local-services';
import pg from 'pg';
import { clearNamespace } from './bridge-process.ts';
import { measureBurst, type BurstResult } from './burst.ts';
import { USAGE, UsageError, parseConfig, type BenchConfig } from './config.ts';
import { measureConnections, type ConnectionsOutcome } from './connections.ts';
import { describeMachine, ensureRuby, loadAverage } from './environment.ts';
import { measureLatency, type LatencyOptions, type LatencyRun } from './latency.ts';
import { profileBridge, type BridgeProfile } from './profile.ts';
import {
  BRIDGED_P99_TARGET_MS,
  formatMarkdown,
  latencyBySystem,
  p99Ratio,
  writeJson,
  type BenchResults,
  type SystemLatency,
} from './report.ts';
import { ms } from './stats.ts';
import { LocalTable } from './local-table.ts';
import { regionsStep } from './regions.ts';
import { bigTableStep, queriesStep } from './resource-steps.ts';
import { BRIDGED, OURS, SEQUEL, SNAPSHOT, type SubscriberCommand } from './systems.ts';
import {
  BENCH_TABLE,
  benchDatabaseUrl,
  createBenchDatabase,
  createWorkload,
  dropBenchDatabase,
  type BenchUrls,
} from './workload.ts';

const RESULTS_FILE = join(repoRoot, '.local', 'bench', 'latest.json');
/** The driver's sessions, told apart from the subscribers' in pg_stat_activity. */
const DRIVER_APPLICATION = 'psc-bench-driver';

const log = (line: string): void => {
  process.stderr.write(`bench: ${line}\n`);
};

/** What every phase of one bench run shares. */
interface BenchSetup {
  readonly config: BenchConfig;
  readonly systems: readonly SubscriberCommand[];
  readonly urls: BenchUrls;
  /** Update numbers increase across the whole run, so every token is unique. */
  readonly nextSeq: () => number;
}

/** The setup once the bench table exists, with the driver's copy of it. */
interface BenchRun extends BenchSetup {
  readonly local: LocalTable;
}

function driverClient(url: string): pg.Client {
  return new pg.Client({ connectionString: url, application_name: DRIVER_APPLICATION });
}

function latencyOptions({ config, urls, local, nextSeq }: BenchRun): LatencyOptions {
  return {
    urls,
    local,
    updates: config.updates,
    warmup: config.warmup,
    deadlineMs: config.deadlineMs,
    nextSeq,
  };
}

async function latencyRuns(run: BenchRun): Promise<LatencyRun[]> {
  const { config, systems, urls } = run;
  const db = driverClient(urls.databaseUrl);
  await db.connect();
  try {
    const runs: LatencyRun[] = [];
    for (let n = 1; n <= config.runs; n += 1) {
      // Alternate which system goes first, so neither always meets a colder or warmer database.
      const order = n % 2 === 1 ? systems : [...systems].reverse();
      for (const system of order) {
        const result = await measureLatency(db, system, n, latencyOptions(run));
        log(
          `run ${n} ${system.system}: p50 ${ms(result.p50)} p99 ${ms(result.p99)} max ${ms(result.max)} ms, ${result.failures} failures`,
        );
        runs.push(result);
      }
    }
    return runs;
  } finally {
    await db.end();
  }
}

async function bursts({ config, systems, urls, local, nextSeq }: BenchRun): Promise<BurstResult[]> {
  const results: BurstResult[] = [];
  if (config.burst === 0) return results;
  // Ours first: they are the bursts the bench is about; Sequel's, which keeps a core busy for
  // most of a minute, comes last if it is measured at all.
  const order = [...systems.filter((s) => s !== SEQUEL), ...systems.filter((s) => s === SEQUEL)];
  for (const system of order) {
    const result = await measureBurst(system, {
      urls,
      local,
      updates: config.burst,
      connections: config.burstConnections,
      quietMs: 1_000,
      capMs: config.burstCapMs,
      nextSeq,
    });
    log(
      `burst ${system.system}: ${result.reloadsTotal} reloads, converged ${result.convergedAfterMs === undefined ? 'never' : `${ms(result.convergedAfterMs)} ms`} after the last commit${result.capped ? ' (capped)' : ''}`,
    );
    results.push(result);
  }
  return results;
}

async function profile(
  run: BenchRun,
  db: pg.Client,
  latency: readonly SystemLatency[],
): Promise<BridgeProfile | undefined> {
  const bridged = latency.find((l) => l.system === BRIDGED.system);
  if (bridged === undefined) return undefined;
  const missed = !(bridged.p99 <= BRIDGED_P99_TARGET_MS);
  if (!missed && !run.config.profileBridge) return undefined;
  const why = missed ? `p99 ${ms(bridged.p99)} ms > ${BRIDGED_P99_TARGET_MS} ms` : 'asked for';
  log(`profiling the bridged path step by step (${why})`);
  const result = await profileBridge(db, latencyOptions(run));
  log(
    `profile: ${result.complete}/${result.updates} updates fully stamped (missing: ${JSON.stringify(result.missing)}), p99 ${ms(result.total.p99)} ms`,
  );
  return result;
}

// A failure here (40 processes that cannot start on an overloaded machine) costs this step only,
// not the minutes of latency and burst results measured before it.
async function connections(
  { config, urls }: BenchRun,
  db: pg.Client,
): Promise<ConnectionsOutcome | undefined> {
  if (config.skipConnections) return undefined;
  const n = config.connectionProcesses;
  log(`connections: ${n} direct-mode processes, ${n} redis-mode processes + 1 bridge`);
  let result;
  try {
    result = await measureConnections(db, urls, n, {
      url: urls.databaseUrl,
      applicationName: DRIVER_APPLICATION,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`connections: not measured: ${message}`);
    return { error: message };
  }
  for (const f of result.fleets) {
    log(
      `connections ${f.system}: ${f.afterLoad.total} after load (${f.afterLoad.listen} LISTEN), ${f.afterIdle.total} after ${result.idleWaitMs / 1000} s (${f.afterIdle.listen} LISTEN)`,
    );
  }
  return result;
}

async function measure(setup: BenchSetup, db: pg.Client): Promise<BenchResults> {
  const { config, systems } = setup;
  const ruby = config.skipSequel ? undefined : await ensureRuby(log);
  const machine = await describeMachine(db, ruby);
  await createWorkload(db);
  const run: BenchRun = { ...setup, local: await LocalTable.load(db, BENCH_TABLE) };
  const runs = await latencyRuns(run);
  const latency = latencyBySystem(
    systems.map((s) => s.system),
    runs,
  );
  return {
    at: new Date().toISOString(),
    machine,
    config,
    latency,
    p99Ratio: p99Ratio(latency),
    runs,
    bridgeProfile: await profile(run, db, latency),
    burst: await bursts(run),
    connections: await connections(run, db),
    queries: await queriesStep(db, { ...run, log }),
    bigTable: await bigTableStep(db, { ...run, log }),
    regions: await regionsStep(db, { ...run, log }),
    loadAtEnd: loadAverage(),
  };
}

/** Runs everything in a bench database of its own, dropped in the end with the bench's Redis keys. */
async function bench(config: BenchConfig, services: LocalServices): Promise<BenchResults> {
  const systems = [
    ...(config.skipSequel ? [] : [SEQUEL]),
    ...(config.skipDirect ? [] : [OURS]),
    ...(config.skipBridge ? [] : [BRIDGED]),
    ...(config.skipSnapshot ? [] : [SNAPSHOT]),
  ];
  const urls = { databaseUrl: benchDatabaseUrl(services.databaseUrl), redisUrl: services.redisUrl };
  let seq = 0;
  const run: BenchSetup = { config, systems, urls, nextSeq: () => (seq += 1) };
  // Only bridges and the redis- and snapshot-mode subscribers use Redis; without them it need not be up.
  const usesRedis =
    !config.skipBridge ||
    !config.skipSnapshot ||
    !config.skipConnections ||
    !config.skipQueries ||
    !config.skipRegions;
  const admin = driverClient(services.databaseUrl);
  await admin.connect();
  try {
    await createBenchDatabase(admin);
    if (usesRedis) await clearNamespace(urls.redisUrl);
    const db = driverClient(urls.databaseUrl);
    try {
      await db.connect();
      return await measure(run, db);
    } finally {
      await db.end().catch(() => undefined);
      if (usesRedis) {
        await clearNamespace(urls.redisUrl).catch((error: unknown) => {
          log(`could not clear the bench's Redis keys: ${String(error)}`);
        });
      }
      await dropBenchDatabase(admin);
    }
  } finally {
    await admin.end();
  }
}

async function stopWhatWeStarted(services: LocalServices): Promise<void> {
  if (services.started.postgres) await stopPostgres(join(services.dir, 'postgres'));
  if (services.started.redis) await stopRedis(join(services.dir, 'redis'));
}

async function main(): Promise<number> {
  let config: BenchConfig | undefined;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench: ${error.message}\n`);
    return 2;
  }
  if (config === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const services = await startServices({ log });
  try {
    const results = await bench(config, services);
    process.stdout.write(`${formatMarkdown(results)}\n`);
    await writeJson(RESULTS_FILE, results);
    log(`results written to ${RESULTS_FILE}`);
    return 0;
  } finally {
    await stopWhatWeStarted(services);
  }
}

process.exitCode = await main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
});
