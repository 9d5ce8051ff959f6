import { createServer } from 'node:net';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, servicesStatus, startServices, stopServices } from './index.ts';
import { waitUntil } from './process.ts';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function rowCount(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('SELECT 1')).rowCount ?? 0;
  } finally {
    await client.end();
  }
}

describe('local services', () => {
  const dir = join(repoRoot, '.local', `test-services-${randomBytes(4).toString('hex')}`);
  afterAll(async () => {
    await stopServices({ dir });
    await rm(dir, { recursive: true, force: true });
  });

  it('starts, reuses running services, survives stale PID files and stops by PID', async () => {
    const options = { dir, pgPort: await freePort(), redisPort: await freePort() };
    const first = await startServices(options);
    expect(first.started).toEqual({ postgres: true, redis: true });
    expect(await rowCount(first.databaseUrl)).toBe(1);

    const second = await startServices(options);
    expect(second.started).toEqual({ postgres: false, redis: false });

    // A crash leaves PID files behind; the next start must notice they are stale.
    const pids = await servicesStatus(options);
    process.kill(pids.postgres ?? 0, 'SIGKILL');
    process.kill(pids.redis ?? 0, 'SIGKILL');
    await waitUntil(
      'killed services to be gone',
      async () => {
        const now = await servicesStatus(options);
        return now.postgres === undefined && now.redis === undefined;
      },
      10_000,
    );
    const third = await startServices(options);
    expect(third.started).toEqual({ postgres: true, redis: true });
    expect(await rowCount(third.databaseUrl)).toBe(1);

    await stopServices(options);
    expect(await servicesStatus(options)).toEqual({ postgres: undefined, redis: undefined });
  });
});
