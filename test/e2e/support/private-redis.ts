// A Redis of one scenario's own, on a free port, which the scenario may stop and start at will
// without touching the shared one every other suite uses.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { redisUrl, repoRoot, startRedis, stopRedis } from '@pg-static-cache/local-services';
import { freePort } from '../../fixtures/private-postgres.ts';

/** A running private Redis; removed (stopped, folder deleted) on dispose. */
export interface PrivateRedis extends AsyncDisposable {
  readonly url: string;
  /** Stops it (SIGTERM, and nothing is saved: everything in it is lost). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

/** Starts a Redis in `<repo>/.local/test-redis-<random>` on a free port. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const dir = join(repoRoot, '.local', `test-redis-${randomBytes(4).toString('hex')}`);
  const options = { dir, port: await freePort(), log: () => undefined };
  const remove = async () => {
    await stopRedis(dir);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await startRedis(options);
  } catch (error) {
    await remove();
    throw error;
  }
  return {
    url: redisUrl(options.port),
    stop: () => stopRedis(dir),
    start: async () => {
      await startRedis(options);
    },
    [Symbol.asyncDispose]: remove,
  };
}
