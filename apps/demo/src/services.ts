// Where the demo's Postgres and Redis come from (and, with --regions, region b's Redis and delayed
// read replica), and which of them the demo must stop afterwards.
import {
  startPrivateReplica,
  startServices,
  stopStartedServices,
} from '@pg-static-cache/local-services';
import { startPrivateRedis } from '@pg-static-cache/test-support/fixtures/private-redis';
import type { DemoConfig } from './config.ts';
import { formatMs, type Narrator } from './narrator.ts';

/** How far region b's replica lags behind the primary: long enough to be seen, short for a demo. */
export const REPLICA_DELAY_MS = 1_000;

/** The services in use; `release()` stops only what this run started. */
export interface DemoServices {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** With --regions: region b's Redis and its read replica (`postgres` superuser URL). */
  readonly regionB: { readonly redisUrl: string; readonly replicaUrl: string } | undefined;
  /** What `release()` will stop, for the --keep message. */
  readonly startedHere: readonly string[];
  release(): Promise<void>;
}

/** Uses the configured services, or installs/starts (or reuses) the local ones. */
export async function acquireServices(config: DemoConfig, log: Narrator): Promise<DemoServices> {
  const began = performance.now();
  if (config.services !== undefined) {
    log.line(
      `services: DATABASE_URL=${config.services.databaseUrl} REDIS_URL=${config.services.redisUrl} (from the environment)`,
    );
    if (!config.regions) {
      return {
        ...config.services,
        regionB: undefined,
        startedHere: [],
        release: () => Promise.resolve(),
      };
    }
    // Given services are not ours to reconfigure: region b gets a Redis and a replica of its own.
    const redis = await startPrivateRedis();
    const replica = await startPrivateReplica(config.services.databaseUrl, {
      delayMs: REPLICA_DELAY_MS,
    }).catch(async (error: unknown) => {
      await redis[Symbol.asyncDispose]();
      throw error;
    });
    log.line(
      `region b: Redis ${redis.url}, replica ${replica.url} replaying ${formatMs(REPLICA_DELAY_MS)} behind, started in ${formatMs(performance.now() - began)}`,
    );
    return {
      ...config.services,
      regionB: { redisUrl: redis.url, replicaUrl: replica.url },
      startedHere: ['region b Redis', 'replica'],
      async release() {
        await replica[Symbol.asyncDispose]();
        await redis[Symbol.asyncDispose]();
      },
    };
  }
  const regions = config.regions
    ? { secondRedis: true, replica: true, replicaDelayMs: REPLICA_DELAY_MS }
    : {};
  const services = await startServices({ log: (line) => log.detail(line), ...regions });
  const how = (started: boolean): string => (started ? 'started' : 'already running');
  const { started, secondRedisUrl, replicaUrl } = services;
  const regionLine =
    secondRedisUrl === undefined || replicaUrl === undefined
      ? ''
      : `; region b: Redis ${secondRedisUrl} (${how(started.secondRedis)}), replica ${replicaUrl} (${how(started.replica)}, ${formatMs(REPLICA_DELAY_MS)} behind)`;
  log.line(
    `services: Postgres ${services.databaseUrl} (${how(started.postgres)}), Redis ${services.redisUrl} (${how(started.redis)})${regionLine} in ${formatMs(performance.now() - began)}`,
  );
  const startedHere = [
    ...(started.postgres ? ['Postgres'] : []),
    ...(started.redis ? ['Redis'] : []),
    ...(started.secondRedis ? ['region b Redis'] : []),
    ...(started.replica ? ['replica'] : []),
  ];
  return {
    databaseUrl: services.databaseUrl,
    redisUrl: services.redisUrl,
    regionB:
      secondRedisUrl === undefined || replicaUrl === undefined
        ? undefined
        : { redisUrl: secondRedisUrl, replicaUrl },
    startedHere,
    async release() {
      await stopStartedServices(services);
      if (startedHere.length > 0)
        log.line(`stopped ${startedHere.join(', ')} (this run started them)`);
    },
  };
}
