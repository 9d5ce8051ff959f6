import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './free-port.ts';
import { repoRoot } from './index.ts';
import { postgresUrl, startPostgres, stopPostgres, withSession } from './postgres.ts';
import { startPrivateRedisCluster, startPrivateReplica } from './private-services.ts';
import { isRunning } from './process.ts';
import { redisClusterPids } from './redis-cluster.ts';
import { replicaApplyDelay } from './replica.ts';

describe('private services for one suite', () => {
  const primaryDir = join(repoRoot, '.local', `test-primary-${randomBytes(4).toString('hex')}`);
  let primaryUrl: string;

  beforeAll(async () => {
    const port = await freePort();
    await startPostgres({ dir: primaryDir, port, log: () => undefined });
    primaryUrl = postgresUrl(port);
  });

  afterAll(async () => {
    await stopPostgres(primaryDir);
    await rm(primaryDir, { recursive: true, force: true });
  });

  const slots = () =>
    withSession(primaryUrl, async (client) => {
      const { rows } = await client.query<{ slot_name: string }>(
        'SELECT slot_name FROM pg_replication_slots',
      );
      return rows.map((row) => row.slot_name);
    });

  it('a replica: has a commit once caught up, keeps a changed delay over a restart, leaves no slot behind', async () => {
    let dir: string;
    {
      await using replica = await startPrivateReplica(primaryUrl, { delayMs: 200 });
      dir = replica.dir;
      expect(await slots()).toHaveLength(1);
      await withSession(primaryUrl, (client) => client.query('CREATE TABLE seen (id int)'));
      await replica.caughtUp();
      await withSession(replica.url, (client) => client.query('SELECT FROM seen'));

      await replica.setDelay(700);
      await replica.stop();
      await replica.start();
      expect(await replicaApplyDelay(replica.url)).toBe(700);
    }
    expect(existsSync(dir)).toBe(false);
    expect(await slots()).toEqual([]);
  });

  it('a cluster: serves through a killed master, and is gone once disposed', async () => {
    let dir: string;
    let pids: (number | undefined)[];
    {
      await using cluster = await startPrivateRedisCluster();
      const client = new Cluster(
        cluster.urls.map((url) => ({ host: '127.0.0.1', port: Number(new URL(url).port) })),
      );
      client.on('error', () => undefined);
      try {
        await client.set('{fixture}:k', 'v');
        const { killed, promoted } = await cluster.killMaster('{fixture}:k');
        // Asked while the master it knew is down: a node that is up answers.
        expect(await cluster.masterOf('{fixture}:k')).toBe(promoted);
        expect(promoted).not.toBe(killed);
        expect(await client.get('{fixture}:k')).toBe('v');
      } finally {
        client.disconnect();
      }
      dir = cluster.dir;
      pids = await redisClusterPids(dir, cluster.ports[0] ?? 0);
      // The killed master is running again only if something started it: killMaster does not.
      expect(pids.filter((pid) => pid !== undefined)).toHaveLength(5);
    }
    expect(existsSync(dir)).toBe(false);
    for (const pid of pids) {
      if (pid !== undefined) expect(await isRunning(pid, 'redis-server')).toBe(false);
    }
  });
});
