// `status` and `resync` through the real bin against Redis state and control-channel answers
// written by the test itself, so every case is exact; test/cli/bridge.test.ts runs real bridges.
import { installTriggers } from '@pg-static-cache/postgres';
import {
  namesFor,
  parseControlMessage,
  serializeControlMessage,
  type Names,
  type ResyncDone,
  type ResyncRequest,
} from '@pg-static-cache/protocol';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, redisUrl, uniqueName, type TestSchema } from '../support/index.ts';
import { runCli, type CliRun } from '../support/process.ts';

let s: TestSchema;
let redis: Redis;
let channel: string;
let functionName: string;
const namespaces: Names[] = [];

beforeAll(async () => {
  s = await createTestSchema('psc_cli_status');
  channel = uniqueName('psc_cli_status');
  functionName = `${s.schema}.notify`;
  await s.pool.query(`
    CREATE TABLE items (id int PRIMARY KEY);
    CREATE TABLE plain (id int PRIMARY KEY);
  `);
  await installTriggers(s.pool, ['items'], { channel, functionName });
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  for (const names of namespaces) {
    await redis.del(names.leader, names.status, names.bridges);
  }
  redis.disconnect();
  await s[Symbol.asyncDispose]();
});

function newNamespace(): Names {
  const names = namesFor(uniqueName('ns'));
  namespaces.push(names);
  return names;
}

type Env = Record<string, string | undefined>;

/** The bin with this suite's URLs plus `extra`; a cold start on a loaded machine takes seconds. */
function cli(args: readonly string[], extra: Env = {}): Promise<CliRun> {
  const env = { DATABASE_URL: s.url, REDIS_URL: redisUrl(), ...extra };
  return runCli(args, { env, timeoutMs: 90_000 });
}

/** What a leader and a standby leave in Redis, written by hand. */
async function writeLeaderState(names: Names, tables: readonly object[]): Promise<number> {
  const now = Date.now();
  const lease = { bridge: 'lead', epoch: 7, backendPid: 4321, renewedAt: now - 500 };
  await redis.set(names.leader, JSON.stringify(lease), 'PX', 60_000);
  await redis.hset(names.bridges, {
    lead: JSON.stringify({ role: 'leader', pid: 10, host: 'h1', lastSeenAt: now - 200, epoch: 7 }),
    stand: JSON.stringify({ role: 'standby', pid: 11, host: 'h2', lastSeenAt: now - 300 }),
    junk: 'not json',
  });
  await redis.hset(names.status, {
    bridge: 'lead',
    epoch: '7',
    leaderSince: String(now - 60_000),
    lastHeartbeatAt: String(now - 1_000),
    heartbeatMs: '2000',
    lastResyncAt: String(now - 60_000),
    lastResyncReason: 'takeover',
    channel,
    functionName,
    tables: JSON.stringify(tables),
  });
  return now;
}

// Several cold starts per test, one after another: the default 60 s is tight on a busy machine.
describe('status', { timeout: 120_000 }, () => {
  it('reports a leader, its standby and the live trigger check (exit 0)', async () => {
    const names = newNamespace();
    const items = `${s.schema}.items`;
    const now = await writeLeaderState(names, [{ table: items, state: 'ok', ok: true }]);
    // What a reload worker leaves next to a stored snapshot: its version.
    await redis.set(`${names.namespace}:snapshot-stored:${items}`, '12');
    const args = ['status', '--namespace', names.namespace];
    const run = await cli([...args, '--json']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const report = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(Object.keys(report)).toEqual([
      'namespace',
      'ok',
      'problems',
      'at',
      'leader',
      'bridges',
      'term',
      'triggers',
      'tables',
      'queue',
      'regions',
    ]);
    expect(report).toMatchObject({
      namespace: names.namespace,
      ok: true,
      leader: { bridge: 'lead', epoch: 7, backendPid: 4321, renewedAt: now - 500 },
      bridges: [
        { bridge: 'lead', role: 'leader', epoch: 7, pid: 10, host: 'h1', lastSeenAt: now - 200 },
        { bridge: 'stand', role: 'standby', epoch: null, pid: 11, host: 'h2' },
      ],
      term: {
        bridge: 'lead',
        epoch: 7,
        leaderSince: now - 60_000,
        lastHeartbeatAt: now - 1_000,
        lastResyncReason: 'takeover',
        lastCheckAt: null,
        lastDrifted: null,
      },
      // The naming the leader recorded reaches the live check without any flag.
      triggers: 'live',
      tables: [{ table: items, state: 'ok', ok: true, drifted: null, snapshotVersion: 12 }],
      problems: [],
      queue: { paused: false, waiting: 0, active: 0, delayed: 0, failed: 0 },
      // A bridge without --region writes no `regions` field.
      regions: [],
    });
    const leader = report['leader'] as { leaseAgeMs: number };
    expect(leader.leaseAgeMs).toBeGreaterThanOrEqual(500);

    const human = await cli(args);
    expect(human).toMatchObject({ code: 0, stderr: '' });
    expect(human.stdout).toMatch(/^leader: +lead \(epoch 7, lease renewed [\d.]+ s ago\)$/m);
    expect(human.stdout).toMatch(/^standbys: +stand \(seen [\d.]+ s ago\)$/m);
    expect(human.stdout).toMatch(/^heartbeat: +[\d.]+ s ago$/m);
    expect(human.stdout).toMatch(/^resync: +\d+ s ago \(takeover\)$/m);
    expect(human.stdout).toMatch(/^TABLE +TRIGGER +DRIFTED +SNAPSHOT$/m);
    expect(human.stdout).toMatch(/ ok +- +v12$/m);
    expect(human.stdout).toMatch(
      /^reload queue: +running \(0 waiting, 0 active, 0 delayed, 0 failed\)$/m,
    );
    expect(human.stdout).toMatch(/^status: ok$/m);
    expect(human.stdout).not.toMatch(/REGION/);
  });

  it('exit 1 when a recorded table lost its trigger, or when no leader holds the lease', async () => {
    const names = newNamespace();
    const recorded = [
      { table: `${s.schema}.items`, state: 'ok', ok: true },
      { table: `${s.schema}.plain`, state: 'ok', ok: true, drifted: true },
    ];
    await writeLeaderState(names, recorded);
    const args = ['status', '--namespace', names.namespace, '--json'];
    const live = await cli(args);
    expect(live.code).toBe(1);
    expect(JSON.parse(live.stdout)).toMatchObject({
      ok: false,
      tables: [
        { state: 'ok', ok: true },
        { table: `${s.schema}.plain`, state: 'missing', ok: false, drifted: true },
      ],
    });
    // Without a database the leader's record is all there is.
    const noDatabase = await cli(args, { DATABASE_URL: undefined });
    expect(noDatabase.code).toBe(0);
    expect(JSON.parse(noDatabase.stdout)).toMatchObject({ ok: true, triggers: 'recorded' });

    await redis.del(names.leader);
    const human = await cli(['status', '--namespace', names.namespace]);
    expect(human).toMatchObject({ code: 1, stderr: '' });
    expect(human.stdout).toMatch(/^leader: +none$/m);
    expect(human.stdout).toMatch(
      /^status: NOT OK: no leader holds the lease; 1 table without a working trigger$/m,
    );
  });

  it('an empty namespace: no leader, no bridges, exit 1', async () => {
    const names = newNamespace();
    const run = await cli(['status', '--namespace', names.namespace, '--json'], {
      DATABASE_URL: undefined,
    });
    expect(run).toMatchObject({ code: 1, stderr: '' });
    expect(JSON.parse(run.stdout)).toEqual({
      namespace: names.namespace,
      ok: false,
      problems: ['no leader holds the lease'],
      at: expect.any(Number) as number,
      leader: null,
      bridges: [],
      term: null,
      triggers: 'recorded',
      tables: [],
      queue: { paused: false, waiting: 0, active: 0, delayed: 0, failed: 0 },
      regions: [],
    });
  });

  // Before, a region whose Redis was down for minutes read as `ok`: only the leader knew.
  it('shows each region the leader records; a failing one is exit 1 with its own problem line', async () => {
    const names = newNamespace();
    const now = await writeLeaderState(names, [
      { table: `${s.schema}.items`, state: 'ok', ok: true },
    ]);
    // What the leader writes with each heartbeat (apps/bridge: Regions.report()).
    const regions = [
      {
        region: 'b',
        state: 'ok',
        lastPublishAt: now - 1_500,
        failingSince: null,
        queued: 0,
        owesResync: false,
      },
      {
        region: 'c',
        state: 'idle',
        lastPublishAt: null,
        failingSince: null,
        queued: 0,
        owesResync: false,
      },
    ];
    await redis.hset(names.status, 'regions', JSON.stringify(regions));
    const args = ['status', '--namespace', names.namespace];
    const healthy = await cli([...args, '--json']);
    expect(healthy).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(healthy.stdout)).toMatchObject({
      ok: true,
      problems: [],
      // An ok or idle region has no reason: null, like every unknown value.
      regions: regions.map((region) => ({ ...region, reason: null })),
    });

    const failing = {
      region: 'c',
      state: 'failing',
      lastPublishAt: now - 40_000,
      failingSince: now - 30_000,
      reason: 'connect ECONNREFUSED 127.0.0.1:6390',
      queued: 3,
      owesResync: true,
    };
    await redis.hset(names.status, 'regions', JSON.stringify([regions[0], failing]));
    const human = await cli(args);
    expect(human).toMatchObject({ code: 1, stderr: '' });
    expect(human.stdout).toMatch(/^REGION +STATE +LAST PUBLISH +QUEUED +RESYNC OWED$/m);
    expect(human.stdout).toMatch(/^b +ok +[\d.]+ s ago +0 +no$/m);
    expect(human.stdout).toMatch(/^c +failing +4\d s ago +3 +yes$/m);
    expect(human.stdout).toMatch(
      /^status: NOT OK: region c: publishes failing for 3\d s \(connect ECONNREFUSED 127\.0\.0\.1:6390\), 3 queued, resync owed$/m,
    );
    const json = await cli([...args, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      problems: [expect.stringMatching(/^region c: publishes failing for 3\d s/) as string],
      regions: [{ region: 'b', state: 'ok' }, failing],
    });
  });

  // Before, both read as `ok`: a leader whose publishes fail still holds its lease for a while,
  // and a queue paused from Bull Board stops every snapshot without a word.
  it('exit 1 when the leader publishes no heartbeat, or the reload queue is paused', async () => {
    const names = newNamespace();
    const items = `${s.schema}.items`;
    await writeLeaderState(names, [{ table: items, state: 'ok', ok: true }]);
    const args = ['status', '--namespace', names.namespace];

    await redis.hset(names.status, 'lastHeartbeatAt', String(Date.now() - 30_000));
    const silent = await cli([...args, '--json']);
    expect(silent.code).toBe(1);
    expect(JSON.parse(silent.stdout)).toMatchObject({
      ok: false,
      problems: [
        expect.stringMatching(
          /^no heartbeat published for 3\d s \(every 2000 ms expected\): publishes failing$/,
        ) as string,
      ],
    });
    await redis.hset(names.status, 'lastHeartbeatAt', String(Date.now()));

    const connection = new Redis(redisUrl(), { maxRetriesPerRequest: null });
    const queue = new Queue(names.queue, { connection });
    try {
      await queue.pause();
      const paused = await cli(args);
      expect(paused).toMatchObject({ code: 1, stderr: '' });
      expect(paused.stdout).toMatch(/^reload queue: +PAUSED \(0 waiting/m);
      expect(paused.stdout).toMatch(
        /^status: NOT OK: the reload queue is paused: no snapshot is stored until it is resumed$/m,
      );
      await queue.resume();
      expect((await cli(args)).code).toBe(0);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    }
  });
});

describe('resync', { timeout: 120_000 }, () => {
  /** A subscriber on the control channel that answers requests with `answer` (or never). */
  async function fakeBridge(
    names: Names,
    answer?: (request: ResyncRequest) => Pick<ResyncDone, 'requestId' | 'ok' | 'tables' | 'error'>,
  ): Promise<{ requests: ResyncRequest[] } & AsyncDisposable> {
    const subscriber = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    const requests: ResyncRequest[] = [];
    subscriber.on('message', (_channel: string, text: string) => {
      const message = parseControlMessage(text);
      if (message?.type !== 'resync-request') return;
      requests.push(message);
      if (answer === undefined) return;
      const done: ResyncDone = {
        v: 1,
        type: 'resync-done',
        bridge: 'fake',
        epoch: 7,
        ...answer(message),
      };
      void redis.publish(names.control, serializeControlMessage(done));
    });
    await subscriber.subscribe(names.control);
    return {
      requests,
      [Symbol.asyncDispose]() {
        subscriber.disconnect();
        return Promise.resolve();
      },
    };
  }

  it('prints who published the resync, with the tables as the leader resolved them', async () => {
    const names = newNamespace();
    await using bridge = await fakeBridge(names, ({ requestId, tables }) => ({
      requestId,
      ok: true,
      ...(tables === undefined
        ? {}
        : { tables: tables.map((t) => `${s.schema}.${t.replaceAll('"', '')}`) }),
    }));
    const args = ['resync', '--namespace', names.namespace];
    const all = await cli(args);
    expect(all).toMatchObject({
      code: 0,
      stderr: '',
      stdout: 'resync published by fake (epoch 7): all tables\n',
    });
    const some = await cli([...args, '--table', 'items', '"plain"']);
    expect(some).toMatchObject({
      code: 0,
      stderr: '',
      stdout: `resync published by fake (epoch 7): ${s.schema}.items, ${s.schema}.plain\n`,
    });
    expect(bridge.requests).toEqual([
      { v: 1, type: 'resync-request', requestId: expect.any(String) as string },
      {
        v: 1,
        type: 'resync-request',
        requestId: expect.any(String) as string,
        tables: ['items', '"plain"'],
      },
    ]);
  });

  it('a refusal (e.g. an unknown table) is exit 2 with the reason', async () => {
    const names = newNamespace();
    await using bridge = await fakeBridge(names, ({ requestId }) => ({
      requestId,
      ok: false,
      error: 'table "ghost" does not exist',
    }));
    const run = await cli(['resync', '--namespace', names.namespace, '--table', 'ghost']);
    expect(run).toMatchObject({
      code: 2,
      stdout: '',
      stderr: 'pg-static-cache: resync refused by fake (epoch 7): table "ghost" does not exist\n',
    });
    expect(bridge.requests).toMatchObject([{ tables: ['ghost'] }]);
  });

  it('exit 1 at once without any bridge, and after --timeout-ms when no leader answers', async () => {
    const names = newNamespace();
    // Without any subscriber there is nothing to wait for: far sooner than the 60 s timeout.
    const noBridgeAt = performance.now();
    const none = await cli(['resync', '--namespace', names.namespace, '--timeout-ms', '60000']);
    expect(performance.now() - noBridgeAt).toBeLessThan(45_000);
    expect(none).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `pg-static-cache: no bridge is running in namespace ${names.namespace}\n`,
    });

    // A standby listens on the control channel but never answers.
    await using standby = await fakeBridge(names);
    const startedAt = performance.now();
    const silent = await cli(['resync', '--namespace', names.namespace, '--timeout-ms', '1500']);
    expect(silent).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `pg-static-cache: no leader answered within 1500 ms (namespace ${names.namespace})\n`,
    });
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(1500);
    expect(standby.requests).toHaveLength(1);
  });
});
