import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freeRedisClusterPort } from './free-port.ts';
import { repoRoot } from './index.ts';
import { waitUntil } from './process.ts';
import {
  clusterNodes,
  failoverRedisCluster,
  killRedisClusterMaster,
  redisClusterMasterOf,
  redisClusterPids,
  redisClusterPorts,
  startRedisCluster,
  stopRedisCluster,
  type RedisClusterOptions,
} from './redis-cluster.ts';

describe('redis cluster', () => {
  // A cluster of this suite's own: the shared services are never touched.
  const dir = join(repoRoot, '.local', `test-cluster-${randomBytes(4).toString('hex')}`);
  let options: RedisClusterOptions;
  let ports: number[];
  const clients: Cluster[] = [];

  function connect(): Cluster {
    const client = new Cluster(
      ports.map((port) => ({ host: '127.0.0.1', port })),
      { shardedSubscribers: true },
    );
    // A killed node makes the client log connection errors until it learns the new topology.
    client.on('error', () => undefined);
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    options = { dir, firstPort: await freeRedisClusterPort(), log: () => undefined };
    ports = redisClusterPorts(options.firstPort);
    const { started } = await startRedisCluster(options);
    expect(started).toBe(true);
  });

  afterEach(() => {
    for (const client of clients.splice(0)) client.disconnect();
  });

  afterAll(async () => {
    await stopRedisCluster(dir, options.firstPort);
    await rm(dir, { recursive: true, force: true });
  });

  it('forms three masters with a replica each, and a second start reuses it', async () => {
    const nodes = await clusterNodes(options.firstPort);
    const masters = nodes.filter((node) => node.role === 'master');
    expect(masters).toHaveLength(3);
    for (const master of masters) {
      expect(nodes.filter((node) => node.masterId === master.id)).toHaveLength(1);
    }
    expect((await startRedisCluster(options)).started).toBe(false);
  });

  it('keeps hash-tagged keys on one slot and delivers a sharded publish to a sharded subscriber', async () => {
    const client = connect();
    // A multi-key command is refused (CROSSSLOT) unless every key hashes to the same slot.
    await client.mset('{psc-test}:a', '1', '{psc-test}:b', '2');
    expect(await client.mget('{psc-test}:a', '{psc-test}:b')).toEqual(['1', '2']);

    const subscriber = connect();
    const received: string[] = [];
    subscriber.on('smessage', (channel: string, message: string) => {
      received.push(`${channel} ${message}`);
    });
    await subscriber.ssubscribe('{psc-test}:changes');
    expect(await client.spublish('{psc-test}:changes', 'hello')).toBe(1);
    await waitUntil('the sharded message', () => Promise.resolve(received.length > 0), 10_000);
    expect(received).toEqual(['{psc-test}:changes hello']);
  });

  it('after a planned failover the promoted replica serves the keys and the cluster is ok', async () => {
    const client = connect();
    await client.set('{psc-planned}:k', 'kept');
    const before = await redisClusterMasterOf(ports, '{psc-planned}:k');

    const promoted = await failoverRedisCluster(ports, before);

    expect(promoted).not.toBe(before);
    for (const port of ports) {
      expect(await redisClusterMasterOf([port], '{psc-planned}:k')).toBe(promoted);
    }
    // The client connected before the failover follows the MOVED to the new master.
    expect(await client.get('{psc-planned}:k')).toBe('kept');
    await client.set('{psc-planned}:k', 'written after');
    expect(await client.get('{psc-planned}:k')).toBe('written after');
  });

  it('survives a SIGKILLed master: its replica takes over, the node rejoins as a replica on the next start', async () => {
    const key = '{psc-killed}:k';
    const client = connect();
    await client.set(key, 'kept');

    const { killed, promoted } = await killRedisClusterMaster(dir, options.firstPort, key);

    expect((await redisClusterPids(dir, options.firstPort))[ports.indexOf(killed)]).toBeUndefined();
    expect(await client.get(key)).toBe('kept');
    // The killed node's pid file is stale; the start notices, starts it, and it rejoins.
    expect((await startRedisCluster(options)).started).toBe(true);
    const after = await clusterNodes(killed);
    const promotedId = after.find((node) => node.port === promoted)?.id;
    expect(after.find((node) => node.port === killed)?.masterId).toBe(promotedId);
    expect(after.filter((node) => node.role === 'master' && !node.failing)).toHaveLength(3);
    expect(await client.get(key)).toBe('kept');
  });
});
