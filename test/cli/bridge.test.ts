// `bridge`, `status`, `resync` and `watch --mode redis` through the real bin, against bridges run
// as `pg-static-cache bridge` processes: one namespace, channel and schema per test.
import { installTriggers } from '@pg-static-cache/postgres';
import { namesFor, type Message, type Names } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  createTestSchema,
  redisUrl,
  tableDigest,
  uniqueName,
  waitFor,
  type TestSchema,
  recordEvents,
} from '../support/index.ts';
import { runCli, spawnCli, type SpawnedProcess } from '../support/process.ts';

// A cold `tsx` start on two busy cores can take seconds.
const START_TIMEOUT_MS = 30_000;
// Each test starts several processes one after another; the default 60 s is tight on a busy machine.
const TEST_TIMEOUT_MS = 120_000;
const RUN_TIMEOUT_MS = 90_000;

interface StatusJson {
  readonly ok: boolean;
  readonly leader: { readonly bridge: string; readonly epoch: number } | null;
  readonly bridges: readonly { readonly bridge: string; readonly role: string }[];
  readonly term: { readonly epoch: number | null; readonly lastHeartbeatAt: number | null } | null;
  readonly triggers: 'live' | 'recorded';
  readonly tables: readonly { readonly table: string; readonly state: string }[];
}

interface World extends AsyncDisposable {
  readonly schema: TestSchema;
  readonly names: Names;
  readonly env: Readonly<Record<string, string>>;
  /** The naming flags every command of this world needs. */
  readonly naming: readonly string[];
  /** Every valid message on the events channel, in arrival order. */
  readonly events: Message[];
  spawnBridge(id: string, ...extra: string[]): SpawnedProcess;
  status(...args: string[]): Promise<{ code: number | null; json: StatusJson }>;
}

async function createWorld(): Promise<World> {
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
  return {
    schema,
    names,
    env,
    naming: [...naming, '--function-name', functionName],
    events,
    spawnBridge(id, ...extra) {
      const args = ['bridge', ...naming, '--function-name', functionName, '--bridge-id', id];
      const proc = spawnCli([...args, '--log-level', 'warn', ...extra], { env });
      processes.push(proc);
      return proc;
    },
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
async function started(
  proc: SpawnedProcess,
): Promise<{ bridge: string; role: string; http: string }> {
  const line = await proc.waitForLine((l) => l.includes('"event":"started"'), {
    timeoutMs: START_TIMEOUT_MS,
  });
  return JSON.parse(line) as { bridge: string; role: string; http: string };
}

describe('bridge, status and resync', () => {
  it(
    'two bridges: one leads, status sees both, resync reaches clients, SIGTERM exits 0',
    async () => {
      await using world = await createWorld();
      const a = world.spawnBridge('a');
      expect(await started(a)).toMatchObject({ bridge: 'a', role: 'leader' });
      const line = await a.waitForLine((l) => l.includes('"event":"term"'));
      expect(JSON.parse(line)).toMatchObject({ bridge: 'a', reason: 'takeover' });
      const b = world.spawnBridge('b');
      expect(await started(b)).toMatchObject({
        bridge: 'b',
        role: 'standby',
        http: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) as string,
      });

      // b announces itself on its first poll, before `started`; a on its term's first heartbeat.
      const table = `${world.schema.schema}.items`;
      const status = await world.status(...world.naming);
      expect(status.code).toBe(0);
      expect(status.json).toMatchObject({
        ok: true,
        leader: { bridge: 'a', epoch: expect.any(Number) as number },
        triggers: 'live',
        tables: [{ table, state: 'ok', ok: true }],
      });
      expect(status.json.bridges).toContainEqual(
        expect.objectContaining({ bridge: 'b', role: 'standby' }),
      );
      expect(status.json.term?.epoch).toBe(status.json.leader?.epoch);
      const epoch = status.json.leader?.epoch;

      const resync = await runCli(['resync', '--namespace', world.names.namespace], {
        env: world.env,
        timeoutMs: RUN_TIMEOUT_MS,
      });
      expect(resync).toMatchObject({ code: 0, stderr: '' });
      expect(resync.stdout).toBe(`resync published by a (epoch ${epoch}): all tables\n`);
      await waitFor('the manual resync on the events channel', () =>
        world.events.some((m) => m.type === 'resync' && m.reason === 'manual' && m.bridge === 'a'),
      );

      // A trigger switched off is seen by the live check at once; the leader's record is older.
      await world.schema.pool.query(`ALTER TABLE items DISABLE TRIGGER ALL`);
      const disabled = await world.status(...world.naming);
      expect(disabled.code).toBe(1);
      expect(disabled.json).toMatchObject({ ok: false, tables: [{ table, state: 'disabled' }] });
      const recorded = await runCli(['status', '--namespace', world.names.namespace], {
        env: { ...world.env, DATABASE_URL: undefined },
        timeoutMs: RUN_TIMEOUT_MS,
      });
      expect(recorded).toMatchObject({ code: 0, stderr: '' });
      expect(recorded.stdout).toMatch(/^leader: +a \(epoch \d+, lease renewed [\d.]+ s ago\)$/m);
      expect(recorded.stdout).toMatch(/^standbys: +b \(seen [\d.]+ s ago\)$/m);
      expect(recorded.stdout).toMatch(/^triggers: +as the leader recorded$/m);
      // SNAPSHOT: the bridges' workers may or may not have stored one yet (status.test.ts checks it).
      expect(recorded.stdout).toMatch(
        new RegExp(`^${table.replace('.', '\\.')} +ok +- +(?:v\\d+|-)$`, 'm'),
      );
      expect(recorded.stdout).toMatch(/^status: ok$/m);

      for (const proc of [a, b])
        expect(await proc.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      const after = await world.status();
      expect(after).toMatchObject({ code: 1, json: { ok: false, leader: null, bridges: [] } });
    },
    TEST_TIMEOUT_MS,
  );

  // Redis mode needs only the messages; snapshot mode also needs the reload jobs and their worker.
  it.each([
    ['redis', ['--no-jobs', '--no-worker']],
    ['snapshot', []],
  ])(
    'watch --mode %s prints the table digest, then a new line after an UPDATE',
    async (mode, bridgeFlags) => {
      await using world = await createWorld();
      const bridge = world.spawnBridge('w', ...bridgeFlags);
      expect(await started(bridge)).toMatchObject({ role: 'leader' });
      const args = [
        'watch',
        '--mode',
        mode,
        '--table',
        'items',
        '--namespace',
        world.names.namespace,
      ];
      await using watch = spawnCli(args, { env: world.env });
      const firstLine = await watch.waitForLine(() => true, { timeoutMs: START_TIMEOUT_MS });
      const first = JSON.parse(firstLine) as unknown;
      expect(first).toMatchObject({
        table: `${world.schema.schema}.items`,
        rows: 2,
        version: 1,
        digest: await tableDigest(world.schema.pool, 'items'),
      });
      await watch.waitForLine((l) => l.includes('"status":"ready"'), { stream: 'stderr' });

      const from = watch.lines.length;
      await world.schema.pool.query(`UPDATE items SET label = 'changed' WHERE id = 2`);
      const digest = await tableDigest(world.schema.pool, 'items');
      await watch.waitForLine((l) => (JSON.parse(l) as { digest: string }).digest === digest, {
        from,
      });
      expect(await watch.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      expect(await bridge.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    },
    TEST_TIMEOUT_MS,
  );
});
