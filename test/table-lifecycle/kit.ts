// Tables that go away and come back, as an operator does it: a `watch` process (any mode) caches
// `plans`; the test drops it, creates it again, renames it away and back, and swaps another table
// in under its name. One schema, channel and namespace per test; every process is a real one.
import { namesFor, type Names } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import {
  createTestSchema,
  redisUrl,
  tableDigest,
  uniqueName,
  type TestSchema,
} from '../support/index.ts';
import { runCli, spawnCli, type SpawnedProcess } from '../support/process.ts';

/** A cold `tsx` start on two busy cores can take seconds. */
export const START_TIMEOUT_MS = 30_000;
/** Each step waits for one event: a notification, a scheduled check, or a retry with backoff. */
const STEP_TIMEOUT_MS = 20_000;
/** Several processes and eight steps. */
export const TEST_TIMEOUT_MS = 180_000;

/** A schema with `plans` (two rows, its trigger installed), a channel and a namespace of its own. */
export interface LifecycleWorld extends AsyncDisposable {
  readonly schema: TestSchema;
  readonly channel: string;
  readonly names: Names;
  readonly env: Readonly<Record<string, string>>;
  /** `schema.plans`, as `watch` prints it. */
  readonly table: string;
  /** Runs `pg-static-cache install --table <tables> --channel <channel> [extra]`; expects exit 0. */
  install(tables: readonly string[], ...extra: string[]): Promise<void>;
  /** Spawns a `pg-static-cache` process of this world (killed on dispose). */
  spawn(args: readonly string[]): SpawnedProcess;
  /** Spawns `pg-static-cache watch --table plans --mode <mode>` with this world's naming. */
  watch(mode: 'direct' | 'redis' | 'snapshot'): SpawnedProcess;
  /** Spawns `pg-static-cache bridge` (fast timings) with this world's naming. */
  bridge(...extra: string[]): SpawnedProcess;
}

/** Creates the schema and `plans`, and installs its trigger. */
export async function createLifecycleWorld(prefix: string): Promise<LifecycleWorld> {
  const schema = await createTestSchema(prefix);
  const channel = uniqueName(`${prefix}_ch`);
  const names = namesFor(uniqueName('ns'));
  const env = { DATABASE_URL: schema.url, REDIS_URL: redisUrl() };
  // Functions in the test's schema: dropping it drops them, and the event trigger with them.
  const naming = ['--channel', channel, '--function-name', `"${schema.schema}".notify`];
  const processes: SpawnedProcess[] = [];
  const spawn = (args: readonly string[]): SpawnedProcess => {
    const proc = spawnCli(args, { env });
    processes.push(proc);
    return proc;
  };
  const world: LifecycleWorld = {
    schema,
    channel,
    names,
    env,
    table: `${schema.schema}.plans`,
    async install(tables, ...extra) {
      const run = await runCli(['install', '--table', ...tables, ...naming, ...extra], { env });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
    },
    spawn,
    watch: (mode) =>
      spawn([
        'watch',
        '--table',
        'plans',
        '--mode',
        mode,
        '--channel',
        channel,
        '--namespace',
        names.namespace,
      ]),
    bridge: (...extra) =>
      spawn([
        'bridge',
        '--namespace',
        names.namespace,
        ...naming,
        '--lease-ms',
        '1500',
        '--renew-ms',
        '500',
        '--heartbeat-ms',
        '500',
        '--http-port',
        '0',
        '--log-level',
        'warn',
        ...extra,
      ]),
    async [Symbol.asyncDispose]() {
      await Promise.all(processes.map((proc) => proc.stop('SIGKILL')));
      const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
      // Everything a bridge left under the namespace, and the reload queue's keys.
      for (const pattern of [`${names.namespace}:*`, `bull:${names.queue}:*`]) {
        for await (const keys of redis.scanStream({ match: pattern, count: 1000 })) {
          if ((keys as string[]).length > 0) await redis.del(...(keys as string[]));
        }
      }
      redis.disconnect();
      await schema[Symbol.asyncDispose]();
    },
  };
  try {
    await schema.pool.query(`
      CREATE TABLE plans (id int PRIMARY KEY, name text NOT NULL);
      INSERT INTO plans VALUES (1, 'free'), (2, 'pro');
    `);
    await world.install(['plans']);
  } catch (error) {
    await world[Symbol.asyncDispose]();
    throw error;
  }
  return world;
}

/** One JSON line of `watch` (stdout: a version; stderr: an event), or an empty object if not JSON. */
function fieldsOf(line: string): Readonly<Record<string, unknown>> {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Waits for `watch` to print a version of `plans` whose rows equal the table as it is now. */
export async function expectRowsOfTable(
  world: LifecycleWorld,
  watch: SpawnedProcess,
  from: number,
  what: string,
): Promise<void> {
  const digest = await tableDigest(world.schema.pool, 'plans');
  await watch
    .waitForLine(
      (line) => {
        const parsed = fieldsOf(line);
        return parsed['table'] === world.table && parsed['digest'] === digest;
      },
      { from, timeoutMs: STEP_TIMEOUT_MS },
    )
    .catch((error: unknown) => {
      throw new Error(`${what}: the cache never held the table's rows`, { cause: error });
    });
}

/** Waits for a `{"event":"stale"}` line of `plans` whose error matches `reason`. */
export async function expectStale(
  world: LifecycleWorld,
  watch: SpawnedProcess,
  from: number,
  reason: RegExp,
): Promise<string> {
  const line = await watch.waitForLine(
    (text) => {
      const { event, table, error } = fieldsOf(text);
      return (
        event === 'stale' &&
        table === world.table &&
        typeof error === 'string' &&
        reason.test(error)
      );
    },
    { stream: 'stderr', from, timeoutMs: STEP_TIMEOUT_MS },
  );
  return String(fieldsOf(line)['error']);
}

/** What a mode checks beyond what `watch` prints. */
export interface LifecycleChecks {
  /** After the drop was reported (e.g. snapshot mode: the stored snapshot is gone). */
  readonly afterDrop?: () => Promise<void>;
}

/**
 * The whole life of `plans` against a started `watch` that holds its first version: each step
 * ends only when `watch` says what a user must see (a stale line with the reason, or the rows the
 * table holds now).
 */
export async function followPlansThroughItsLife(
  world: LifecycleWorld,
  watch: SpawnedProcess,
  checks: LifecycleChecks = {},
): Promise<void> {
  const db = world.schema.pool;
  const s = world.schema.schema;
  await expectRowsOfTable(world, watch, 0, 'start');
  await watch.waitForLine((line) => line.includes('"status":"ready"'), {
    stream: 'stderr',
    timeoutMs: START_TIMEOUT_MS,
  });

  // DROP: the rows served are of a table that no longer exists, and the cache says so.
  let from = watch.stderrLines.length;
  await db.query('DROP TABLE plans');
  expect(await expectStale(world, watch, from, /was dropped/)).toBe(
    `table ${world.table} was dropped`,
  );
  await checks.afterDrop?.();

  // Created again (new OID) and its trigger installed: followed again, without a restart.
  from = watch.lines.length;
  await db.query(`
    CREATE TABLE plans (id int PRIMARY KEY, name text NOT NULL);
    INSERT INTO plans VALUES (10, 'team');
  `);
  await world.install(['plans']);
  await db.query(`INSERT INTO plans VALUES (11, 'enterprise')`);
  await expectRowsOfTable(world, watch, from, 'created again');
  from = watch.lines.length;
  await db.query(`UPDATE plans SET name = 'business' WHERE id = 10`);
  await expectRowsOfTable(world, watch, from, 'a commit to the new table');

  // Renamed away: the cache follows the name it was given, which now names no table.
  from = watch.stderrLines.length;
  await db.query(`ALTER TABLE plans RENAME TO plans_away`);
  await db.query(`INSERT INTO plans_away VALUES (12, 'lost')`);
  expect(await expectStale(world, watch, from, /was renamed/)).toBe(
    `table ${world.table} was renamed to ${s}.plans_away; the cache follows the name plans`,
  );

  // ...and back: followed again.
  from = watch.lines.length;
  await db.query(`ALTER TABLE plans_away RENAME TO plans`);
  await db.query(`INSERT INTO plans VALUES (13, 'back')`);
  await expectRowsOfTable(world, watch, from, 'renamed back');

  // Another table swapped in under the name (the bulk-load pattern): the cache follows the name.
  await db.query(`
    CREATE TABLE plans_next (id int PRIMARY KEY, name text NOT NULL);
    INSERT INTO plans_next VALUES (20, 'swapped');
    BEGIN;
    ALTER TABLE plans RENAME TO plans_old;
    ALTER TABLE plans_next RENAME TO plans;
    COMMIT;
  `);
  await world.install(['plans']);
  from = watch.lines.length;
  await db.query(`INSERT INTO plans VALUES (21, 'after the swap')`);
  await expectRowsOfTable(world, watch, from, 'swapped in');
  // The table swapped out is not what the cache follows any more.
  from = watch.lines.length;
  await db.query(`INSERT INTO plans_old VALUES (30, 'old')`);
  await db.query(`INSERT INTO plans VALUES (22, 'still followed')`);
  await expectRowsOfTable(world, watch, from, 'after a commit to the swapped-out table');
}
