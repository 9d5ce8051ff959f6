import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { postgresPid, postgresUrl, startPostgres, stopPostgres } from './postgres.ts';
import { redisPid, redisUrl, startRedis, stopRedis } from './redis.ts';
import {
  redisClusterPids,
  redisClusterUrls,
  startRedisCluster,
  stopRedisCluster,
} from './redis-cluster.ts';
import { replicaPid, startReplica, stopReplica } from './replica.ts';

export { freePort, freeRedisClusterPort } from './free-port.ts';
export { postgresUrl, startPostgres, stopPostgres } from './postgres.ts';
export {
  startPrivateRedisCluster,
  startPrivateReplica,
  type PrivateRedisCluster,
  type PrivateReplica,
} from './private-services.ts';
export { redisUrl, startRedis, stopRedis } from './redis.ts';
export {
  DEFAULT_REPLICA_DELAY_MS,
  removeReplica,
  replicaApplyDelay,
  replicaReplayed,
  setReplicaApplyDelay,
  startReplica,
  stopReplica,
  waitForReplay,
  type ReplicaOptions,
} from './replica.ts';
export {
  CLUSTER_BUS_OFFSET,
  clusterInfo,
  clusterNodes,
  failoverRedisCluster,
  killRedisClusterMaster,
  redisClusterMasterOf,
  redisClusterPids,
  redisClusterPorts,
  redisClusterUrls,
  startRedisCluster,
  stopRedisCluster,
  waitForRedisCluster,
  type ClusterNode,
  type RedisClusterOptions,
} from './redis-cluster.ts';

/** Options shared by every entry point; each has an environment override for scripts. */
export interface LocalServicesOptions {
  /** Folder (git-ignored) that holds data, logs and PID files. @default `<repo>/.local/services` or $PSC_LOCAL_DIR */
  readonly dir?: string;
  /** @default 54329 or $PSC_PG_PORT */
  readonly pgPort?: number;
  /** @default 63799 or $PSC_REDIS_PORT */
  readonly redisPort?: number;
  /** Also start a streaming replica of the Postgres (a region's read replica). @default false */
  readonly replica?: boolean;
  /** @default 54330 or $PSC_REPLICA_PORT */
  readonly replicaPort?: number;
  /**
   * The replica's replay delay (`recovery_min_apply_delay`), also applied to a running replica.
   * @default 1500 for a new replica (an existing one keeps its own), or $PSC_REPLICA_DELAY_MS
   */
  readonly replicaDelayMs?: number;
  /** Also start a second Redis (a second region's). @default false */
  readonly secondRedis?: boolean;
  /** @default 63800 or $PSC_SECOND_REDIS_PORT */
  readonly secondRedisPort?: number;
  /** Also start a Redis Cluster: three masters with a replica each. @default false */
  readonly cluster?: boolean;
  /** The first of the cluster's six consecutive ports. @default 63801 or $PSC_CLUSTER_PORT */
  readonly clusterPort?: number;
  /** Progress lines (apt-get, initdb, starts). @default silent */
  readonly log?: (line: string) => void;
}

/** The running services and whether this call started them (so the caller knows whether to stop them). */
export interface LocalServices {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** The replica's URL, when asked for with `replica`. */
  readonly replicaUrl: string | undefined;
  /** The second Redis' URL, when asked for with `secondRedis`. */
  readonly secondRedisUrl: string | undefined;
  /** The URLs of the cluster's six nodes, when asked for with `cluster`. */
  readonly clusterUrls: readonly string[] | undefined;
  readonly dir: string;
  readonly started: {
    readonly postgres: boolean;
    readonly redis: boolean;
    readonly replica: boolean;
    readonly secondRedis: boolean;
    /** True when any of the cluster's nodes was started (the others were running). */
    readonly cluster: boolean;
  };
}

/** The repository root, found from this file's place in it. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

function envNumber(name: string): number | undefined {
  const value = process.env[name];
  return value === undefined ? undefined : Number(value);
}

function resolve(options: LocalServicesOptions) {
  return {
    dir: options.dir ?? process.env['PSC_LOCAL_DIR'] ?? join(repoRoot, '.local', 'services'),
    pgPort: options.pgPort ?? envNumber('PSC_PG_PORT') ?? 54329,
    redisPort: options.redisPort ?? envNumber('PSC_REDIS_PORT') ?? 63799,
    replicaPort: options.replicaPort ?? envNumber('PSC_REPLICA_PORT') ?? 54330,
    replicaDelayMs: options.replicaDelayMs ?? envNumber('PSC_REPLICA_DELAY_MS'),
    secondRedisPort: options.secondRedisPort ?? envNumber('PSC_SECOND_REDIS_PORT') ?? 63800,
    clusterPort: options.clusterPort ?? envNumber('PSC_CLUSTER_PORT') ?? 63801,
    log: options.log ?? (() => undefined),
  };
}

// The folder layout, in one place: what start, stop and status each find under `dir`.
const folders = (dir: string) => ({
  postgres: join(dir, 'postgres'),
  redis: join(dir, 'redis'),
  replica: join(dir, 'replica'),
  secondRedis: join(dir, 'redis-2'),
  cluster: join(dir, 'redis-cluster'),
});

// Two starters at once (a test run and the demo) must not both initdb the same folder.
async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(dir, '.lock');
  await mkdir(dir, { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch {
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > 120_000) await rm(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`could not lock ${lock}`);
      else await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/**
 * Installs (apt-get, as root) and starts Postgres and Redis, and the replica, second Redis and
 * cluster when asked for, or reuses the running ones. Idempotent.
 */
export async function startServices(options: LocalServicesOptions = {}): Promise<LocalServices> {
  const config = resolve(options);
  const { dir, log } = config;
  const at = folders(dir);
  const skipped = Promise.resolve(undefined);
  return withLock(dir, async () => {
    const primary = startPostgres({ dir: at.postgres, port: config.pgPort, log });
    const [pgResult, redisResult, replica, secondRedis, cluster] = await Promise.all([
      primary,
      startRedis({ dir: at.redis, port: config.redisPort, log }),
      // The replica's base backup needs its primary up.
      options.replica === true
        ? primary.then(() =>
            startReplica({
              dir: at.replica,
              port: config.replicaPort,
              primaryUrl: postgresUrl(config.pgPort),
              log,
              ...(config.replicaDelayMs === undefined
                ? {}
                : { applyDelayMs: config.replicaDelayMs }),
            }),
          )
        : skipped,
      options.secondRedis === true
        ? startRedis({ dir: at.secondRedis, port: config.secondRedisPort, log })
        : skipped,
      options.cluster === true
        ? startRedisCluster({ dir: at.cluster, firstPort: config.clusterPort, log })
        : skipped,
    ]);
    return {
      databaseUrl: postgresUrl(config.pgPort),
      redisUrl: redisUrl(config.redisPort),
      replicaUrl: replica && postgresUrl(config.replicaPort),
      secondRedisUrl: secondRedis && redisUrl(config.secondRedisPort),
      clusterUrls: cluster && redisClusterUrls(config.clusterPort),
      dir,
      started: {
        postgres: pgResult.started,
        redis: redisResult.started,
        replica: replica?.started ?? false,
        secondRedis: secondRedis?.started ?? false,
        cluster: cluster?.started ?? false,
      },
    };
  });
}

/** Stops every service running from the folder, by PID. Safe when they are not running. */
export async function stopServices(options: LocalServicesOptions = {}): Promise<void> {
  const { dir, clusterPort } = resolve(options);
  const at = folders(dir);
  await withLock(dir, async () => {
    await Promise.all([
      // Before its primary, which would otherwise wait for it to receive the shutdown checkpoint.
      stopReplica(at.replica).then(() => stopPostgres(at.postgres)),
      stopRedis(at.redis),
      stopRedis(at.secondRedis),
      stopRedisCluster(at.cluster, clusterPort),
    ]);
  });
}

/** Stops what `services` says its start started, and leaves what it found running. */
export async function stopStartedServices(services: LocalServices): Promise<void> {
  const at = folders(services.dir);
  const { started } = services;
  const clusterPort = services.clusterUrls?.[0];
  await withLock(services.dir, async () => {
    await Promise.all([
      (started.replica ? stopReplica(at.replica) : Promise.resolve()).then(() =>
        started.postgres ? stopPostgres(at.postgres) : undefined,
      ),
      started.redis ? stopRedis(at.redis) : undefined,
      started.secondRedis ? stopRedis(at.secondRedis) : undefined,
      started.cluster && clusterPort !== undefined
        ? stopRedisCluster(at.cluster, Number(new URL(clusterPort).port))
        : undefined,
    ]);
  });
}

/** PIDs of the services running from the folder (undefined: not running). */
export interface ServicesStatus {
  readonly postgres: number | undefined;
  readonly redis: number | undefined;
  readonly replica: number | undefined;
  readonly secondRedis: number | undefined;
  /** One per node, in port order. */
  readonly cluster: readonly (number | undefined)[];
}

/** PIDs of the services running from the folder, if any. */
export async function servicesStatus(options: LocalServicesOptions = {}): Promise<ServicesStatus> {
  const { dir, clusterPort } = resolve(options);
  const at = folders(dir);
  const [postgres, redis, replica, secondRedis, cluster] = await Promise.all([
    postgresPid(at.postgres),
    redisPid(at.redis),
    replicaPid(at.replica),
    redisPid(at.secondRedis),
    redisClusterPids(at.cluster, clusterPort),
  ]);
  return { postgres, redis, replica, secondRedis, cluster };
}

/** Connection URLs for the configured ports, whether or not the services run. */
export function serviceUrls(options: LocalServicesOptions = {}): {
  databaseUrl: string;
  redisUrl: string;
  replicaUrl: string;
  secondRedisUrl: string;
  clusterUrls: string[];
} {
  const config = resolve(options);
  return {
    databaseUrl: postgresUrl(config.pgPort),
    redisUrl: redisUrl(config.redisPort),
    replicaUrl: postgresUrl(config.replicaPort),
    secondRedisUrl: redisUrl(config.secondRedisPort),
    clusterUrls: redisClusterUrls(config.clusterPort),
  };
}
