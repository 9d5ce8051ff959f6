// Read replicas end to end, with real processes: a streaming replica that replays 1.5 s behind the
// primary, `pg-static-cache watch --replica` in direct, redis and snapshot mode, a bridge, and a
// `pg-static-cache worker --replica` storing the snapshots. After every commit, every version each
// app prints already holds the commit: nobody ever prints the replica's older rows as new. Then
// the replica is stopped: the apps and the worker read the primary, say so once and count it, and
// keep following commits.
import { startPrivateReplica, type PrivateReplica } from '@pg-static-cache/local-services';
import { namesFor, type Names } from '@pg-static-cache/protocol';
import { databaseUrl, redisUrl, uniqueName } from '@pg-static-cache/test-support';
import {
  createTablesSchema,
  type TablesSchema,
} from '@pg-static-cache/test-support/fixtures/direct-mode';
import { scrape, seriesValue } from '@pg-static-cache/test-support/metrics';
import { spawnCli, type SpawnedProcess } from '@pg-static-cache/test-support/process';
import { startWatch, type WatchProcess } from '@pg-static-cache/test-support/watch-process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBridgeFleet, type BridgeFleet } from '../e2e/support/bridges.ts';
import { commitAndFollow } from './follow-commit.ts';

const DELAY_MS = 1_500;
const MODES = ['direct', 'redis', 'snapshot'] as const;
const FALLBACK_WARNING = 'reading the primary instead of the replica';

describe('watch --replica and worker --replica', () => {
  let schema: TablesSchema;
  let replica: PrivateReplica;
  let names: Names;
  let bridges: BridgeFleet;
  let worker: SpawnedProcess;
  let workerHttp: string;
  const apps = new Map<(typeof MODES)[number], WatchProcess>();

  beforeAll(async () => {
    schema = await createTablesSchema(['plans'], { prefix: 'psc_replica_e2e' });
    replica = await startPrivateReplica(databaseUrl(), { delayMs: DELAY_MS });
    const url = new URL(schema.url);
    url.port = new URL(replica.url).port;
    const replicaUrl = url.toString();
    names = namesFor(uniqueName('replica'));
    bridges = createBridgeFleet({
      databaseUrl: schema.url,
      redisUrl: redisUrl(),
      names,
      channel: schema.channel,
      cli: true,
      // Jobs for the snapshot-mode app, run by the worker below (the one with the replica).
      env: { PSC_JOBS: '1', PSC_WORKER: '0' },
    });
    await bridges.start('b1');
    await bridges.leader();
    worker = spawnCli(
      ['worker', '--replica', replicaUrl, '--http-port', '0', '--log-level', 'info'],
      {
        env: {
          DATABASE_URL: schema.url,
          REDIS_URL: redisUrl(),
          PSC_NAMESPACE: names.namespace,
          PSC_BRIDGE_ID: 'worker-1',
        },
      },
    );
    const started = await worker.waitForLine((l) => l.includes('"event":"started"'));
    workerHttp = (JSON.parse(started) as { http: string }).http;
    for (const mode of MODES) {
      apps.set(
        mode,
        await startWatch({
          url: schema.url,
          tables: ['plans'],
          mode,
          channel: schema.channel,
          redisUrl: redisUrl(),
          namespace: names.namespace,
          // The worker waits for the replica too: give its snapshot time to come.
          flags: ['--replica', replicaUrl, '--snapshot-wait-ms', '8000'],
        }),
      );
    }
  }, 180_000);

  afterAll(async () => {
    for (const app of apps.values()) await app[Symbol.asyncDispose]();
    await worker[Symbol.asyncDispose]();
    await bridges[Symbol.asyncDispose]();
    await replica[Symbol.asyncDispose]();
    await schema[Symbol.asyncDispose]();
  }, 60_000);

  function app(mode: (typeof MODES)[number]): WatchProcess {
    const found = apps.get(mode);
    if (found === undefined) throw new Error(`no ${mode} app`);
    return found;
  }

  const fallbackWarnings = (watch: WatchProcess): number =>
    watch.events.filter((e) => e.event === 'warning' && e.message.startsWith(FALLBACK_WARNING))
      .length;

  // Direct and redis mode's table queries are served as `served` says; the snapshot-mode app's
  // rows come from the worker's snapshots (checked by its metrics).
  const commitAndFollowAll = (label: string, served: 'replica' | 'unavailable') =>
    commitAndFollow(
      schema.pool,
      'plans',
      label,
      MODES.map((mode) => ({
        name: mode,
        watch: app(mode),
        ...(mode === 'snapshot' ? {} : { served }),
      })),
    );

  it('after each commit, every version each app prints holds it, all of them read from the replica', async () => {
    for (const label of ['one', 'two', 'three']) await commitAndFollowAll(label, 'replica');
    // The snapshot-mode app's versions came from the worker, which read the replica.
    const metrics = await scrape(workerHttp);
    expect(seriesValue(metrics, 'psc_reload_replica_reads_total')).toBeGreaterThanOrEqual(3);
    expect(seriesValue(metrics, 'psc_reload_replica_fallbacks_total{reason="unavailable"}')).toBe(
      0,
    );
    for (const mode of MODES) expect(fallbackWarnings(app(mode)), mode).toBe(0);
  }, 120_000);

  it('reads the primary while the replica is stopped: counted, warned once, caches still follow', async () => {
    await replica.stop();
    try {
      for (const label of ['down-1', 'down-2']) await commitAndFollowAll(label, 'unavailable');
      for (const mode of ['direct', 'redis'] as const) {
        expect(fallbackWarnings(app(mode)), mode).toBe(1);
      }
      const metrics = await scrape(workerHttp);
      const unavailable = 'psc_reload_replica_fallbacks_total{reason="unavailable"}';
      expect(seriesValue(metrics, unavailable)).toBeGreaterThanOrEqual(2);
      expect(worker.stderrLines.filter((l) => l.includes(FALLBACK_WARNING))).toHaveLength(1);
      for (const mode of MODES) expect(app(mode).lastStatus(), mode).toBe('ready');
    } finally {
      await replica.start();
    }
  }, 120_000);
});
