// Two regions and a lagging replica, with real processes: home (the shared Redis) and region b (a
// private Redis) served by one bridge (`--region b=URL`); region b reads a streaming replica that
// replays 1.5 s behind the primary, through its own `pg-static-cache worker --replica` (snapshots
// in b's Redis) and its `watch --replica` apps in redis and snapshot mode; home's apps read the
// primary. After each commit, every version each app prints already holds the commit: region b
// never marks the replica's older rows as a new version, and its rows did come from the replica.
import { startPrivateReplica } from '@pg-static-cache/local-services';
import { namesFor } from '@pg-static-cache/protocol';
import { databaseUrl, redisUrl, uniqueName, waitFor } from '@pg-static-cache/test-support';
import { createTablesSchema } from '@pg-static-cache/test-support/fixtures/direct-mode';
import { startPrivateRedis } from '@pg-static-cache/test-support/fixtures/private-redis';
import { scrape, seriesValue } from '@pg-static-cache/test-support/metrics';
import { spawnCli } from '@pg-static-cache/test-support/process';
import { describe, expect, it } from 'vitest';
import { createBridgeFleet } from '../e2e/support/bridges.ts';
import { commitAndFollow, FollowingApps, reloads } from '../replica/follow-commit.ts';
import { TABLE } from './region-world.ts';

const DELAY_MS = 1_500;
/** Far above the delay: on two busy cores every read still waits for the replica, never past it. */
const REPLICA_WAIT_MS = '8000';
const COMMITS = ['one', 'two', 'three'];

describe('regions with a lagging replica', () => {
  it('after each commit, every version each app in both regions prints holds it; region b read the replica', async () => {
    await using schema = await createTablesSchema([TABLE], { prefix: 'psc_regions_replica' });
    const names = namesFor(uniqueName('regions_replica'));
    // A copy of the whole test cluster, so it has the schema made just before.
    await using replica = await startPrivateReplica(databaseUrl(), { delayMs: DELAY_MS });
    await using regionB = await startPrivateRedis();
    const replicaUrl = new URL(schema.url);
    replicaUrl.port = new URL(replica.url).port;
    const replicaFlags = ['--replica', replicaUrl.toString(), '--replica-wait-ms', REPLICA_WAIT_MS];

    // The worker inside the bridge builds home's snapshots from the primary; region b's worker
    // builds b's from the replica.
    await using bridges = createBridgeFleet({
      databaseUrl: schema.url,
      redisUrl: redisUrl(),
      names,
      channel: schema.channel,
      cli: true,
      env: { PSC_REGIONS: `b=${regionB.url}`, PSC_JOBS: '1', PSC_WORKER: '1' },
    });
    await bridges.start('b1');
    await bridges.leader();
    await using worker = spawnCli(
      ['worker', ...replicaFlags, '--http-port', '0', '--log-level', 'info'],
      {
        env: {
          DATABASE_URL: schema.url,
          REDIS_URL: regionB.url,
          PSC_NAMESPACE: names.namespace,
          PSC_BRIDGE_ID: 'worker-b',
        },
      },
    );
    await using apps = new FollowingApps();
    const specs = [
      // Region b's redis-mode app queries the replica itself, once it replayed the event's LSN.
      { name: 'b redis', region: 'b', mode: 'redis', served: 'replica', source: 'postgres' },
      // Region b's snapshot-mode app loads what b's worker stored from the replica.
      { name: 'b snapshot', region: 'b', mode: 'snapshot', source: 'snapshot' },
      { name: 'home redis', region: 'home', mode: 'redis', source: 'postgres' },
      { name: 'home snapshot', region: 'home', mode: 'snapshot', source: 'snapshot' },
    ] as const;
    const [started] = await Promise.all([
      worker.waitForLine((l) => l.includes('"event":"started"')),
      ...specs.map(({ region, mode, ...expected }) =>
        apps.start(expected, {
          url: schema.url,
          tables: [TABLE],
          mode,
          redisUrl: region === 'home' ? redisUrl() : regionB.url,
          namespace: names.namespace,
          // A snapshot built from the replica takes its replay delay to come.
          flags: [...(region === 'b' ? replicaFlags : []), '--snapshot-wait-ms', '8000'],
        }),
      ),
    ]);
    const workerHttp = (JSON.parse(started) as { http: string }).http;

    // The leader's takeover resync queued a job per table in each region; region b's takes the
    // replica's delay. Its snapshot, announced after a commit, would be printed as a version without
    // that commit (a load already under way when a commit comes prints its rows too, in any mode):
    // each commit below is made with nothing under way, once both snapshot apps hold a snapshot.
    await waitFor('both snapshot-mode apps to hold a snapshot', () =>
      apps.list.every(
        (app) =>
          app.source !== 'snapshot' || reloads(app.watch).some((r) => r.source === 'snapshot'),
      ),
    );
    for (const label of COMMITS) await commitAndFollow(schema.pool, TABLE, label, apps.list);

    // b's snapshots, one per commit at least, were read from the replica, never the primary.
    const metrics = await scrape(workerHttp);
    expect(seriesValue(metrics, 'psc_reload_replica_reads_total')).toBeGreaterThanOrEqual(
      COMMITS.length,
    );
    for (const reason of ['lagging', 'unavailable']) {
      const series = `psc_reload_replica_fallbacks_total{reason="${reason}"}`;
      expect({ series, value: seriesValue(metrics, series) }).toEqual({ series, value: 0 });
    }
    for (const { name, watch } of apps.list) {
      expect({ name, warnings: watch.events.filter((e) => e.event === 'warning') }).toEqual({
        name,
        warnings: [],
      });
    }
  }, 90_000);
});
