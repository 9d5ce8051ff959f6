// A replica or Redis Cluster of one test suite's own: its own folder and free ports, stopped and
// broken at will without disturbing the shared services or other suites, and removed on dispose.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, freeRedisClusterPort } from './free-port.ts';
import { postgresUrl } from './postgres.ts';
import {
  failoverRedisCluster,
  killRedisClusterMaster,
  redisClusterMasterOf,
  redisClusterPorts,
  redisClusterUrls,
  startRedisCluster,
  stopRedisCluster,
} from './redis-cluster.ts';
import {
  DEFAULT_REPLICA_DELAY_MS,
  removeReplica,
  setReplicaApplyDelay,
  startReplica,
  stopReplica,
  waitForReplay,
} from './replica.ts';

// Under the repository's git-ignored .local, where the shared services live too.
function privateDir(kind: string): string {
  const root = fileURLToPath(new URL('../../../.local/', import.meta.url));
  return join(root, `test-${kind}-${randomBytes(4).toString('hex')}`);
}

/** A streaming replica of a primary, of one suite's own. */
export interface PrivateReplica extends AsyncDisposable {
  /** URL of the `postgres` superuser on the replica's `postgres` database. */
  readonly url: string;
  readonly dir: string;
  /** Fast shutdown (its slot on the primary stays, so it catches up when started again). */
  stop(): Promise<void>;
  /** Starts it again on the same port; resolves once it streams. */
  start(): Promise<void>;
  /** Sets its replay delay while it runs. */
  setDelay(ms: number): Promise<void>;
  /** Resolves once it has replayed what the primary had written when this was called. */
  caughtUp(timeoutMs?: number): Promise<void>;
}

/**
 * Makes (pg_basebackup, about a second per 100 MB) and starts a replica of the primary at
 * `primaryUrl`, delayed by `delayMs`. Disposing it drops its slot, which would otherwise keep WAL
 * on the primary.
 */
export async function startPrivateReplica(
  primaryUrl: string,
  options: { readonly delayMs?: number } = {},
): Promise<PrivateReplica> {
  const dir = privateDir('replica');
  const replica = {
    dir,
    port: await freePort(),
    primaryUrl,
    log: () => undefined,
    applyDelayMs: options.delayMs ?? DEFAULT_REPLICA_DELAY_MS,
  };
  const remove = () => removeReplica(replica);
  try {
    await startReplica(replica);
  } catch (error) {
    await remove();
    throw error;
  }
  const url = postgresUrl(replica.port);
  return {
    url,
    dir,
    stop: () => stopReplica(dir),
    start: async () => {
      // No delay given: it keeps whatever it was set to last, not the one it was made with.
      await startReplica({ dir, port: replica.port, primaryUrl, log: replica.log });
    },
    setDelay: (ms) => setReplicaApplyDelay(url, ms),
    caughtUp: async (timeoutMs) => {
      await waitForReplay(url, primaryUrl, timeoutMs);
    },
    [Symbol.asyncDispose]: remove,
  };
}

/** A Redis Cluster (three masters, a replica each) of one suite's own. */
export interface PrivateRedisCluster extends AsyncDisposable {
  readonly dir: string;
  /** The six nodes' URLs; any of them is a seed for a cluster client. */
  readonly urls: readonly string[];
  readonly ports: readonly number[];
  /** Port of the master serving `key` now. */
  masterOf(key: string): Promise<number>;
  /** A planned failover of the master serving `key`; resolves with the promoted node's port. */
  failover(key: string): Promise<number>;
  /** SIGKILLs the master serving `key`; resolves once its replica took over. */
  killMaster(key: string): Promise<{ killed: number; promoted: number }>;
  /** Stops every node (nothing is saved: the data is lost, the topology kept). */
  stop(): Promise<void>;
  /** Starts every node that is not running; resolves once the cluster is ok everywhere. */
  start(): Promise<void>;
}

/** Starts a Redis Cluster on free ports (about 3 s). */
export async function startPrivateRedisCluster(): Promise<PrivateRedisCluster> {
  const dir = privateDir('cluster');
  const options = { dir, firstPort: await freeRedisClusterPort(), log: () => undefined };
  const ports = redisClusterPorts(options.firstPort);
  const remove = async () => {
    await stopRedisCluster(dir, options.firstPort);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await startRedisCluster(options);
  } catch (error) {
    await remove();
    throw error;
  }
  const masterOf = (key: string) => redisClusterMasterOf(ports, key);
  return {
    dir,
    urls: redisClusterUrls(options.firstPort),
    ports,
    masterOf,
    failover: async (key) => failoverRedisCluster(ports, await masterOf(key)),
    killMaster: (key) => killRedisClusterMaster(dir, options.firstPort, key),
    stop: () => stopRedisCluster(dir, options.firstPort),
    start: async () => {
      await startRedisCluster(options);
    },
    [Symbol.asyncDispose]: remove,
  };
}
