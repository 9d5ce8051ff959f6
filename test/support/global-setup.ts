// Starts the local Postgres and Redis once per test run (or uses DATABASE_URL / REDIS_URL when given)
// and stops them afterwards if this run started them.
import { startServices, stopServices } from '@pg-static-cache/local-services';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = { databaseUrl: process.env['DATABASE_URL'], redisUrl: process.env['REDIS_URL'] };
  if (given.databaseUrl !== undefined && given.redisUrl !== undefined) {
    project.provide('databaseUrl', given.databaseUrl);
    project.provide('redisUrl', given.redisUrl);
    return () => Promise.resolve();
  }
  const services = await startServices({
    log: (line) => process.stderr.write(`[services] ${line}\n`),
  });
  project.provide('databaseUrl', services.databaseUrl);
  project.provide('redisUrl', services.redisUrl);
  return async () => {
    if (services.started.postgres || services.started.redis) await stopServices();
  };
}
