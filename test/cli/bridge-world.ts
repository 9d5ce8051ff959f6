// A world for CLI bridge tests: a schema with a triggered `items` table, a NOTIFY channel and a
// namespace of their own, `pg-static-cache bridge` processes killed on dispose, and the namespace's
// Redis keys (lease, status, presence, snapshots, the reload queue) deleted.
import { installTriggers } from '@pg-static-cache/postgres';
import { namesFor, type Message, type Names } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import {
  createTestSchema,
  recordEvents,
  redisUrl,
  uniqueName,
  type TestSchema,
} from '../support/index.ts';
import { runCli, spawnCli, type ChildEnv, type SpawnedProcess } from '../support/process.ts';

/** A cold `tsx` start on two busy cores can take seconds. */
export const START_TIMEOUT_MS = 30_000;
/** Each test starts several processes one after another; the default 60 s is tight on a busy machine. */
export const TEST_TIMEOUT_MS = 120_000;
/** How long one finished CLI run may take. */
export const RUN_TIMEOUT_MS = 90_000;

/** The parts of `status --json` these tests read. */
export interface StatusJson {
  readonly ok: boolean;
  readonly leader: { readonly bridge: string; readonly epoch: number } | null;
  readonly bridges: readonly { readonly bridge: string; readonly role: string }[];
  readonly term: { readonly epoch: number | null; readonly lastHeartbeatAt: number | null } | null;
  readonly triggers: 'live' | 'recorded';
  readonly tables: readonly { readonly table: string; readonly state: string }[];
}

/** One test's world; `await using` ends it. */
export interface World extends AsyncDisposable {
  readonly schema: TestSchema;
  readonly names: Names;
  readonly env: Readonly<Record<string, string>>;
  /** The naming flags every command of this world needs. */
  readonly naming: readonly string[];
  /** The NOTIFY channel and trigger function of `items`. */
  readonly channel: string;
  readonly functionName: string;
  /** Every valid message on the events channel, in arrival order. */
  readonly events: Message[];
  /** `pg-static-cache bridge` with this world's naming flags, a free port, quiet logs and `extra`. */
  spawnBridge(id: string, ...extra: string[]): SpawnedProcess;
  /** The arguments {@link spawnBridge} runs, for a bridge that needs its own environment too. */
  bridgeArgs(id: string, ...extra: string[]): string[];
  /** Any command of the bin with this world's URLs plus `env`, killed on dispose. */
  spawn(args: readonly string[], env?: ChildEnv): SpawnedProcess;
  status(...args: string[]): Promise<{ code: number | null; json: StatusJson }>;
}

/** Creates a world (schema, table, trigger, namespace, event recorder). */
export async function createWorld(): Promise<World> {
  const schema = await createTestSchema('psc_cli_bridge');
  const channel = uniqueName('psc_cli_bridge');
  const functionName = `${schema.schema}.notify`;
  const names = namesFor(uniqueName('ns'));
  await schema.pool.query(`
    CREATE TABLE items (id int PRIMARY KEY, label text);
    INSERT INTO items VALUES (1, 'one'), (2, 'two');
  `);
  await installTriggers(schema.pool, ['items'], { channel, functionName });
  const env = { DATABASE_URL: schema.url, REDIS_URL: redisUrl() };
  const naming = ['--namespace', names.namespace, '--channel', channel];
  const { events, ...subscriber } = await recordEvents(names);
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  const processes: SpawnedProcess[] = [];
  const bridgeArgs = (id: string, ...extra: string[]): string[] => [
    'bridge',
    ...naming,
    '--function-name',
    functionName,
    '--bridge-id',
    id,
    // Several bridges per test, and suites in parallel: never the fixed default port.
    '--http-port',
    '0',
    '--log-level',
    'warn',
    ...extra,
  ];
  const spawn = (args: readonly string[], extraEnv: ChildEnv = {}): SpawnedProcess => {
    const proc = spawnCli(args, { env: { ...env, ...extraEnv } });
    processes.push(proc);
    return proc;
  };
  return {
    schema,
    names,
    env,
    naming: [...naming, '--function-name', functionName],
    channel,
    functionName,
    events,
    spawn,
    bridgeArgs,
    spawnBridge: (id, ...extra) => spawn(bridgeArgs(id, ...extra)),
    async status(...args) {
      const run = await runCli(['status', '--json', ...args], { env, timeoutMs: RUN_TIMEOUT_MS });
      expect(run.stderr).toBe('');
      return { code: run.code, json: JSON.parse(run.stdout) as StatusJson };
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(processes.map((proc) => proc.stop('SIGKILL')));
      subscriber.disconnect();
      // Everything the bridges left under the namespace: lease, epoch, status, presence,
      // snapshots, and the reload queue's keys (BullMQ prefixes them with `bull:`).
      for (const pattern of [`${names.namespace}:*`, `bull:${names.queue}:*`]) {
        for await (const keys of redis.scanStream({ match: pattern, count: 1000 })) {
          if ((keys as string[]).length > 0) await redis.del(...(keys as string[]));
        }
      }
      redis.disconnect();
      await schema[Symbol.asyncDispose]();
    },
  };
}

/** The `started` line of a bridge process, once it has decided its first role. */
export async function started(
  proc: SpawnedProcess,
): Promise<{ bridge: string; role: string; http: string }> {
  const line = await proc.waitForLine((l) => l.includes('"event":"started"'), {
    timeoutMs: START_TIMEOUT_MS,
  });
  return JSON.parse(line) as { bridge: string; role: string; http: string };
}
