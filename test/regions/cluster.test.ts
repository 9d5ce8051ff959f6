// A Redis Cluster as the home Redis: a bridge (with its reload worker) and `watch` apps in redis
// and snapshot mode, all given one `redis-cluster://` URL. Every name of the namespace lives on one
// hash slot; the master serving it is SIGKILLed while commits keep coming, its replica takes over,
// and every app must end up holding exactly what the table holds.
import { startPrivateRedisCluster } from '@pg-static-cache/local-services';
import { namesFor } from '@pg-static-cache/protocol';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FAST_BRIDGE_ENV, roleChangedTo } from '../e2e/support/bridges.ts';
import { createTablesSchema } from '../support/fixtures/direct-mode.ts';
import { tableDigest, uniqueName } from '../support/index.ts';
import { parseJsonLine, runCli, spawnCli } from '../support/process.ts';
import { startRegionApp, TABLE, type RegionApp } from './region-world.ts';

/** The digest lines `app` printed (one per cache version), last one last. */
const digests = (app: RegionApp): unknown[] =>
  app.proc.lines.map((l) => parseJsonLine(l)?.['digest']);

/** Resolves once `app` prints `digest` at or after line `from`. */
function printed(app: RegionApp, digest: string, from = 0): Promise<string> {
  return app.proc.waitForLine((l) => parseJsonLine(l)?.['digest'] === digest, {
    from,
    timeoutMs: 30_000,
  });
}

/** Resolves once `app` reports (stderr) a reload to `digest` served from a stored snapshot. */
function fromSnapshot(app: RegionApp, digest: string): Promise<string> {
  return app.proc.waitForLine(
    (l) => {
      const event = parseJsonLine(l);
      return (
        event?.['event'] === 'reload' &&
        event['digest'] === digest &&
        event['source'] === 'snapshot'
      );
    },
    { stream: 'stderr', timeoutMs: 30_000 },
  );
}

describe('Redis Cluster', () => {
  it('a bridge, its worker and apps on a cluster: a master SIGKILLed mid-commits ends with every cache equal to the table', async () => {
    await using cluster = await startPrivateRedisCluster();
    await using schema = await createTablesSchema([TABLE], { prefix: 'psc_cluster' });
    const names = namesFor(uniqueName('psc_cluster'), 'cluster');
    // Every node as a seed, so the client finds the cluster whichever node is down.
    const url = `redis-cluster://${cluster.ports.map((port) => `127.0.0.1:${port}`).join(',')}`;
    await using bridge = spawnCli(['bridge'], {
      env: {
        ...FAST_BRIDGE_ENV,
        PSC_JOBS: '1',
        PSC_WORKER: '1',
        DATABASE_URL: schema.url,
        REDIS_URL: url,
        PSC_NAMESPACE: names.namespace,
        PSC_CHANNEL: schema.channel,
      },
    });
    await bridge.waitForLine(roleChangedTo('leader'), { stream: 'stderr' });
    const apps = await Promise.all(
      (['redis', 'snapshot'] as const).map((mode) =>
        startRegionApp('home', { schema, names, url, mode }),
      ),
    );
    onTestFinished(async () => {
      await Promise.all(apps.map((app) => app.proc.stop()));
    });
    const [redisApp, snapshotApp] = apps;
    if (redisApp === undefined || snapshotApp === undefined) throw new Error('apps not started');

    const commit = async (label: string): Promise<string> => {
      await schema.pool.query(`UPDATE ${TABLE} SET label = $1 WHERE id = 1`, [label]);
      return tableDigest(schema.pool, TABLE);
    };
    const before = await commit('before');
    await Promise.all(apps.map((app) => printed(app, before)));
    // Through the cluster: the worker stored the snapshot on the namespace's slot, the app read it.
    await fromSnapshot(snapshotApp, before);
    // The one-shot commands read the same tagged names and use the sharded control channel.
    const cli = { env: { REDIS_URL: url, PSC_NAMESPACE: names.namespace } };
    const status = await runCli(['status', '--json'], cli);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ namespace: names.namespace, leader: {} });
    const resync = await runCli(['resync'], cli);
    expect(resync.code, resync.stderr).toBe(0);
    expect(resync.stdout).toMatch(/^resync published by .* all tables$/m);

    // Commits go on while the master of the namespace's slot dies and its replica is promoted
    // (the cluster's node timeout is 3 s): some of their messages and jobs are lost with it.
    const master = await cluster.masterOf(names.events);
    const kill = { done: false };
    const killed = cluster.killMaster(names.events).finally(() => (kill.done = true));
    let during = 0;
    while (!kill.done) {
      await commit(`during-${++during}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const { killed: port, promoted } = await killed;
    expect(port).toBe(master);
    expect(await cluster.masterOf(names.events)).toBe(promoted);
    expect(during).toBeGreaterThan(0);

    // After the failover: every app converges on the table…
    const linesFrom = apps.map((app) => app.proc.lines.length);
    const after = await commit('after');
    await Promise.all(apps.map((app, i) => printed(app, after, linesFrom[i])));
    for (const app of apps) expect(digests(app).at(-1)).toBe(await tableDigest(schema.pool, TABLE));
    // …and the next change reaches the snapshot app as a snapshot the worker stored on the new master.
    await fromSnapshot(snapshotApp, await commit('last'));
  });
});
