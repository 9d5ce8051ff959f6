// Bridges as real processes (`node --import tsx apps/bridge/src/main.ts`): a leader killed or
// frozen is replaced by a standby, and a frozen leader that wakes up never speaks as leader again.
import { installTriggers } from '@pg-static-cache/postgres';
import {
  isWorkerMessage,
  namesFor,
  parseLease,
  type LeaseValue,
  type Message,
  type Names,
} from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  createTestSchema,
  redisUrl,
  uniqueName,
  waitFor,
  type TestSchema,
  recordEvents,
} from '../support/index.ts';
import { spawnNode, type SpawnedProcess } from '../support/process.ts';

const MAIN = 'apps/bridge/src/main.ts';
// A cold `node --import tsx` on two busy cores can take seconds.
const START_TIMEOUT_MS = 30_000;

interface World extends AsyncDisposable {
  readonly schema: TestSchema;
  readonly names: Names;
  /** Every valid message on the events channel, in arrival order. */
  readonly events: Message[];
  readonly redis: Redis;
  spawn(id: string): SpawnedProcess;
  lease(): Promise<LeaseValue>;
}

async function createWorld(): Promise<World> {
  const schema = await createTestSchema('psc_failover');
  const channel = uniqueName('psc_failover');
  const functionName = `${schema.schema}.notify`;
  const names = namesFor(uniqueName('ns'));
  await schema.pool.query('CREATE TABLE items (id int PRIMARY KEY, label text)');
  await installTriggers(schema.pool, ['items'], { channel, functionName });
  const { events, ...subscriber } = await recordEvents(names);
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  const processes: SpawnedProcess[] = [];
  return {
    schema,
    names,
    events,
    redis,
    spawn(id) {
      const proc = spawnNode(MAIN, [], {
        DATABASE_URL: schema.url,
        REDIS_URL: redisUrl(),
        PSC_NAMESPACE: names.namespace,
        PSC_CHANNEL: channel,
        PSC_FUNCTION_NAME: functionName,
        PSC_BRIDGE_ID: id,
        PSC_LOG_LEVEL: 'info',
        // Several bridges at once, and suites in parallel: never the fixed default port.
        PSC_HTTP_PORT: '0',
      });
      processes.push(proc);
      return proc;
    },
    async lease() {
      const lease = parseLease(await redis.get(names.leader));
      if (lease === undefined) throw new Error('no lease in Redis');
      return lease;
    },
    async [Symbol.asyncDispose]() {
      // A frozen process ignores SIGTERM until it is continued.
      for (const proc of processes) proc.child.kill('SIGCONT');
      await Promise.all(processes.map((proc) => proc.stop('SIGKILL')));
      subscriber.disconnect();
      await redis.del(names.leader, names.epoch, names.status, names.bridges);
      redis.disconnect();
      await schema[Symbol.asyncDispose]();
    },
  };
}

const takeoverBy =
  (bridge: string, aboveEpoch = 0) =>
  (m: Message) =>
    m.type === 'resync' && m.bridge === bridge && m.epoch > aboveEpoch;

async function waitForEvent(
  world: World,
  what: string,
  predicate: (m: Message) => boolean,
  timeoutMs: number,
): Promise<Message> {
  await waitFor(what, () => world.events.some(predicate), timeoutMs);
  const found = world.events.find(predicate);
  if (found === undefined) throw new Error(`no ${what}`);
  return found;
}

async function startedAs(proc: SpawnedProcess): Promise<string> {
  const line = await proc.waitForLine((l) => l.includes('"msg":"bridge started"'), {
    stream: 'stderr',
    timeoutMs: START_TIMEOUT_MS,
  });
  return (JSON.parse(line) as { role: string }).role;
}

async function startLeaderAndStandbys(world: World, standbyIds: readonly string[]) {
  const leader = world.spawn('a');
  expect(await startedAs(leader)).toBe('leader');
  await waitForEvent(world, 'the takeover resync of a', takeoverBy('a'), START_TIMEOUT_MS);
  const standbys = standbyIds.map((id) => world.spawn(id));
  expect(await Promise.all(standbys.map(startedAs))).toEqual(standbyIds.map(() => 'standby'));
  return { leader, standbys, lease: await world.lease() };
}

describe('bridge processes: failover', () => {
  it('a standby takes over within 3 s of the leader being killed', async () => {
    await using world = await createWorld();
    const { leader, standbys, lease } = await startLeaderAndStandbys(world, ['b', 'c']);
    expect(lease.bridge).toBe('a');

    const killedAt = performance.now();
    leader.child.kill('SIGKILL');
    const next = (m: Message) =>
      m.type === 'resync' && m.bridge !== 'a' && m.epoch > lease.epoch && m.reason === 'takeover';
    await waitForEvent(world, 'a standby’s takeover resync', next, 3_000);
    expect(performance.now() - killedAt).toBeLessThan(3_000);
    expect((await leader.exit).signal).toBe('SIGKILL');

    // The loser of the race stays standby; both stop cleanly.
    const newLease = await world.lease();
    expect(['b', 'c']).toContain(newLease.bridge);
    expect(newLease.epoch).toBeGreaterThan(lease.epoch);
    expect(world.events.filter(next).map((m) => !isWorkerMessage(m) && m.bridge)).toEqual([
      newLease.bridge,
    ]);
    for (const proc of standbys)
      expect(await proc.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it('fences a frozen leader within 10 s, and the leader, once continued, never speaks as leader', async () => {
    await using world = await createWorld();
    const { leader, standbys, lease } = await startLeaderAndStandbys(world, ['b']);
    const [standby] = standbys;
    if (standby === undefined) throw new Error('no standby');

    const frozenAt = performance.now();
    leader.child.kill('SIGSTOP');
    const takeover = await waitForEvent(
      world,
      'b’s takeover resync',
      takeoverBy('b', lease.epoch),
      10_000,
    );
    expect(performance.now() - frozenAt).toBeLessThan(10_000);
    if (takeover.type !== 'resync') throw new Error('unreachable');
    const newEpoch = takeover.epoch;
    // Fencing, not luck: the frozen leader's LISTEN backend was terminated by the standby.
    await standby.waitForLine((l) => l.includes('terminating its backend'), { stream: 'stderr' });
    const alive = await world.schema.pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [
      lease.backendPid,
    ]);
    expect(alive.rowCount).toBe(0);

    // Wake the old leader: its publishes meet the fence, and it steps down to standby.
    const stderrBefore = leader.stderrLines.length;
    leader.child.kill('SIGCONT');
    await leader.waitForLine((l) => l.includes('"role":"standby"') && l.includes('role changed'), {
      stream: 'stderr',
      from: stderrBefore,
    });
    // Its next standby poll sees b's lease, so a's entry says standby.
    await waitFor('a to announce itself as standby', async () => {
      const entry = await world.redis.hget(world.names.bridges, 'a');
      return entry !== null && (JSON.parse(entry) as { role: string }).role === 'standby';
    });
    const newEpochAt = world.events.indexOf(takeover);
    const late = world.events
      .slice(newEpochAt)
      .filter((m) => !isWorkerMessage(m) && m.bridge === 'a' && m.epoch === lease.epoch);
    expect(late).toEqual([]);
    expect((await world.lease()).bridge).toBe('b');

    // b still publishes invalidates as leader.
    await world.schema.pool.query(`INSERT INTO items VALUES (1, 'after failover')`);
    await waitForEvent(
      world,
      'b’s invalidate',
      (m) => m.type === 'invalidate' && m.bridge === 'b' && m.epoch === newEpoch,
      10_000,
    );
    for (const proc of [leader, standby]) {
      expect(await proc.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    }
  });
});
