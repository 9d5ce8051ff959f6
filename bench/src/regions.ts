// Commit → applied per region: home (the shared Redis) and a region b with a Redis and a streaming
// read replica of its own, both started for this step and removed after it. Each run starts fresh
// processes (see region-system.ts), sends the usual single-row updates one at a time and times
// each from its commit to every app's line showing it, and to the row being visible on the
// replica. Who served the table reads comes from the apps' `--events` reload lines and region b's
// worker's /metrics. A pass with the replica replaying at once, then (optionally) one delayed.
import { startPrivateReplica } from '@pg-static-cache/local-services';
import { startPrivateRedis } from '@pg-static-cache/test-support/fixtures/private-redis';
import { waitFor } from '@pg-static-cache/test-support/wait';
import type { WatchEvent } from '@pg-static-cache/test-support/watch-process';
import type pg from 'pg';
import { timeUpdates, warmUp, type LatencyOptions, type LatencyRun } from './latency.ts';
import { RegionSystem, type RegionB } from './region-system.ts';
import { ReplicaRows } from './replica-rows.ts';
import { latencyBySystem, type SystemLatency } from './report.ts';
import { failed, type StepContext } from './resource-steps.ts';
import { ms } from './stats.ts';
import type { SubscriberProcess } from './subscriber-process.ts';
import { benchDatabaseUrl } from './workload.ts';

/** The replica's own line in the latency table. */
const REPLICA_ROWS = 'b · replica shows the row';
/** Region b's worker's line in the reads table. */
const B_WORKER = 'b · worker --replica';
/** How long an app's stderr may trail its stdout. */
const EVENTS_TIMEOUT_MS = 5_000;

/** Who served one reader's table reads over the measured updates. */
export interface Reads {
  readonly reader: string;
  /** Table queries the replica served. */
  readonly replica: number;
  /** Table queries the primary served. */
  readonly primary: number;
  /** Snapshots read from Redis instead of a table query; undefined for the worker. */
  readonly snapshots: number | undefined;
  /** Why the primary served reads meant for the replica or a snapshot, and how many. */
  readonly why: Readonly<Record<string, number>>;
}

/** One pass: every run with region b's replica replaying `delayMs` behind. */
export interface RegionPass {
  readonly delayMs: number;
  /** Measured updates per run. */
  readonly updates: number;
  /** Per app (and the replica's row), the median of the runs' figures. */
  readonly latency: readonly SystemLatency[];
  /** Summed over the runs. */
  readonly reads: readonly Reads[];
  readonly runs: readonly LatencyRun[];
}

/** What the regions step measured, or why it could not. */
export type RegionsOutcome =
  { readonly passes: readonly RegionPass[] } | { readonly error: string };

const tally = (keys: readonly string[]): Record<string, number> =>
  keys.reduce<Record<string, number>>((acc, k) => ({ ...acc, [k]: (acc[k] ?? 0) + 1 }), {});

/** An app's reads from its `--events` reload lines: a snapshot, or a query and who served it. */
function appReads(reader: string, events: readonly WatchEvent[]): Reads {
  const reloads = events.filter((e) => e.event === 'reload');
  const queried = reloads.filter((r) => r.source !== 'snapshot');
  const primary = queried.filter((r) => r.replica !== 'replica');
  return {
    reader,
    replica: queried.length - primary.length,
    primary: primary.length,
    snapshots: reloads.length - queried.length,
    why: tally(
      primary.flatMap((r) => [
        ...(r.fallback === undefined ? [] : [`no snapshot (${r.fallback})`]),
        ...(r.replica === undefined ? [] : [`replica ${r.replica}`]),
      ]),
    ),
  };
}

/** `a` plus `sign` × `b`, count by count (reasons that come to 0 left out). */
function combine(a: Reads, b: Reads, sign: 1 | -1): Reads {
  const reasons = [...new Set([...Object.keys(a.why), ...Object.keys(b.why)])];
  const why = reasons
    .map((k): [string, number] => [k, (a.why[k] ?? 0) + sign * (b.why[k] ?? 0)])
    .filter(([, n]) => n !== 0);
  return {
    reader: a.reader,
    replica: a.replica + sign * b.replica,
    primary: a.primary + sign * b.primary,
    snapshots: a.snapshots === undefined ? undefined : a.snapshots + sign * (b.snapshots ?? 0),
    why: Object.fromEntries(why),
  };
}

async function workerReads(system: RegionSystem): Promise<Reads> {
  const { replica, primary } = await system.worker.reads();
  const fallbacks = Object.values(primary).reduce((sum, n) => sum + n, 0);
  const why = Object.entries(primary)
    .filter(([, n]) => n > 0)
    .map(([reason, n]): [string, number] => [`replica ${reason}`, n]);
  return {
    reader: B_WORKER,
    replica,
    primary: fallbacks,
    snapshots: undefined,
    why: Object.fromEntries(why),
  };
}

/**
 * An app's events once they caught up with its versions: a reload's `--events` line (stderr) and
 * its version line (stdout) come through two pipes, and each reload must count in its own window.
 */
async function settledEvents(app: SubscriberProcess): Promise<WatchEvent[]> {
  const version = app.reloads + 1;
  await waitFor(
    `${app.system}'s reload event of version ${version}`,
    () => app.events().some((e) => e.event === 'reload' && e.version === version),
    EVENTS_TIMEOUT_MS,
  );
  return app.events();
}

/** Everyone's reads so far: each app's from its events, the worker's from its counters. */
async function readsNow(system: RegionSystem): Promise<Reads[]> {
  const apps = await Promise.all(
    system.apps.map(async (app) => appReads(app.system, await settledEvents(app))),
  );
  return [...apps, await workerReads(system)];
}

/** Sums the runs' reads, reader by reader, in the order first seen. */
function sumReads(all: readonly Reads[]): Reads[] {
  const byReader = new Map<string, Reads>();
  for (const r of all) {
    const prior = byReader.get(r.reader);
    byReader.set(r.reader, prior === undefined ? r : combine(prior, r, 1));
  }
  return [...byReader.values()];
}

/** One run: fresh processes, a warm-up, `options.updates` timed updates; then everything stops. */
async function regionRun(
  db: pg.Client,
  b: RegionB,
  replica: ReplicaRows,
  run: number,
  options: LatencyOptions,
): Promise<{ runs: LatencyRun[]; reads: Reads[] }> {
  const system = await RegionSystem.start(options.urls, b);
  try {
    const watchers = [...system.apps, replica];
    await warmUp(db, watchers, options);
    const before = await readsNow(system);
    const runs = await timeUpdates(db, watchers, run, options);
    const after = await readsNow(system);
    return {
      runs,
      reads: after.map((r, i) => {
        const prior = before[i];
        return prior === undefined ? r : combine(r, prior, -1);
      }),
    };
  } finally {
    await system.stop();
  }
}

async function regionPass(
  db: pg.Client,
  b: RegionB,
  delayMs: number,
  { config, urls, local, nextSeq, log }: StepContext,
): Promise<RegionPass> {
  const updates = delayMs === 0 ? config.updates : config.delayedUpdates;
  const options = {
    urls,
    local,
    nextSeq,
    updates,
    warmup: config.warmup,
    deadlineMs: config.deadlineMs,
  };
  const replica = await ReplicaRows.connect(REPLICA_ROWS, b.replicaUrl, delayMs);
  try {
    const runs: LatencyRun[] = [];
    const reads: Reads[] = [];
    for (let n = 1; n <= config.runs; n += 1) {
      const result = await regionRun(db, b, replica, n, options);
      log(
        `regions (replica ${delayMs} ms behind) run ${n}: ${result.runs.map((r) => `${r.system} p50 ${ms(r.p50)} p99 ${ms(r.p99)}${r.failures > 0 ? ` (${r.failures} failures)` : ''}`).join('; ')}`,
      );
      runs.push(...result.runs);
      reads.push(...result.reads);
    }
    const systems = [...new Set(runs.map((r) => r.system))];
    return {
      delayMs,
      updates,
      latency: latencyBySystem(systems, runs),
      reads: sumReads(reads),
      runs,
    };
  } finally {
    await replica.close();
  }
}

/**
 * Commit → applied in home and region b, with region b's replica replaying at once, then
 * `replicaDelayMs` behind (unless 0); undefined when skipped. Region b's Redis and replica are
 * this step's own, removed in the end.
 */
export async function regionsStep(
  db: pg.Client,
  context: StepContext,
): Promise<RegionsOutcome | undefined> {
  const { config, urls, log } = context;
  if (config.skipRegions) return undefined;
  const delays = [0, ...(config.replicaDelayMs > 0 ? [config.replicaDelayMs] : [])];
  log(`regions: starting region b's Redis and a streaming replica (pg_basebackup)`);
  try {
    await using redis = await startPrivateRedis();
    await using replica = await startPrivateReplica(urls.databaseUrl, { delayMs: 0 });
    const b = { redisUrl: redis.url, replicaUrl: benchDatabaseUrl(replica.url) };
    const passes: RegionPass[] = [];
    for (const delayMs of delays) {
      await replica.setDelay(delayMs);
      passes.push(await regionPass(db, b, delayMs, context));
    }
    return { passes };
  } catch (error) {
    return failed('regions', error, log);
  }
}
