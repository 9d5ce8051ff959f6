// /readyz as an orchestrator sees it, over real HTTP, against a Redis of the test's own that it
// stops or fills to `maxmemory`. Before, the leader answered 200 {"ready":true} while every publish
// failed; now it answers 503 with the reason until a publish and a renewal go through again.
import { startBridge, type Bridge } from '@pg-static-cache/bridge';
import { installTriggers } from '@pg-static-cache/postgres';
import { namesFor } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../support/fixtures/private-redis.ts';
import { httpRequest } from '../support/http.ts';
import { createTestSchema, uniqueName, waitFor, type TestSchema } from '../support/index.ts';

interface Readiness {
  readonly status: number;
  readonly body: { readonly ready: boolean; readonly role: string; readonly reason?: string };
}

async function readiness(bridge: Bridge): Promise<Readiness> {
  const answer = await httpRequest(`http://127.0.0.1:${bridge.httpPort}/readyz`);
  return { status: answer.status, body: JSON.parse(answer.text) as Readiness['body'] };
}

/** Waits until /readyz answers `status`; returns that answer. */
async function readyzBecomes(bridge: Bridge, status: number, timeoutMs = 20_000) {
  let last: Readiness | undefined;
  await waitFor(
    `/readyz of ${bridge.id} to answer ${status}`,
    async () => (last = await readiness(bridge)).status === status,
    timeoutMs,
  );
  if (last === undefined) throw new Error('unreachable');
  return last;
}

async function metric(bridge: Bridge, series: string): Promise<number> {
  const text = (await httpRequest(`http://127.0.0.1:${bridge.httpPort}/metrics`)).text;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

interface World extends AsyncDisposable {
  readonly redis: PrivateRedis;
  start(id: string): Promise<Bridge>;
}

async function createWorld(): Promise<World> {
  const redis = await startPrivateRedis();
  let schema: TestSchema | undefined;
  const bridges: Bridge[] = [];
  const dispose = async () => {
    await Promise.all(bridges.map((b) => b.close()));
    await schema?.[Symbol.asyncDispose]();
    await redis[Symbol.asyncDispose]();
  };
  try {
    schema = await createTestSchema('psc_ready');
    const channel = uniqueName('psc_ready');
    const functionName = `${schema.schema}.notify`;
    await schema.pool.query('CREATE TABLE items (id int PRIMARY KEY)');
    await installTriggers(schema.pool, ['items'], { channel, functionName });
    const databaseUrl = schema.url;
    const { namespace } = namesFor(uniqueName('ns'));
    return {
      redis,
      async start(id) {
        const bridge = await startBridge({
          databaseUrl,
          redisUrl: redis.url,
          namespace,
          channel,
          functionName,
          bridgeId: id,
          jobs: false,
          httpPort: 0,
          leaseMs: 1_500,
          renewMs: 300,
          heartbeatMs: 300,
          standbyPollMs: 200,
          logger: pino({ level: 'silent' }),
        });
        bridges.push(bridge);
        return bridge;
      },
      [Symbol.asyncDispose]: dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

describe('/readyz of a leader that cannot publish', () => {
  it('answers 503 with the reason while Redis is down, 200 once it is back', async () => {
    await using world = await createWorld();
    const leader = await world.start('leader');
    const standby = await world.start('standby');
    expect((await readyzBecomes(leader, 200)).body).toMatchObject({ ready: true, role: 'leader' });
    expect((await readyzBecomes(standby, 200)).body).toMatchObject({ role: 'standby' });
    const before = await metric(leader, 'psc_bridge_last_publish_timestamp_seconds');
    expect(before).toBeGreaterThan(0);

    await world.redis.stop();
    const down = await readyzBecomes(leader, 503);
    expect(down.body).toMatchObject({ ready: false, role: 'leader' });
    expect(down.body.reason).toMatch(/^(publishes|lease renewal) failing since \d{4}-.*Z: /);
    expect(
      await metric(leader, 'psc_bridge_publish_failures_total{reason="unreachable"}'),
    ).toBeGreaterThan(0);
    // A standby that cannot reach Redis could not take over either.
    expect((await readyzBecomes(standby, 503)).body).toMatchObject({ role: 'standby' });

    await world.redis.start();
    expect((await readyzBecomes(leader, 200)).body).toMatchObject({ ready: true, role: 'leader' });
    await readyzBecomes(standby, 200);
    expect(await metric(leader, 'psc_bridge_last_publish_timestamp_seconds')).toBeGreaterThan(
      before,
    );
  });

  it('answers 503 while Redis refuses writes (OOM under maxmemory, noeviction)', async () => {
    await using world = await createWorld();
    // Alone: a standby would fence a leader that cannot renew, which is another test's subject.
    const leader = await world.start('leader');
    await readyzBecomes(leader, 200);

    // This Redis is the test's own: filling it and changing its config touches nobody else.
    const admin = new Redis(world.redis.url, { maxRetriesPerRequest: 1 });
    try {
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.config('SET', 'maxmemory', '1mb');
      const chunk = 'x'.repeat(64 * 1024);
      let refused: unknown;
      for (let i = 0; i < 1_000 && refused === undefined; i += 1) {
        await admin.set(`fill:${i}`, chunk).catch((error: unknown) => (refused = error));
      }
      expect(String(refused)).toMatch(/OOM/);

      const full = await readyzBecomes(leader, 503);
      expect(full.body.reason).toMatch(/failing since .*OOM command not allowed/);
      expect(
        await metric(leader, 'psc_bridge_publish_failures_total{reason="refused"}'),
      ).toBeGreaterThan(0);

      await admin.config('SET', 'maxmemory', '0');
      expect((await readyzBecomes(leader, 200)).body).toMatchObject({ role: 'leader' });
    } finally {
      admin.disconnect();
    }
  });
});
