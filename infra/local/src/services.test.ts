import { spawn } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { freePort, freeRedisClusterPort } from './free-port.ts';
import {
  clusterInfo,
  repoRoot,
  servicesStatus,
  startServices,
  stopServices,
  type LocalServices,
  type LocalServicesOptions,
  type ServicesStatus,
} from './index.ts';
import { isRunning, waitUntil } from './process.ts';

async function rowCount(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('SELECT 1')).rowCount ?? 0;
  } finally {
    await client.end();
  }
}

/** PIDs of the live children of `pid` (from /proc: no procps needed). */
async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const text = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so split after the last ')'.
    const ppid = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) children.push(Number(entry));
  }
  return children;
}

function signal(pids: readonly number[], name: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, name);
    } catch {
      // Already gone.
    }
  }
}

type Started = LocalServices['started'];
/** `started` with the given services true and every other one false. */
const only = (started: Partial<Started>): Started => ({
  postgres: false,
  redis: false,
  replica: false,
  secondRedis: false,
  cluster: false,
  ...started,
});
const stopped = {
  postgres: undefined,
  redis: undefined,
  replica: undefined,
  secondRedis: undefined,
  cluster: Array.from({ length: 6 }, () => undefined),
};
const equalsStopped = (status: ServicesStatus) =>
  [status.postgres, status.redis, status.replica, status.secondRedis, ...status.cluster].every(
    (pid) => pid === undefined,
  );

/** True when `replicaUrl` is a hot standby streaming from the server at `primaryUrl`. */
async function isReplicaOf(replicaUrl: string | undefined, primaryUrl: string): Promise<boolean> {
  const ask = async (url: string, sql: string): Promise<unknown> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<{ value: unknown }>(sql)).rows[0]?.value;
    } finally {
      await client.end();
    }
  };
  if (replicaUrl === undefined) return false;
  const identity = 'SELECT system_identifier::text AS value FROM pg_control_system()';
  return (
    (await ask(replicaUrl, 'SELECT pg_is_in_recovery() AS value')) === true &&
    (await ask(replicaUrl, identity)) === (await ask(primaryUrl, identity))
  );
}

async function ping(url: string | undefined): Promise<string> {
  const client = new Redis(url ?? '', { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await client.connect();
    return await client.ping();
  } finally {
    client.disconnect();
  }
}

describe('local services', () => {
  // Each test has its own folder (and free ports): the shared services are never touched.
  const dirs: string[] = [];
  const newOptions = async (): Promise<LocalServicesOptions & { dir: string }> => {
    const dir = join(repoRoot, '.local', `test-services-${randomBytes(4).toString('hex')}`);
    dirs.push(dir);
    return {
      dir,
      pgPort: await freePort(),
      redisPort: await freePort(),
      replicaPort: await freePort(),
      secondRedisPort: await freePort(),
      clusterPort: await freeRedisClusterPort(),
    };
  };
  afterAll(async () => {
    for (const dir of dirs) {
      await stopServices({ dir });
      await rm(dir, { recursive: true, force: true });
    }
  });

  /** Starts the services of `options` and SIGKILLs their Postgres; returns its children, alive. */
  async function killPostgres(
    options: LocalServicesOptions,
    beforeKill?: (children: number[]) => void,
  ) {
    await startServices(options);
    const { postgres } = await servicesStatus(options);
    if (postgres === undefined) throw new Error('postgres is not running');
    const children = await childrenOf(postgres);
    beforeKill?.(children);
    process.kill(postgres, 'SIGKILL');
    await waitUntil(
      'the killed postmaster to be gone',
      async () => (await servicesStatus(options)).postgres === undefined,
      10_000,
    );
    return children;
  }

  it('starts, reuses running services, survives stale PID files and stops by PID', async () => {
    const options = await newOptions();
    const first = await startServices(options);
    expect(first.started).toEqual(only({ postgres: true, redis: true }));
    expect(first.replicaUrl).toBeUndefined();
    expect(await rowCount(first.databaseUrl)).toBe(1);

    const second = await startServices(options);
    expect(second.started).toEqual(only({}));

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
    expect(third.started).toEqual(only({ postgres: true, redis: true }));
    expect(await rowCount(third.databaseUrl)).toBe(1);

    await stopServices(options);
    expect(await servicesStatus(options)).toEqual(stopped);
  });

  it('starts the replica, second Redis and cluster only when asked, reuses them and stops them by PID', async () => {
    const options = await newOptions();
    const extras = { ...options, replica: true, secondRedis: true, cluster: true };
    const first = await startServices(extras);
    expect(first.started).toEqual(
      only({ postgres: true, redis: true, replica: true, secondRedis: true, cluster: true }),
    );
    await expect(isReplicaOf(first.replicaUrl, first.databaseUrl)).resolves.toBe(true);
    expect(await ping(first.secondRedisUrl)).toBe('PONG');
    expect(first.clusterUrls).toHaveLength(6);
    for (const url of first.clusterUrls ?? []) {
      expect((await clusterInfo(Number(new URL(url).port))).get('cluster_state')).toBe('ok');
    }
    expect((await startServices(extras)).started).toEqual(only({}));

    // SIGKILL everything: every PID file is stale, and the next start starts them all again.
    const pids = await servicesStatus(options);
    const all = [pids.postgres, pids.redis, pids.replica, pids.secondRedis, ...pids.cluster];
    expect(all.every((pid) => pid !== undefined)).toBe(true);
    signal(
      all.filter((pid) => pid !== undefined),
      'SIGKILL',
    );
    await waitUntil(
      'killed services to be gone',
      async () => equalsStopped(await servicesStatus(options)),
      10_000,
    );
    const again = await startServices(extras);
    expect(again.started).toEqual(
      only({ postgres: true, redis: true, replica: true, secondRedis: true, cluster: true }),
    );
    await expect(isReplicaOf(again.replicaUrl, again.databaseUrl)).resolves.toBe(true);

    await stopServices(options);
    expect(await servicesStatus(options)).toEqual(stopped);
  });

  it("waits for the killed server's processes to let go of its shared memory, then starts", async () => {
    const options = await newOptions();
    // Stopped children: what orphans that have not yet noticed their postmaster died look like.
    const orphans = await killPostgres(options, (children) => signal(children, 'SIGSTOP'));
    expect(orphans.length).toBeGreaterThan(0);
    const lines: string[] = [];
    try {
      const started = await startServices({
        ...options,
        log: (line) => {
          lines.push(line);
          // The start waits for them: now let them notice and exit.
          if (line.startsWith('waiting for')) signal(orphans, 'SIGCONT');
        },
      });
      expect(started.started.postgres).toBe(true);
      expect(await rowCount(started.databaseUrl)).toBe(1);
    } finally {
      signal(orphans, 'SIGCONT');
    }
    expect(lines.filter((line) => line.startsWith('waiting for'))).toHaveLength(1);
    // One start, after they were gone: no postmaster was spawned only to exit at once.
    expect(lines.filter((line) => line.startsWith('postgres starting'))).toHaveLength(1);
  });

  it('takes a postmaster.pid naming a live process that is not its server for stale', async () => {
    const options = await newOptions();
    await killPostgres(options);
    // The dead postmaster's PID reused by some other process that says "postgres" in its command
    // line, as every backend of every other cluster on the machine does.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)', 'postgres'], {
      stdio: 'ignore',
    });
    try {
      const pid = other.pid ?? 0;
      await waitUntil('the other process to run', () => isRunning(pid, 'postgres'), 10_000);
      const pidFile = join(options.dir, 'postgres', 'data', 'postmaster.pid');
      const lines = (await readFile(pidFile, 'utf8')).split('\n');
      await writeFile(pidFile, [String(pid), ...lines.slice(1)].join('\n'));

      const started = await startServices(options);
      expect(started.started.postgres).toBe(true);
      expect(await rowCount(started.databaseUrl)).toBe(1);
    } finally {
      other.kill('SIGKILL');
    }
  });
});
