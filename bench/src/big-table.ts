// The 100,000-row step: how long one reload of a big table takes, commit → reload reported, and
// how much memory the subscriber process holds with it loaded, for each system.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { installTriggers } from '@pg-static-cache/postgres';
import type pg from 'pg';
import type { BridgeProcess, WorkerReload } from './bridge-process.ts';
import type { LocalTable } from './local-table.ts';
import { updateToken } from './protocol.ts';
import { RunningSystem } from './running-system.ts';
import { median, percentile } from './stats.ts';
import type { SubscriberCommand } from './systems.ts';
import { BENCH_SCHEMA, BENCH_TABLE, TRIGGERS, type BenchUrls } from './workload.ts';

/** The big table; created for this step and dropped after it, so no other step's bridge snapshots it. */
export const BIG_TABLE = `${BENCH_SCHEMA}.big_items`;
/** Rows in the big table. */
export const BIG_ROWS = 100_000;
/** A 100,000-row reload by Sequel on a loaded two-core machine takes seconds. */
const RELOAD_DEADLINE_MS = 60_000;
/** How long after the subscriber's line the bridge's `reload done` log line may still arrive. */
const WORKER_LINE_WAIT_MS = 2_000;

/** One system's big-table figures. */
export interface BigTableResult {
  readonly system: string;
  readonly rows: number;
  /** Process spawned → `ready` (runtime start, connect, first load; includes the bridge's snapshot wait in snapshot mode). */
  readonly startToReadyMs: number;
  /**
   * Commit → the new rows served (our `watch --events` says `applied`, before it computes the
   * digest of its stdout line; Sequel's reload line): the median of `updates` single-row updates.
   */
  readonly reloadMs: number;
  /** The same, 99th percentile (nearest rank: with ten updates, the slowest). */
  readonly reloadP99Ms: number;
  readonly reloadSamples: readonly number[];
  /** Commit → the stdout line with the digest (ours only), median. */
  readonly lineMs: number;
  /** The bridge worker's job time (query + store + publish) for the same updates, median; snapshot mode only. */
  readonly workerMs: number | undefined;
  /** VmRSS of the subscriber process right after its first load, and after the reloads, in MiB. */
  readonly rssAfterLoadMiB: number;
  readonly rssAfterReloadsMiB: number;
  /** VmRSS of the same system holding the 200-row bench table instead, in MiB: its baseline. */
  readonly rssBaselineMiB: number;
  /** (RSS after load − baseline) / rows: what one cached row costs the process, in bytes. */
  readonly bytesPerRow: number;
}

/** What the step measured, or why it could not. */
export type BigTableOutcome =
  { readonly results: readonly BigTableResult[] } | { readonly error: string };

/** Creates {@link BIG_TABLE} with {@link BIG_ROWS} rows (names below every update token) and our triggers. */
export async function createBigTable(db: pg.Client): Promise<void> {
  await db.query(`DROP TABLE IF EXISTS ${BIG_TABLE}`);
  await db.query(
    `CREATE TABLE ${BIG_TABLE} (id int PRIMARY KEY, name text, price numeric, updated_at timestamptz, flags jsonb)`,
  );
  await db.query(
    `INSERT INTO ${BIG_TABLE}
     SELECT g, 'item ' || lpad(g::text, 6, '0'), g * 1.25, now(),
            jsonb_build_object('active', g % 2 = 0, 'tier', g % 5, 'tags', jsonb_build_array('a', 'b'))
     FROM generate_series(1, ${BIG_ROWS}) g`,
  );
  await db.query(`ANALYZE ${BIG_TABLE}`);
  await installTriggers(db, [BIG_TABLE], TRIGGERS);
}

/** Drops {@link BIG_TABLE}. */
export async function dropBigTable(db: pg.Client): Promise<void> {
  await db.query(`DROP TABLE IF EXISTS ${BIG_TABLE}`);
}

/** VmRSS of a process from /proc (the same for Node and Ruby), in MiB. */
async function rssMiB(pid: number | undefined): Promise<number> {
  if (pid === undefined) return Number.NaN;
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  return kb === undefined ? Number.NaN : Number(kb) / 1024;
}

/** The worker's first big-table job logged from index `from` on, waiting a little for its line. */
async function workerJob(bridge: BridgeProcess, from: number): Promise<WorkerReload | undefined> {
  const deadline = performance.now() + WORKER_LINE_WAIT_MS;
  for (;;) {
    const job = bridge.reloads.slice(from).find((r) => r.table === BIG_TABLE);
    if (job !== undefined || performance.now() > deadline) return job;
    await sleep(20);
  }
}

/** Starts the system on the big table, changes one row `updates` times (one at a time), stops it. */
export async function measureBigTable(
  db: pg.Client,
  command: SubscriberCommand,
  urls: BenchUrls,
  options: {
    readonly updates: number;
    /** The driver's copy of {@link BIG_TABLE}, which the updates go through. */
    readonly local: LocalTable;
    readonly nextSeq: () => number;
  },
): Promise<BigTableResult> {
  const baseline = await RunningSystem.start(command, urls, { table: BENCH_TABLE });
  const rssBaselineMiB = await rssMiB(baseline.subscriber.pid).finally(() => baseline.stop());
  const system = await RunningSystem.start(command, urls, {
    table: BIG_TABLE,
    // The worker's `reload done` line (its job time) is logged at debug level.
    bridgeEnv: { PSC_LOG_LEVEL: 'debug' },
  });
  const { subscriber, bridge } = system;
  try {
    const startToReadyMs = (await subscriber.ready()).at - subscriber.spawnedAt;
    const rssAfterLoadMiB = await rssMiB(subscriber.pid);
    const reloadSamples: number[] = [];
    const lineSamples: number[] = [];
    const workerSamples: number[] = [];
    for (let i = 0; i < options.updates; i += 1) {
      const seq = options.nextSeq();
      const from = subscriber.mark();
      const workerFrom = bridge?.reloads.length ?? 0;
      const { committed, expected } = await options.local.update(
        db,
        (seq % BIG_ROWS) + 1,
        updateToken(seq),
      );
      const line = await subscriber.waitToShow(expected, 'change', from, RELOAD_DEADLINE_MS);
      if (line === undefined) throw new Error(`${command.system}: big-table reload not reported`);
      // watch's version is the report's count + 1 (version 1 is the first load).
      const applied = subscriber.appliedAt(line.count + 1) ?? line.at;
      reloadSamples.push(applied - committed);
      lineSamples.push(line.at - committed);
      const job = bridge === undefined ? undefined : await workerJob(bridge, workerFrom);
      if (job !== undefined) workerSamples.push(job.ms);
    }
    return {
      system: command.system,
      rows: BIG_ROWS,
      startToReadyMs,
      reloadMs: median(reloadSamples),
      reloadP99Ms: percentile(reloadSamples, 99),
      reloadSamples,
      lineMs: median(lineSamples),
      workerMs: workerSamples.length === 0 ? undefined : median(workerSamples),
      rssAfterLoadMiB,
      rssAfterReloadsMiB: await rssMiB(subscriber.pid),
      rssBaselineMiB,
      bytesPerRow: ((rssAfterLoadMiB - rssBaselineMiB) * 1024 * 1024) / BIG_ROWS,
    };
  } finally {
    await system.stop();
  }
}
