import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { aptInstall } from './apt.ts';
import { isRunning, readPid, run, stopPid, waitUntil } from './process.ts';

/** Where and how the throwaway Redis runs. */
export interface RedisOptions {
  readonly dir: string;
  readonly port: number;
  readonly log: (line: string) => void;
  /** More `redis-server` arguments (a cluster node's `--cluster-enabled yes` …). @default none */
  readonly args?: readonly string[];
}

const REDIS_SERVER_PATHS = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'];

async function ensureBinary(log: (line: string) => void): Promise<string> {
  const found = REDIS_SERVER_PATHS.find((p) => existsSync(p));
  if (found !== undefined) return found;
  await aptInstall(['redis-server'], log);
  const installed = REDIS_SERVER_PATHS.find((p) => existsSync(p));
  if (installed === undefined) throw new Error('redis-server installed but not found');
  return installed;
}

/** The connection URL of the Redis on `port`. */
export function redisUrl(port: number): string {
  return `redis://127.0.0.1:${port}`;
}

/** Runs `fn` on a new connection to the Redis on `port` that fails at once instead of retrying. */
export async function withRedis<T>(port: number, fn: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

function answers(port: number): Promise<boolean> {
  return withRedis(port, (client) => client.ping()).then(
    () => true,
    () => false,
  );
}

/** PID of the Redis running from `dir`, or undefined (a stale pid file counts as not running). */
export async function redisPid(dir: string): Promise<number | undefined> {
  const pid = await readPid(join(dir, 'redis.pid'));
  return pid !== undefined && (await isRunning(pid, 'redis-server')) ? pid : undefined;
}

/** Starts (or reuses) Redis and resolves once it answers PING. */
export async function startRedis(
  options: RedisOptions,
): Promise<{ pid: number; started: boolean }> {
  const { dir, port, log } = options;
  const running = await redisPid(dir);
  if (running !== undefined) {
    await waitUntil(`redis on port ${port}`, () => answers(port), 10_000);
    return { pid: running, started: false };
  }
  const binary = await ensureBinary(log);
  await mkdir(dir, { recursive: true });
  await run(binary, [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'yes',
    '--dir',
    dir,
    '--pidfile',
    join(dir, 'redis.pid'),
    '--logfile',
    join(dir, 'redis.log'),
    ...(options.args ?? []),
  ]);
  log(`redis starting on port ${port}`);
  await waitUntil(
    `redis on port ${port} (see ${join(dir, 'redis.log')})`,
    () => answers(port),
    10_000,
  );
  const pid = await redisPid(dir);
  if (pid === undefined)
    throw new Error(`redis answered on port ${port} but ${dir}/redis.pid is missing`);
  return { pid, started: true };
}

/** Stops the Redis running from `dir`, by the PID in its pid file. */
export async function stopRedis(dir: string): Promise<void> {
  const pid = await redisPid(dir);
  if (pid !== undefined) await stopPid(pid, 'redis-server', 'SIGTERM');
}
