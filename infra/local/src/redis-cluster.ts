// A Redis Cluster of three masters with one replica each, on six consecutive ports: what a
// deployment on a managed cluster (ElastiCache, Memorystore) looks like, failovers included.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run, stopPid, waitUntil } from './process.ts';
import { redisPid, redisUrl, startRedis, stopRedis, withRedis } from './redis.ts';

/**
 * Where the cluster's nodes run: `<dir>/<port>` each, on `firstPort` and the five after it, with
 * their cluster bus {@link CLUSTER_BUS_OFFSET} below.
 */
export interface RedisClusterOptions {
  readonly dir: string;
  readonly firstPort: number;
  readonly log: (line: string) => void;
  /**
   * How long a node may be unreachable before it counts as failed and its replica takes over.
   * Redis' own default (15 s) makes a test of a killed master wait that long.
   * @default 3000
   */
  readonly nodeTimeoutMs?: number;
}

/** One node as CLUSTER NODES describes it. */
export interface ClusterNode {
  readonly id: string;
  readonly port: number;
  readonly role: 'master' | 'replica';
  /** The master's id, for a replica. */
  readonly masterId: string | undefined;
  /** Marked failed (`fail`) or suspected (`fail?`) by the node asked. */
  readonly failing: boolean;
  /** Slot ranges served, for a master ("0-5460"). */
  readonly slots: readonly string[];
}

const NODE_COUNT = 6;
/**
 * A node's cluster bus port is its port minus this. Redis' default, port + 10000, does not exist
 * for ports above 55535, where the local services live.
 */
export const CLUSTER_BUS_OFFSET = -10_000;
const SLOT_COUNT = 16_384;

/** The six ports of the cluster whose first node listens on `firstPort`. */
export function redisClusterPorts(firstPort: number): number[] {
  return Array.from({ length: NODE_COUNT }, (_, i) => firstPort + i);
}

/** URLs of the cluster's six nodes (any of them is a seed for a cluster client). */
export function redisClusterUrls(firstPort: number): string[] {
  return redisClusterPorts(firstPort).map(redisUrl);
}

function nodeDir(dir: string, port: number): string {
  return join(dir, String(port));
}

async function clusterCommand(port: number, ...args: string[]): Promise<string> {
  const reply = await withRedis(port, (client) => client.call('CLUSTER', ...args));
  if (typeof reply !== 'string') throw new Error(`CLUSTER ${args.join(' ')}: not a string reply`);
  return reply;
}

/** CLUSTER INFO of the node on `port`, as field → value. */
export async function clusterInfo(port: number): Promise<Map<string, string>> {
  const text = await clusterCommand(port, 'INFO');
  return new Map(
    text
      .split(/\r?\n/)
      .map((line) => line.split(':'))
      .filter((pair): pair is [string, string] => pair.length === 2)
      .map(([key, value]) => [key.trim(), value.trim()]),
  );
}

/** The cluster as the node on `port` sees it (CLUSTER NODES). */
export async function clusterNodes(port: number): Promise<ClusterNode[]> {
  const text = await clusterCommand(port, 'NODES');
  return text
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '')
    .map((line) => {
      // <id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>…
      const [id = '', address = '', flags = '', master = '-', , , , , ...slots] = line.split(' ');
      const nodeFlags = flags.split(',');
      return {
        id,
        port: Number(/:(\d+)@/.exec(address)?.[1]),
        role: nodeFlags.includes('master') ? 'master' : 'replica',
        masterId: master === '-' ? undefined : master,
        failing: nodeFlags.includes('fail') || nodeFlags.includes('fail?'),
        slots: slots.filter((slot) => !slot.startsWith('[')),
      };
    });
}

// The cluster as one node sees it, minus the nodes it thinks failed: who is master of what, and
// who replicates whom. Nodes learn of a new master or replica by gossip, one by one.
function topology(nodes: readonly ClusterNode[]): string {
  const portOf = new Map(nodes.map((node) => [node.id, node.port]));
  return nodes
    .filter((node) => !node.failing)
    .map((node) =>
      node.role === 'master'
        ? `${node.port} master ${node.slots.join(',')}`
        : `${node.port} replica of ${node.masterId === undefined ? '?' : portOf.get(node.masterId)}`,
    )
    .sort()
    .join('; ');
}

/**
 * Resolves once every node on `ports` says cluster_state:ok, sees exactly those nodes up, and
 * describes the same masters, slots and replicas as the others (what a client relies on when it
 * asks any node where a key lives), and every replica among them is in sync with its master.
 */
export async function waitForRedisCluster(ports: readonly number[], timeoutMs = 30_000) {
  const live = [...ports].sort((a, b) => a - b).join(',');
  await waitUntil(
    `redis cluster on ports ${ports.join(', ')} to be ok`,
    async () => {
      try {
        const infos = await Promise.all(ports.map(clusterInfo));
        if (!infos.every((info) => info.get('cluster_state') === 'ok')) return false;
        const views = await Promise.all(ports.map(clusterNodes));
        const seen = views.map((nodes) =>
          nodes
            .filter((node) => !node.failing)
            .map((node) => node.port)
            .sort((a, b) => a - b)
            .join(','),
        );
        const described = views.map(topology);
        if (!seen.every((view) => view === live) || !described.every((t) => t === described[0])) {
          return false;
        }
        // A replica still waiting for its first sync cannot take over without losing writes.
        const replication = await Promise.all(
          ports.map((port) => withRedis(port, (client) => client.info('replication'))),
        );
        return replication.every(
          (info) => !info.includes('role:slave') || info.includes('master_link_status:up'),
        );
      } catch {
        return false;
      }
    },
    timeoutMs,
  );
}

/**
 * Starts (or reuses) the six nodes, creates the cluster when they form none yet, and resolves once
 * it is ok on every node. Nodes keep the topology in `nodes.conf`, so a restarted node rejoins.
 */
export async function startRedisCluster(
  options: RedisClusterOptions,
): Promise<{ pids: number[]; started: boolean }> {
  const { dir, firstPort, log } = options;
  const ports = redisClusterPorts(firstPort);
  if (firstPort + CLUSTER_BUS_OFFSET < 1_024 || firstPort + NODE_COUNT > 65_536) {
    throw new RangeError(`redis cluster ports must lie in 11024-65530, got ${firstPort}`);
  }
  const startNodes = () =>
    Promise.all(
      ports.map((port) =>
        startRedis({
          dir: nodeDir(dir, port),
          port,
          log,
          args: [
            ...['--cluster-enabled', 'yes'],
            ...['--cluster-config-file', join(nodeDir(dir, port), 'nodes.conf')],
            ...['--cluster-port', String(port + CLUSTER_BUS_OFFSET)],
            // A replica's first sync would otherwise wait 5 s for more replicas to share it.
            ...['--repl-diskless-sync-delay', '0'],
            ...['--cluster-node-timeout', String(options.nodeTimeoutMs ?? 3_000)],
          ],
        }),
      ),
    );
  let nodes = await startNodes();
  const infos = await Promise.all(ports.map(clusterInfo));
  const count = (info: Map<string, string>, field: string) => Number(info.get(field));
  const fresh = infos.every(
    (info) =>
      count(info, 'cluster_known_nodes') === 1 && count(info, 'cluster_slots_assigned') === 0,
  );
  const formed = infos.every(
    (info) =>
      count(info, 'cluster_known_nodes') === NODE_COUNT &&
      count(info, 'cluster_slots_assigned') === SLOT_COUNT,
  );
  if (!fresh && !formed) {
    // Half a cluster (a create that was interrupted, a node whose nodes.conf was deleted) never
    // heals by itself; nothing in it is worth keeping (the nodes save no data).
    log(`redis cluster in ${dir} is not one cluster of ${NODE_COUNT} nodes: creating it anew`);
    await stopRedisCluster(dir, firstPort);
    await rm(dir, { recursive: true, force: true });
    nodes = await startNodes();
  }
  if (!formed) {
    log(`redis-cli --cluster create on ports ${ports.join(', ')}`);
    await run('redis-cli', [
      ...['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`)],
      ...['--cluster-replicas', '1', '--cluster-yes'],
    ]);
  }
  await waitForRedisCluster(ports);
  return { pids: nodes.map((node) => node.pid), started: nodes.some((node) => node.started) };
}

/** Stops the six nodes by the PIDs in their pid files. Safe when they are not running. */
export async function stopRedisCluster(dir: string, firstPort: number): Promise<void> {
  await Promise.all(redisClusterPorts(firstPort).map((port) => stopRedis(nodeDir(dir, port))));
}

/** PIDs of the cluster's nodes (undefined for a node that is not running), in port order. */
export function redisClusterPids(dir: string, firstPort: number): Promise<(number | undefined)[]> {
  return Promise.all(redisClusterPorts(firstPort).map((port) => redisPid(nodeDir(dir, port))));
}

/** Port of the master serving `key`'s slot, as the first node of `ports` that answers sees it. */
export async function redisClusterMasterOf(ports: readonly number[], key: string): Promise<number> {
  for (const port of ports) {
    const master = await masterSeenBy(port, key).catch(() => undefined);
    if (master !== undefined) return master;
  }
  throw new Error(`no node on ports ${ports.join(', ')} knows a master serving ${key}`);
}

async function masterSeenBy(port: number, key: string): Promise<number | undefined> {
  const slot = Number(await withRedis(port, (client) => client.call('CLUSTER', 'KEYSLOT', key)));
  return (await clusterNodes(port)).find(
    (node) =>
      node.role === 'master' &&
      !node.failing &&
      node.slots.some((range) => {
        const [from, to = from] = range.split('-').map(Number);
        return from !== undefined && to !== undefined && slot >= from && slot <= to;
      }),
  )?.port;
}

/**
 * A planned failover (CLUSTER FAILOVER on a replica of the master on `masterPort`): the replica
 * becomes master without losing a write. Resolves with its port once every node of `ports` agrees.
 */
export async function failoverRedisCluster(
  ports: readonly number[],
  masterPort: number,
): Promise<number> {
  const nodes = await clusterNodes(masterPort);
  const master = nodes.find((node) => node.port === masterPort);
  const replica = nodes.find((node) => node.masterId === master?.id && !node.failing);
  if (master === undefined || replica === undefined) {
    throw new Error(`no replica of the master on port ${masterPort} to fail over to`);
  }
  await clusterCommand(replica.port, 'FAILOVER');
  await waitUntil(
    `the replica on port ${replica.port} to become master`,
    async () =>
      (await clusterNodes(replica.port)).find((node) => node.id === replica.id)?.role === 'master',
    30_000,
  );
  await waitForRedisCluster(ports);
  return replica.port;
}

// Replication is asynchronous: a master killed before its replica acknowledged a write takes the
// write with it. The master's INFO lists each replica's acknowledged offset (acks come every second).
async function replicaCaughtUp(masterPort: number, replicaPort: number): Promise<boolean> {
  const info = await withRedis(masterPort, (client) => client.info('replication'));
  const masterOffset = Number(/master_repl_offset:(\d+)/.exec(info)?.[1]);
  const replicaOffset = Number(
    new RegExp(`slave\\d+:ip=[^,]*,port=${replicaPort},.*?offset=(\\d+)`).exec(info)?.[1],
  );
  return replicaOffset >= masterOffset;
}

/**
 * SIGKILLs the master serving `key` once its replica has everything it had, and resolves once the
 * replica serves the key and the surviving nodes agree (about node timeout + 1 s). The killed node
 * comes back, as a replica, with the next {@link startRedisCluster}.
 */
export async function killRedisClusterMaster(
  dir: string,
  firstPort: number,
  key: string,
): Promise<{ killed: number; promoted: number }> {
  const ports = redisClusterPorts(firstPort);
  const killed = await redisClusterMasterOf(ports, key);
  const nodes = await clusterNodes(killed);
  const masterId = nodes.find((node) => node.port === killed)?.id;
  const replica = nodes.find((node) => node.masterId === masterId && !node.failing);
  const pid = await redisPid(nodeDir(dir, killed));
  if (replica === undefined || pid === undefined) {
    throw new Error(`no running master with a replica on port ${killed}`);
  }
  await waitUntil(
    `the replica on port ${replica.port} to catch up`,
    () => replicaCaughtUp(killed, replica.port),
    10_000,
  );
  await stopPid(pid, 'redis-server', 'SIGKILL');
  await waitUntil(
    `the replica on port ${replica.port} to take over from ${killed}`,
    () =>
      redisClusterMasterOf([replica.port], key).then(
        (port) => port === replica.port,
        () => false,
      ),
    30_000,
  );
  await waitForRedisCluster(ports.filter((port) => port !== killed));
  return { killed, promoted: replica.port };
}
