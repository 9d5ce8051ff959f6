// Where the demo's Postgres and Redis come from, and whether the demo must stop them afterwards.
import { join } from 'node:path';
import { startServices, stopPostgres, stopRedis } from '@pg-static-cache/local-services';
import type { DemoConfig } from './config.ts';
import { formatMs, type Narrator } from './narrator.ts';

/** The services in use; `release()` stops only what this run started. */
export interface DemoServices {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** What `release()` will stop, for the --keep message. */
  readonly startedHere: readonly string[];
  release(): Promise<void>;
}

/** Uses the configured services, or installs/starts (or reuses) the local ones. */
export async function acquireServices(config: DemoConfig, log: Narrator): Promise<DemoServices> {
  if (config.services !== undefined) {
    log.line(
      `services: DATABASE_URL=${config.services.databaseUrl} REDIS_URL=${config.services.redisUrl} (from the environment)`,
    );
    return { ...config.services, startedHere: [], release: () => Promise.resolve() };
  }
  const began = performance.now();
  const services = await startServices({ log: (line) => log.detail(line) });
  const how = (started: boolean): string => (started ? 'started' : 'already running');
  log.line(
    `services: Postgres ${services.databaseUrl} (${how(services.started.postgres)}), Redis ${services.redisUrl} (${how(services.started.redis)}) in ${formatMs(performance.now() - began)}`,
  );
  // The folder layout is local-services' own: <dir>/postgres and <dir>/redis.
  const startedHere = [
    ...(services.started.postgres ? ['Postgres'] : []),
    ...(services.started.redis ? ['Redis'] : []),
  ];
  return {
    databaseUrl: services.databaseUrl,
    redisUrl: services.redisUrl,
    startedHere,
    async release() {
      if (services.started.postgres) await stopPostgres(join(services.dir, 'postgres'));
      if (services.started.redis) await stopRedis(join(services.dir, 'redis'));
      if (startedHere.length > 0)
        log.line(`stopped ${startedHere.join(' and ')} (this run started them)`);
    },
  };
}
