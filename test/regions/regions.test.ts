// One leader publishing to several regions, each a Redis of its own with `pg-static-cache watch`
// apps subscribed to it: a region whose Redis is down costs the others nothing, heals with a
// resync when it returns, and every region follows the same epoch and seq as home.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { LeaderMessage } from '../e2e/support/event-log.ts';
import { recordMs } from '../e2e/support/measured.ts';
import { namesFor, type Names } from '@pg-static-cache/protocol';
import { FAST_BRIDGE_ENV } from '../e2e/support/bridges.ts';
import { startEventLog, type EventLog } from '../e2e/support/event-log.ts';
import { createTablesSchema } from '../support/fixtures/direct-mode.ts';
import { startPrivateRedis } from '../support/fixtures/private-redis.ts';
import { scrape, seriesValue } from '../support/metrics.ts';
import { redisUrl, tableDigest, uniqueName, waitFor } from '../support/index.ts';
import { parseJsonLine, spawnCli } from '../support/process.ts';
import { startRegionApp, startRegionWorld, TABLE, type RegionWorld } from './region-world.ts';

/** Fast enough that a publish held up by a dead region would show: the leader's lease is 1.5 s. */
const NORMAL_MS = 1_000;

/** `(seq, type)` of each message of `epoch`, as one place heard them. */
function sequence(messages: readonly LeaderMessage[], epoch: number): string[] {
  return messages.filter((m) => m.epoch === epoch).map((m) => `${m.seq}:${m.type}`);
}

/** Deletes what a bridge leaves in the shared home Redis (the lease, epoch, status, presence). */
async function cleanUpHome(names: Names): Promise<void> {
  const home = new Redis(redisUrl());
  try {
    await home.del(names.leader, names.epoch, names.status, names.bridges);
  } finally {
    home.disconnect();
  }
}

/** The `regions` field of the status hash in the home Redis, parsed. */
async function statusRegions(names: Names): Promise<Record<string, unknown>[]> {
  const home = new Redis(redisUrl());
  try {
    const text = await home.hget(names.status, 'regions');
    const value: unknown = JSON.parse(text ?? '[]');
    return Array.isArray(value) ? (value as Record<string, unknown>[]) : [];
  } finally {
    home.disconnect();
  }
}

async function regionState(world: RegionWorld, region: string): Promise<string | undefined> {
  const { body } = await world.readyz('b1');
  return body.regions?.[region]?.state;
}

describe('regions: one leader, a Redis per region', () => {
  it('a region down costs the others nothing; it heals with a resync when it returns', async ({
    task,
  }) => {
    await using world = await startRegionWorld({ prefix: 'psc_regions_outage' });
    const [home, b] = [world.app('home'), world.app('b')];
    const leader = await world.bridges.leader();
    const { epoch } = leader.lease;

    // Every region follows commits.
    const first = await world.commit('before');
    await Promise.all(world.apps.map((app) => world.printed(app, first.digest)));
    expect(await regionState(world, 'a')).toBe('ok');

    await world.redis.a.stop();
    await waitFor('region a to be seen failing', async () => {
      return (await regionState(world, 'a')) === 'failing';
    });
    const latencies: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const commit = await world.commit(`outage ${i}`);
      const [atHome, atB] = await Promise.all([
        world.printed(home, commit.digest),
        world.printed(b, commit.digest),
      ]);
      latencies.push(atHome - commit.at, atB - commit.at);
    }
    recordMs(task, 'slowestCommitToAppWhileADownMs', Math.max(...latencies));
    expect(Math.max(...latencies)).toBeLessThan(NORMAL_MS);
    // The leader stays ready (home is fine) and says what is wrong with region a.
    const during = await world.readyz('b1');
    expect(during.status).toBe(200);
    expect(during.body.regions?.['a']).toMatchObject({ state: 'failing', owesResync: true });
    expect(during.body.regions?.['a']?.reason).toMatch(/^Redis unreachable/);
    expect(during.body.regions?.['b']).toMatchObject({ state: 'ok', owesResync: false });
    // `pg-static-cache status` reads the status hash: each heartbeat writes the regions into it.
    await waitFor('the status hash to show region a failing', async () => {
      const regions = await statusRegions(world.names);
      return regions.some((r) => r['region'] === 'a' && r['state'] === 'failing');
    });
    const metrics = await scrape(world.httpBase('b1'));
    expect(seriesValue(metrics, 'psc_bridge_region_up{region="a"}')).toBe(0);
    expect(seriesValue(metrics, 'psc_bridge_region_up{region="b"}')).toBe(1);
    expect(
      seriesValue(
        metrics,
        'psc_bridge_region_publish_failures_total{region="a",reason="unreachable"}',
      ),
    ).toBeGreaterThan(0);

    // Back: region a is sent the resync it was owed, under the leader's own epoch and seq. The
    // leader is held (SIGSTOP) until a subscriber of ours is on region a, so we hear it for sure.
    leader.proc.child.kill('SIGSTOP');
    let back: EventLog;
    try {
      await world.redis.a.start();
      back = await startEventLog(world.urlOf('a'), world.names);
    } finally {
      leader.proc.child.kill('SIGCONT');
    }
    await using regionA = back;
    const owed = await regionA.waitFor(
      'the resync region a was owed',
      (m) => m.type === 'resync' && m.epoch === epoch,
    );
    expect(owed.message).toMatchObject({ reason: 'reconnect', bridge: leader.id });
    // Under a seq of home's: in place of the message home had there (or, had the lease expired
    // while the leader was held, home's own resync for the messages the fence dropped).
    await world.events.home.waitFor(
      'the same seq at home',
      (m) => m.epoch === epoch && m.seq === owed.message.seq,
    );
    const last = await world.commit('after');
    await Promise.all(world.apps.map((app) => world.printed(app, last.digest)));
    await waitFor('region a to be ok again', async () => (await regionState(world, 'a')) === 'ok');
    const healed = await scrape(world.httpBase('b1'));
    expect(seriesValue(healed, 'psc_bridge_region_resyncs_total{region="a"}')).toBeGreaterThan(0);
    expect(seriesValue(healed, 'psc_bridge_region_up{region="a"}')).toBe(1);
    expect(seriesValue(healed, 'psc_bridge_region_resyncs_total{region="b"}')).toBe(0);

    // Region b heard exactly what home heard, seq for seq.
    const homeSeq = sequence(world.events.home.since(0), epoch);
    const bSeq = sequence(world.events.b.since(0), epoch);
    expect(bSeq.length).toBeGreaterThan(5);
    expect(homeSeq.slice(0, bSeq.length)).toEqual(bSeq);
    // Region a too once back, but for the resyncs it was owed, each in the place of a message (more
    // than one when a publish timed out while the leader was held, yet still went out).
    const homeBySeq = new Map(
      world.events.home
        .since(0)
        .filter((m) => m.epoch === epoch)
        .map((m) => [m.seq, m.type]),
    );
    const aAfter = regionA.since(0).filter((m) => m.epoch === epoch);
    expect(aAfter.length).toBeGreaterThan(2);
    const differing = aAfter.filter((m) => homeBySeq.get(m.seq) !== m.type);
    expect(differing.every((m) => m.type === 'resync' && m.reason === 'reconnect')).toBe(true);
    expect(aAfter.map((m) => m.seq)).toEqual([...aAfter.map((m) => m.seq)].sort((x, y) => x - y));
  });

  it('leader failover (SIGKILL): every region hears the new term and converges', async () => {
    await using world = await startRegionWorld({
      prefix: 'psc_regions_failover',
      bridges: 2,
      apps: ['a', 'b'],
    });
    const old = await world.bridges.leader();
    const warm = await world.commit('before the kill');
    await Promise.all(world.apps.map((app) => world.printed(app, warm.digest)));

    old.proc.child.kill('SIGKILL');
    const commit = await world.commit('after the kill');
    await Promise.all(world.apps.map((app) => world.printed(app, commit.digest, 20_000)));
    const next = await world.bridges.leader();
    expect(next.id).not.toBe(old.id);
    for (const place of ['home', 'a', 'b'] as const) {
      const takeover = await world.events[place].waitFor(
        `the takeover in ${place}`,
        (m) => m.type === 'resync' && m.epoch === next.lease.epoch && m.seq === 0,
      );
      expect(takeover.message).toMatchObject({ reason: 'takeover', bridge: next.id });
    }
    // The new leader publishes to both regions under its epoch, seq for seq as at home.
    const again = await world.commit('under the new leader');
    await Promise.all(world.apps.map((app) => world.printed(app, again.digest)));
    const homeSeq = sequence(world.events.home.since(0), next.lease.epoch);
    for (const place of ['a', 'b'] as const) {
      const seen = sequence(world.events[place].since(0), next.lease.epoch);
      expect(homeSeq.slice(0, seen.length)).toEqual(seen);
    }
  });

  it("snapshot mode: a region's own worker builds its snapshots from the leader's jobs", async () => {
    await using schema = await createTablesSchema([TABLE], { prefix: 'psc_regions_snap' });
    const names = namesFor(uniqueName('psc_regions_snap'));
    await using regionB = await startPrivateRedis();
    await using events = await startEventLog(regionB.url, names);
    const common = {
      DATABASE_URL: schema.url,
      PSC_NAMESPACE: names.namespace,
      PSC_HTTP_PORT: '0',
    };
    // The flag form; the home worker runs in the bridge, region b's is a process of its own.
    await using bridge = spawnCli(['bridge', '--region', `b=${regionB.url}`], {
      env: {
        ...FAST_BRIDGE_ENV,
        ...common,
        REDIS_URL: redisUrl(),
        PSC_CHANNEL: schema.channel,
        PSC_BRIDGE_ID: 'leader',
        PSC_JOBS: '1',
        PSC_WORKER: '1',
      },
    });
    await using worker = spawnCli(['worker'], {
      env: { ...common, REDIS_URL: regionB.url, PSC_BRIDGE_ID: 'worker-b' },
    });
    await Promise.all([
      bridge.waitForLine((line) => line.includes('"event":"started"')),
      worker.waitForLine((line) => line.includes('"event":"started"')),
    ]);
    try {
      const app = await startRegionApp('b', { schema, names, url: regionB.url, mode: 'snapshot' });
      try {
        await schema.pool.query(`UPDATE ${TABLE} SET label = 'from a snapshot' WHERE id = 1`);
        const digest = await tableDigest(schema.pool, TABLE);
        const loaded = await app.proc.waitForLine(
          (line) => {
            const event = parseJsonLine(line);
            return event?.['digest'] === digest && event['source'] === 'snapshot';
          },
          { stream: 'stderr', timeoutMs: 20_000 },
        );
        expect(parseJsonLine(loaded)).toMatchObject({ event: 'reload', source: 'snapshot' });
        // Built by region b's worker, stored and announced in region b's Redis (the home worker
        // in the bridge announces in home only).
        const key = names.snapshot(`${schema.schema}.${TABLE}`);
        const snapshots = events.raw
          .map((text) => parseJsonLine(text))
          .filter((m) => m?.['type'] === 'snapshot');
        expect(snapshots.length).toBeGreaterThan(0);
        for (const snapshot of snapshots) {
          expect(snapshot).toMatchObject({ worker: 'worker-b', key });
        }
        const stored = new Redis(regionB.url);
        try {
          expect(await stored.exists(key)).toBe(1);
        } finally {
          stored.disconnect();
        }
      } finally {
        await app.proc.stop('SIGKILL');
      }
    } finally {
      await cleanUpHome(names);
    }
  });
});
