// Issue 4, end to end with real processes: a fleet of snapshot-mode apps costs Postgres about one
// table query per change (the worker's), however many apps there are; redis-mode apps, for
// contrast, cost one query per app per change. A corrupt stored snapshot is never served: every
// app queries Postgres instead and says why.
import { performance } from 'node:perf_hooks';
import { digestRows } from '@pg-static-cache/postgres';
import { parseSnapshot } from '@pg-static-cache/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import type { WatchEvent, WatchProcess } from '../support/watch-process.ts';
import { ROWS, startFleet, TABLE, type Fleet } from './fleet-kit.ts';
import { queriesBetween, statementsDeallocated, tableQueries } from './fleet-queries.ts';

const SNAPSHOT_APPS = 20;
const REDIS_APPS = 5;
const CHANGES = 100;
/** One change must reach all 25 apps in well under this, even on two busy cores. */
const CONVERGE_MS = 20_000;

type ReloadEvent = Extract<WatchEvent, { event: 'reload' }>;

/** The reloads `app` reported from event `from` on. */
function reloadsSince(app: WatchProcess, from: number): ReloadEvent[] {
  return app.events.slice(from).filter((e): e is ReloadEvent => e.event === 'reload');
}

/** The warning messages `app` reported from event `from` on. */
function warningsSince(app: WatchProcess, from: number): string[] {
  return app.events.slice(from).flatMap((e) => (e.event === 'warning' ? [e.message] : []));
}

/** Commits one single-row change and returns the digest the table has after it. */
async function change(fleet: Fleet, n: number, label = `change ${n}`): Promise<string> {
  await fleet.db.query(`UPDATE ${TABLE} SET label = $1 WHERE id = $2`, [label, (n % ROWS) + 1]);
  return fleet.digest();
}

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

describe('a fleet of snapshot-mode apps behind one bridge with a reload worker', () => {
  let fleet: Fleet | undefined;

  beforeAll(async () => {
    const started = performance.now();
    fleet = await startFleet({
      snapshotApps: SNAPSHOT_APPS,
      redisApps: REDIS_APPS,
      // Long enough that a worker slowed by 25 busy processes is still waited for: a query by an
      // app in the measurement would be a timeout, not the design.
      snapshotWaitMs: 5_000,
    });
    console.log(
      `fleet of ${SNAPSHOT_APPS + REDIS_APPS} apps and a bridge ready in ${Math.round(performance.now() - started)} ms`,
    );
  }, 180_000);

  afterAll(async () => {
    await fleet?.[Symbol.asyncDispose]();
  }, 60_000);

  const running = (): Fleet => {
    if (fleet === undefined) throw new Error('the fleet did not start');
    return fleet;
  };

  it(
    `costs Postgres about one table query per change for ${SNAPSHOT_APPS} apps`,
    { timeout: 150_000 },
    async ({ annotate }) => {
      const f = running();
      const { roles } = f;
      // Quiet first: the start-up loads and the takeover snapshot are not part of the measurement.
      await f.waitConverged(await f.digest(), CONVERGE_MS);
      const marks = new Map(f.snapshotApps.map((app) => [app, app.events.length]));
      const deallocBefore = await statementsDeallocated(f.db);
      const before = await tableQueries(f.db, f.table);

      const latencies: number[] = [];
      for (let n = 1; n <= CHANGES; n += 1) {
        const t0 = performance.now();
        const digest = await change(f, n);
        await f.waitConverged(digest, CONVERGE_MS);
        latencies.push(performance.now() - t0);
      }

      const after = await tableQueries(f.db, f.table);
      const worker = queriesBetween(before, after, roles.worker);
      const snapshotApps = queriesBetween(before, after, roles.snapshotApps);
      const redisApps = queriesBetween(before, after, roles.redisApps);
      const fallbacks = f.snapshotApps.flatMap((app) =>
        reloadsSince(app, marks.get(app) ?? 0).filter((line) => line.source !== 'snapshot'),
      );
      const snapshotLoads = f.snapshotApps.reduce(
        (sum, app) =>
          sum +
          reloadsSince(app, marks.get(app) ?? 0).filter((l) => l.source === 'snapshot').length,
        0,
      );
      latencies.sort((a, b) => a - b);
      const report = {
        changes: CHANGES,
        workerQueries: worker,
        snapshotAppQueries: snapshotApps,
        snapshotAppFallbacks: fallbacks.map((line) => line.fallback),
        snapshotLoads,
        redisAppQueries: redisApps,
        redisAppQueriesPerChangePerApp: redisApps / CHANGES / REDIS_APPS,
        redisModeExtrapolatedFor20Apps: (redisApps / REDIS_APPS) * SNAPSHOT_APPS,
        convergeMs: {
          p50: Math.round(percentile(latencies, 0.5)),
          p95: Math.round(percentile(latencies, 0.95)),
          max: Math.round(latencies.at(-1) ?? NaN),
        },
        statementsDeallocated: (await statementsDeallocated(f.db)) - deallocBefore,
      };
      console.log(`fleet query counts: ${JSON.stringify(report)}`);
      await annotate(
        `table queries for ${CHANGES} changes: worker ${worker}, ${SNAPSHOT_APPS} snapshot apps ${snapshotApps}, ${REDIS_APPS} redis apps ${redisApps}`,
      );

      // Every change needs a new snapshot, hence at least one worker query; coalesced jobs keep it
      // at about one.
      expect(worker).toBeGreaterThanOrEqual(CHANGES);
      expect(worker).toBeLessThanOrEqual(CHANGES * 1.5 + 5);
      // The apps read snapshots: at most a rare timeout under load, each one query, nothing else.
      expect(fallbacks.length).toBeLessThanOrEqual(2);
      expect(fallbacks.map((line) => line.fallback)).toEqual(fallbacks.map(() => 'timeout'));
      expect(snapshotApps).toBe(fallbacks.length);
      expect(snapshotLoads).toBeGreaterThanOrEqual(SNAPSHOT_APPS * CHANGES - fallbacks.length);
      // Redis mode for contrast: every app queries the table for every change.
      expect(redisApps).toBeGreaterThanOrEqual(REDIS_APPS * CHANGES);
      expect(redisApps).toBeLessThanOrEqual(REDIS_APPS * CHANGES * 1.2);
    },
  );

  it(
    'falls back to Postgres and says why when the stored snapshot is corrupt, never serving it',
    { timeout: 90_000 },
    async () => {
      const f = running();
      const apps = f.snapshotApps;
      const marksOf = () => new Map(apps.map((app) => [app, app.events.length]));
      await f.waitConverged(await f.digest(), CONVERGE_MS);

      // Garbage, then a change: with the queue paused no job overwrites it, so once the apps'
      // wait for a covering snapshot runs out they read the garbage.
      await f.pauseJobs();
      let marks = marksOf();
      await f.writeSnapshot('garbage{');
      const afterGarbage = await change(f, 1, 'after garbage');
      await f.waitConverged(afterGarbage, CONVERGE_MS);
      for (const app of apps) {
        const from = marks.get(app) ?? 0;
        const reloads = reloadsSince(app, from);
        expect(reloads.map((l) => l.digest)).toEqual(reloads.map(() => afterGarbage));
        expect(reloads).toContainEqual(
          expect.objectContaining({ source: 'postgres', fallback: 'corrupt' }),
        );
        expect(warningsSince(app, from)).toContainEqual(
          expect.stringMatching(/snapshot of .*\.items is corrupt \(not-json/),
        );
      }

      // The worker catches up: its snapshot replaces the garbage and is used again.
      marks = marksOf();
      await f.resumeJobs();
      await waitAll(apps, 'a snapshot load after the garbage', (app) =>
        reloadsSince(app, marks.get(app) ?? 0).some((l) => l.source === 'snapshot'),
      );

      // Valid JSON with a tampered row, then a resync: the digest check refuses it.
      await f.pauseJobs();
      const stored = parseSnapshot((await f.readSnapshot()) ?? '');
      if (!stored.ok) throw new Error(`no valid snapshot to tamper with: ${stored.reason}`);
      // Row 1 (id 1) gets another label; the digest stays the worker's.
      const tampered = {
        ...stored.snapshot,
        rows: stored.snapshot.rows.map((row, i) => (i === 0 ? [row[0] ?? null, 'tampered'] : row)),
      };
      const rows = await f.rows();
      const dbDigest = digestRows(rows);
      const tamperedDigest = digestRows(
        rows.map((row, i) => (i === 0 ? { ...row, label: 'tampered' } : row)),
      );
      expect(tamperedDigest).not.toBe(dbDigest);
      marks = marksOf();
      await f.writeSnapshot(JSON.stringify(tampered));
      await f.requestResync();
      await waitAll(apps, 'a corrupt fallback after the tampering', (app) =>
        reloadsSince(app, marks.get(app) ?? 0).some((l) => l.fallback === 'corrupt'),
      );
      await f.waitConverged(dbDigest, CONVERGE_MS);
      for (const app of apps) {
        const from = marks.get(app) ?? 0;
        const reloads = reloadsSince(app, from);
        expect(reloads.map((l) => [l.digest, l.source, l.fallback])).toEqual(
          reloads.map(() => [dbDigest, 'postgres', 'corrupt']),
        );
        expect(warningsSince(app, from)).toContainEqual(
          expect.stringMatching(/is corrupt \(digest-mismatch/),
        );
      }
      await f.resumeJobs();
      // Not one app, at any time, reported the tampered rows.
      for (const app of [...f.snapshotApps, ...f.redisApps]) {
        expect(reloadsSince(app, 0).filter((l) => l.digest === tamperedDigest)).toEqual([]);
      }
      await f.waitConverged(dbDigest, CONVERGE_MS);
    },
  );
});

/** Waits until `check` holds for every app. */
function waitAll(
  apps: readonly WatchProcess[],
  what: string,
  check: (app: WatchProcess) => boolean,
): Promise<void> {
  return waitFor(`every app to report ${what}`, () => apps.every(check), CONVERGE_MS);
}
