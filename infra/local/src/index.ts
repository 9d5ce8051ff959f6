import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { postgresPid, postgresUrl, startPostgres, stopPostgres } from './postgres.ts';
import { redisPid, redisUrl, startRedis, stopRedis } from './redis.ts';

export { postgresUrl, startPostgres, stopPostgres } from './postgres.ts';
export { redisUrl, startRedis, stopRedis } from './redis.ts';

/** Options shared by every entry point; each has an environment override for scripts. */
export interface LocalServicesOptions {
  /** Folder (git-ignored) that holds data, logs and PID files. @default `<repo>/.local/services` or $PSC_LOCAL_DIR */
  readonly dir?: string;
  /** @default 54329 or $PSC_PG_PORT */
  readonly pgPort?: number;
  /** @default 63799 or $PSC_REDIS_PORT */
  readonly redisPort?: number;
  /** Progress lines (apt-get, initdb, starts). @default silent */
  readonly log?: (line: string) => void;
}

/** The running services and whether this call started them (so the caller knows whether to stop them). */
export interface LocalServices {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly dir: string;
  readonly started: { readonly postgres: boolean; readonly redis: boolean };
}

/** The repository root, found from this file's place in it. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

function resolve(options: LocalServicesOptions) {
  return {
    dir: options.dir ?? process.env['PSC_LOCAL_DIR'] ?? join(repoRoot, '.local', 'services'),
    pgPort: options.pgPort ?? Number(process.env['PSC_PG_PORT'] ?? 54329),
    redisPort: options.redisPort ?? Number(process.env['PSC_REDIS_PORT'] ?? 63799),
    log: options.log ?? (() => undefined),
  };
}

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

/** Installs (apt-get, as root) and starts Postgres and Redis, or reuses the running ones. Idempotent. */
export async function startServices(options: LocalServicesOptions = {}): Promise<LocalServices> {
  const { dir, pgPort, redisPort, log } = resolve(options);
  return withLock(dir, async () => {
    const [pgResult, redisResult] = await Promise.all([
      startPostgres({ dir: join(dir, 'postgres'), port: pgPort, log }),
      startRedis({ dir: join(dir, 'redis'), port: redisPort, log }),
    ]);
    return {
      databaseUrl: postgresUrl(pgPort),
      redisUrl: redisUrl(redisPort),
      dir,
      started: { postgres: pgResult.started, redis: redisResult.started },
    };
  });
}

/** Stops both services by PID. Safe when they are not running. */
export async function stopServices(options: LocalServicesOptions = {}): Promise<void> {
  const { dir } = resolve(options);
  await withLock(dir, () =>
    Promise.all([stopPostgres(join(dir, 'postgres')), stopRedis(join(dir, 'redis'))]).then(
      () => undefined,
    ),
  );
}

/** PIDs of the services running from the folder, if any. */
export async function servicesStatus(
  options: LocalServicesOptions = {},
): Promise<{ postgres: number | undefined; redis: number | undefined }> {
  const { dir } = resolve(options);
  return {
    postgres: await postgresPid(join(dir, 'postgres')),
    redis: await redisPid(join(dir, 'redis')),
  };
}

/** Connection URLs for the configured ports, whether or not the services run. */
export function serviceUrls(options: LocalServicesOptions = {}): {
  databaseUrl: string;
  redisUrl: string;
} {
  const { pgPort, redisPort } = resolve(options);
  return { databaseUrl: postgresUrl(pgPort), redisUrl: redisUrl(redisPort) };
}
