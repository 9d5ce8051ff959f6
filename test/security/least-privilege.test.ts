// Every process runs with exactly the access docs/security.md documents: the Redis users of
// deploy/redis-users.acl on a private Redis whose default user is switched off, and login roles
// with only the grants of deploy/postgres-grants.sql. Caches must still equal the table after each
// commit and a failover, nothing may be refused along the way (ACL LOG stays empty), and every
// write a role does not need must be refused.
import { quoteIdent } from '@pg-static-cache/postgres';
import { namesFor, type Names } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  aclDenials,
  createPostgresRoles,
  type AclDenial,
  createRedisUsers,
  type PostgresRole,
  type PostgresRoles,
  type RedisRole,
  type RedisUser,
} from '../support/fixtures/least-privilege.ts';
import { startPrivateRedis, type PrivateRedis } from '../support/fixtures/private-redis.ts';
import {
  createTestSchema,
  tableDigest,
  uniqueName,
  waitFor,
  type TestSchema,
} from '../support/index.ts';
import { expectOneLineFailure } from '../support/cli-failure.ts';
import { runCli, spawnCli, type ChildEnv, type SpawnedProcess } from '../support/process.ts';

// A cold `tsx` start on two busy cores can take seconds; this test starts six processes.
const START_TIMEOUT_MS = 30_000;
const TEST_TIMEOUT_MS = 180_000;

let redis: PrivateRedis;
let admin: Redis;
let schema: TestSchema;
let postgres: PostgresRoles;
let users: Readonly<Record<RedisRole, RedisUser>>;
let names: Names;
/** `--namespace`, `--channel` and `--function-name` of this deployment. */
let naming: readonly string[];

beforeAll(async () => {
  redis = await startPrivateRedis();
  // As in production, nobody may use Redis without a user of their own: the test's own commands
  // go through an admin user, and a process that forgot its credentials fails instead of passing.
  const adminPassword = uniqueName('admin');
  const setup = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  await setup.call('ACL', 'SETUSER', 'test-admin', 'on', `>${adminPassword}`, '~*', '&*', '+@all');
  await setup.call('ACL', 'SETUSER', 'default', 'off');
  setup.disconnect();
  const adminUrl = new URL(redis.url);
  adminUrl.username = 'test-admin';
  adminUrl.password = adminPassword;
  admin = new Redis(adminUrl.toString(), { maxRetriesPerRequest: 1 });

  names = namesFor(uniqueName('ns'));
  users = await createRedisUsers(admin, redis.url, names.namespace);

  schema = await createTestSchema('psc_least');
  postgres = await createPostgresRoles(schema.pool, schema.url, schema.schema);
  const installer = new pg.Client({ connectionString: postgres.roles.installer.url });
  await installer.connect();
  await installer.query(`
    CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL);
    INSERT INTO items VALUES (1, 'one'), (2, 'two');
  `);
  await installer.end();
  await postgres.grantTable(schema.schema, 'items');

  const channel = uniqueName('psc_least');
  naming = [
    '--namespace',
    names.namespace,
    '--channel',
    channel,
    '--function-name',
    `${schema.schema}.${channel}`,
  ];
  const install = await runCli(['install', '--table', 'items', ...naming.slice(2)], {
    env: { DATABASE_URL: postgres.roles.installer.url },
  });
  expect(install).toMatchObject({ code: 0, stderr: '' });
}, 120_000);

afterAll(async () => {
  admin.disconnect();
  await postgres[Symbol.asyncDispose]();
  await schema[Symbol.asyncDispose]();
  await redis[Symbol.asyncDispose]();
});

/** The environment of a process that logs in as `pgRole` to Postgres and `redisRole` to Redis. */
function as(pgRole: PostgresRole, redisRole: RedisRole): ChildEnv {
  return { DATABASE_URL: postgres.roles[pgRole].url, REDIS_URL: users[redisRole].url };
}

/** The `started` line of a bridge or worker process. */
async function started(proc: SpawnedProcess): Promise<{ role?: string; http: string }> {
  const line = await proc.waitForLine((l) => l.includes('"event":"started"'), {
    timeoutMs: START_TIMEOUT_MS,
  });
  return JSON.parse(line) as { role?: string; http: string };
}

/**
 * Waits until the process serving `/metrics` at `http` counts a completed reload job and no
 * failed one: its worker, with its own Redis user, stored a snapshot and announced it.
 */
async function waitForCompletedJobs(http: string): Promise<void> {
  const count = (text: string, outcome: string) => {
    const line = new RegExp(`^psc_reload_jobs_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm');
    return Number(line.exec(text)?.[1] ?? 0);
  };
  let text = '';
  await waitFor(`a completed reload job at ${http}`, async () => {
    text = await (await fetch(`${http}/metrics`)).text();
    return count(text, 'completed') > 0;
  });
  expect(count(text, 'failed') + count(text, 'retried')).toBe(0);
}

/** Runs `scenario`; a failure also says what Redis refused, the likeliest cause here. */
async function explainingDenials(scenario: () => Promise<void>): Promise<void> {
  try {
    await scenario();
  } catch (error) {
    const denials = await aclDenials(admin).catch(() => []);
    if (error instanceof Error) error.message += `\nACL LOG: ${JSON.stringify(denials)}`;
    throw error;
  }
}

/** Resolves once `watch` printed a version whose digest is the table's as Postgres holds it now. */
async function follows(watch: SpawnedProcess, from: number): Promise<void> {
  const digest = await tableDigest(schema.pool, 'items');
  await watch.waitForLine((l) => (JSON.parse(l) as { digest?: string }).digest === digest, {
    from,
  });
}

describe('least privilege', () => {
  it(
    'apps in redis and snapshot mode, two bridges, a worker, status and resync work with exactly the documented access',
    () =>
      explainingDenials(async () => {
        await admin.call('ACL', 'LOG', 'RESET');
        const boardPassword = uniqueName('board');
        const bridge = (id: string, ...extra: string[]) =>
          spawnCli(
            [
              'bridge',
              ...naming,
              '--bridge-id',
              id,
              '--http-port',
              '0',
              '--log-level',
              'warn',
              ...extra,
            ],
            { env: { ...as('bridge', 'bridge'), PSC_BOARD_PASSWORD: boardPassword } },
          );
        // The leader runs no worker: until the standby starts, the worker process (its own
        // user) is the only one that stores snapshots.
        await using leader = bridge('a', '--no-worker');
        const leaderStarted = await started(leader);
        expect(leaderStarted).toMatchObject({ role: 'leader' });
        await using worker = spawnCli(
          ['worker', '--namespace', names.namespace, '--http-port', '0', '--log-level', 'warn'],
          { env: as('worker', 'worker') },
        );
        const workerHttp = (await started(worker)).http;

        const watch = (mode: string) =>
          spawnCli(['watch', '--mode', mode, '--table', 'items', '--namespace', names.namespace], {
            env: as('app', 'app'),
          });
        await using redisMode = watch('redis');
        await using snapshotMode = watch('snapshot');
        for (const app of [redisMode, snapshotMode]) {
          await follows(app, 0);
          await app.waitForLine((l) => l.includes('"status":"ready"'), { stream: 'stderr' });
        }

        const commit = async (sql: string) => {
          const from = [redisMode.lines.length, snapshotMode.lines.length] as const;
          await schema.pool.query(sql);
          await follows(redisMode, from[0]);
          await follows(snapshotMode, from[1]);
        };
        await commit(`UPDATE items SET label = 'changed' WHERE id = 2`);
        await commit(`INSERT INTO items VALUES (3, 'three')`);
        await commit(`DELETE FROM items WHERE id = 1`);
        await waitForCompletedJobs(workerHttp);

        // Bull Board, fully usable with its password, reads and pauses the queue through the
        // bridge's user.
        const board = (path: string, method = 'GET') =>
          fetch(`${leaderStarted.http}/queues/api/queues${path}`, {
            method,
            headers: {
              authorization: `Basic ${Buffer.from(`admin:${boardPassword}`).toString('base64')}`,
            },
          });
        const queues = await board('');
        expect(queues.status).toBe(200);
        expect(await queues.text()).toContain(`"name":"${names.queue}"`);
        for (const action of ['pause', 'resume'])
          expect((await board(`/${names.queue}/${action}`, 'PUT')).status, action).toBe(200);

        // The operator's commands with the ops user, and the app's Postgres role (catalogs only).
        const ops = as('app', 'ops');
        const status = await runCli(['status', '--json', ...naming], { env: ops });
        expect(status).toMatchObject({ code: 0, stderr: '' });
        expect(JSON.parse(status.stdout)).toMatchObject({ ok: true, leader: { bridge: 'a' } });
        const resync = await runCli(['resync', '--namespace', names.namespace], { env: ops });
        expect(resync).toMatchObject({ code: 0, stderr: '' });
        expect(resync.stdout).toMatch(/^resync published by a /);

        // The standby runs a worker in-process (the default), as the bridge user; with the worker
        // process gone, it alone stores snapshots from now on.
        await using standby = bridge('b');
        const standbyStarted = await started(standby);
        expect(standbyStarted).toMatchObject({ role: 'standby' });
        expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });

        // A frozen leader is fenced by the standby with pg_terminate_backend: allowed because both
        // log in as the same role, without pg_signal_backend.
        leader.child.kill('SIGSTOP');
        try {
          await standby.waitForLine((l) => l.includes('terminating its backend'), {
            stream: 'stderr',
          });
          await standby.waitForLine((l) => l.includes('"event":"term"'), { timeoutMs: 15_000 });
          await commit(`UPDATE items SET label = 'after the failover' WHERE id = 3`);
          await waitForCompletedJobs(standbyStarted.http);
        } finally {
          leader.child.kill('SIGCONT');
        }

        // Nothing else was refused along the way (a refused command that the product tolerated
        // would show here). These refusals are by design (docs/security.md): ioredis' optional
        // CLIENT SETINFO (unknown to Redis 7.0, refused on 7.2+); Bull Board's list of workers,
        // which needs CLIENT LIST (every connection to Redis).
        const byDesign = (d: AclDenial) =>
          d.object === 'client|setinfo' ||
          (d.object === 'client|list' && d.username === users.bridge.name);
        const denials = await aclDenials(admin);
        expect(denials.filter((d) => !byDesign(d))).toEqual([]);
        for (const proc of [redisMode, snapshotMode, standby])
          expect(await proc.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      }),
    TEST_TIMEOUT_MS,
  );

  it('refuses every Redis command a role does not need', async () => {
    const table = `${schema.schema}.items`;
    const { events, control, leader } = names;
    const snapshot = names.snapshot(table);
    const queueKey = `bull:${names.queue}:wait`;
    const setLeaderByScript = ['EVAL', "return redis.call('SET', KEYS[1], 'x')", '1', leader];
    const refused: Record<RedisRole, readonly (readonly string[])[]> = {
      // Read-only: no forged snapshot, no forged message, nothing outside its snapshot keys.
      app: [
        ['SET', snapshot, '{}'],
        ['PUBLISH', events, '{}'],
        ['DEL', snapshot],
        ['GET', leader],
        ['SUBSCRIBE', control],
        ['EVAL', 'return 1', '0'],
        ['KEYS', '*'],
        ['FLUSHALL'],
      ],
      // Snapshots and the queue, but not leadership, control, other keys or the server.
      worker: [
        ['SET', leader, '{}'],
        setLeaderByScript,
        ['PUBLISH', control, '{}'],
        ['SET', 'elsewhere', '1'],
        ['KEYS', '*'],
        ['SCAN', '0'],
        ['FLUSHALL'],
        ['CONFIG', 'GET', 'maxmemory-policy'],
        ['CLIENT', 'LIST'],
      ],
      bridge: [
        ['SET', 'elsewhere', '1'],
        ['PUBLISH', 'elsewhere', '{}'],
        ['KEYS', '*'],
        ['FLUSHDB'],
        ['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru'],
        ['MONITOR'],
      ],
      // Reads status and asks for a resync; changes nothing else.
      ops: [
        ['SET', leader, '{}'],
        ['HSET', `${names.namespace}:status`, 'x', '1'],
        ['PUBLISH', events, '{}'],
        ['GET', snapshot],
        // It counts the reload queue's jobs (status) but cannot read a job or pause the queue.
        ['HGETALL', `bull:${names.queue}:1`],
        ['HSET', `bull:${names.queue}:meta`, 'paused', '1'],
        ['LPUSH', queueKey, 'x'],
      ],
    };
    for (const role of Object.keys(refused) as RedisRole[]) {
      const client = new Redis(users[role].url, { maxRetriesPerRequest: 1 });
      try {
        for (const [command, ...args] of refused[role]) {
          if (command === undefined) continue;
          const answer = await client.call(command, ...args).then(
            () => 'allowed',
            (error: unknown) => (error instanceof Error ? error.message : String(error)),
          );
          expect(answer, `${role}: ${command} ${args.join(' ')}`).toMatch(/^NOPERM /);
        }
      } finally {
        client.disconnect();
      }
    }
    // What the app does need stays allowed (a NOPERM here rejects and fails the test).
    const app = new Redis(users.app.url, { maxRetriesPerRequest: 1 });
    try {
      await app.get(snapshot);
    } finally {
      app.disconnect();
    }
  });

  it('refuses every Postgres write the app, bridge and worker roles could make', async () => {
    for (const role of ['app', 'bridge', 'worker'] as const) {
      const client = new pg.Client({ connectionString: postgres.roles[role].url });
      await client.connect();
      try {
        await expect(client.query('SELECT count(*) FROM items')).resolves.toBeDefined();
        for (const sql of [
          `INSERT INTO items VALUES (100, 'forged')`,
          `UPDATE items SET label = 'forged'`,
          `DELETE FROM items`,
          `TRUNCATE items`,
          `ALTER TABLE items DISABLE TRIGGER ALL`,
        ]) {
          await expect(client.query(sql), `${role}: ${sql}`).rejects.toMatchObject({
            code: '42501',
          });
        }
      } finally {
        await client.end();
      }
    }
    // Triggers are the installer's (the table's owner): the app's role cannot install them.
    const install = await runCli(['install', '--table', 'items', ...naming.slice(2)], {
      env: { DATABASE_URL: postgres.roles.app.url },
    });
    expectOneLineFailure(install, /owner|permission denied/);
  });

  it('pg_terminate_backend of a leader session needs the same role or pg_signal_backend', async () => {
    const connect = async (role: PostgresRole) => {
      const client = new pg.Client({ connectionString: postgres.roles[role].url });
      await client.connect();
      return client;
    };
    const terminate = (client: pg.Client, pid: number) =>
      client.query('SELECT pg_catalog.pg_terminate_backend($1)', [pid]);
    const pidOf = async (client: pg.Client) =>
      Number((await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid);

    const leaderSession = await connect('bridge');
    leaderSession.on('error', () => undefined);
    const pid = await pidOf(leaderSession);
    const other = await connect('worker');
    const sameRole = await connect('bridge');
    try {
      await expect(terminate(other, pid)).rejects.toMatchObject({ code: '42501' });
      await schema.pool.query(
        `GRANT pg_signal_backend TO ${quoteIdent(postgres.roles.worker.name)}`,
      );
      const leaderSession2 = await connect('bridge');
      leaderSession2.on('error', () => undefined);
      const pid2 = await pidOf(leaderSession2);
      await expect(terminate(other, pid2)).resolves.toMatchObject({
        rows: [{ pg_terminate_backend: true }],
      });
      await expect(terminate(sameRole, pid)).resolves.toMatchObject({
        rows: [{ pg_terminate_backend: true }],
      });
      await leaderSession2.end().catch(() => undefined);
    } finally {
      await schema.pool.query(
        `REVOKE pg_signal_backend FROM ${quoteIdent(postgres.roles.worker.name)}`,
      );
      for (const client of [leaderSession, other, sameRole])
        await client.end().catch(() => undefined);
    }
  });
});
