// Ports for services of a test's own, so they never meet the shared ones or each other.
import { randomInt } from 'node:crypto';
import net from 'node:net';
import { CLUSTER_BUS_OFFSET, redisClusterPorts } from './redis-cluster.ts';

async function listenOn(port: number): Promise<net.Server | undefined> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A port nobody listens on right now, found by letting the kernel pick one. */
export async function freePort(): Promise<number> {
  const server = await listenOn(0);
  const address = server?.address();
  if (server === undefined || address === null || typeof address !== 'object') {
    throw new Error('no free port');
  }
  await close(server);
  return address.port;
}

/**
 * A first port for {@link startRedisCluster} whose six ports and six bus ports are free. Drawn from
 * 21000-29990 (bus ports 11000-19990): below the kernel's ephemeral range, so no outgoing
 * connection takes one of them between this check and the nodes' start.
 */
export async function freeRedisClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const first = randomInt(21_000, 29_990);
    const wanted = redisClusterPorts(first).flatMap((port) => [port, port + CLUSTER_BUS_OFFSET]);
    const servers = await Promise.all(wanted.map(listenOn));
    await Promise.all(servers.filter((server) => server !== undefined).map(close));
    if (servers.every((server) => server !== undefined)) return first;
  }
  throw new Error('no block of free ports for a redis cluster');
}
