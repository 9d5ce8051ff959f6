// `npm run bench`: commit → reload latency of Ruby Sequel and of our direct subscriber, then a
// burst. Starts the local services if needed (and stops only what it started).
import { join } from 'node:path';
import {
  repoRoot,
  startServices,
  stopPostgres,
  stopRedis,
  type LocalServices,
} from '@pg-static-cache/local-services';
import pg from 'pg';
import { measureBurst, type BurstResult } from './burst.ts';
import { USAGE, UsageError, parseConfig, type BenchConfig } from './config.ts';
import { describeMachine, ensureRuby } from './environment.ts';
import { measureLatency, type LatencyRun } from './latency.ts';
import {
  formatMarkdown,
  latencyBySystem,
  p99Ratio,
  writeJson,
  type BenchResults,
} from './report.ts';
import { ms } from './stats.ts';
import type { SubscriberCommand } from './subscriber-process.ts';
import { OURS, SEQUEL } from './systems.ts';
import { createWorkload, dropWorkload } from './workload.ts';

const RESULTS_FILE = join(repoRoot, '.local', 'bench', 'latest.json');

const log = (line: string): void => {
  process.stderr.write(`bench: ${line}\n`);
};

/** What every phase of one bench run shares. */
interface BenchRun {
  readonly config: BenchConfig;
  readonly systems: readonly SubscriberCommand[];
  readonly databaseUrl: string;
  /** Update numbers increase across the whole run, so every token is unique. */
  readonly nextSeq: () => number;
}

async function latencyRuns({
  config,
  systems,
  databaseUrl,
  nextSeq,
}: BenchRun): Promise<LatencyRun[]> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const runs: LatencyRun[] = [];
    for (let run = 1; run <= config.runs; run += 1) {
      // Alternate which system goes first, so neither always meets a colder or warmer database.
      const order = run % 2 === 1 ? systems : [...systems].reverse();
      for (const system of order) {
        const result = await measureLatency(db, system, run, {
          databaseUrl,
          updates: config.updates,
          warmup: config.warmup,
          deadlineMs: config.deadlineMs,
          nextSeq,
        });
        log(
          `run ${run} ${system.system}: p50 ${ms(result.p50)} p99 ${ms(result.p99)} max ${ms(result.max)} ms, ${result.failures} failures`,
        );
        runs.push(result);
      }
    }
    return runs;
  } finally {
    await db.end();
  }
}

async function bursts({ config, systems, databaseUrl, nextSeq }: BenchRun): Promise<BurstResult[]> {
  const results: BurstResult[] = [];
  if (config.burst === 0) return results;
  // Ours first: it is the burst the bench is about; Sequel's follows if it is measured at all.
  for (const system of [...systems].reverse()) {
    const result = await measureBurst(system, {
      databaseUrl,
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

async function bench(config: BenchConfig, databaseUrl: string): Promise<BenchResults> {
  const ruby = config.skipSequel ? undefined : await ensureRuby(log);
  const systems = config.skipSequel ? [OURS] : [SEQUEL, OURS];
  let seq = 0;
  const run: BenchRun = { config, systems, databaseUrl, nextSeq: () => (seq += 1) };
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const machine = await describeMachine(db, ruby);
    await createWorkload(db);
    try {
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
        burst: await bursts(run),
      };
    } finally {
      await dropWorkload(db);
    }
  } finally {
    await db.end();
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
    const results = await bench(config, services.databaseUrl);
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
