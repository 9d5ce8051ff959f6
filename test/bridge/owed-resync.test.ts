// A leader message that does not go out (here: the lease expired, as it does when the leader stalls
// past leaseMs, so the fence drops the publish) leaves a seq gap. Clients that saw the message
// before it resync on the gap, but a client that has seen no message of this term yet takes the
// next one as its start and cannot tell. So the leader owes a resync, sent as soon as it can publish.
import { startBridge } from '@pg-static-cache/bridge';
import { StaticCache } from '@pg-static-cache/client';
import { namesFor } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createTablesSchema, waitConverged, watchCaches } from '../support/fixtures/direct-mode.ts';
import { recordEvents, redisUrl, uniqueName, waitFor } from '../support/index.ts';

describe('bridge: a dropped publish', () => {
  it('is followed by a resync, so a client that had seen no message yet reloads', async () => {
    await using schema = await createTablesSchema(['items'], { prefix: 'psc_owed' });
    const names = namesFor(uniqueName('owed'));
    const recorder = await recordEvents(names);
    const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    try {
      await using bridge = await startBridge({
        databaseUrl: schema.url,
        redisUrl: redisUrl(),
        namespace: names.namespace,
        channel: schema.channel,
        jobs: false,
        // Nothing periodic during the test: no renewal restores the lease before the publish, no
        // heartbeat shows the gap; only the owed resync can tell the client.
        leaseMs: 600_000,
        renewMs: 300_000,
        heartbeatMs: 600_000,
        httpPort: 0,
        logger: pino({ level: 'silent' }),
      });
      const { events } = recorder;
      await waitFor('the takeover resync', () => events.some((m) => m.type === 'resync'));
      const epoch = bridge.epoch;

      // Started after the takeover resync: it has seen no message of this term.
      const cache = new StaticCache({ table: 'items' });
      await using watch = watchCaches({
        mode: 'redis',
        pg: schema.url,
        redis: redisUrl(),
        namespace: names.namespace,
        caches: [cache],
        bridgeSilenceMs: 600_000,
      });
      await watch.subscriber.start();

      await redis.del(names.leader);
      const mark = events.length;
      await schema.pool.query(`UPDATE items SET label = 'while the lease was gone' WHERE id = 1`);
      await waitConverged(schema.pool, [cache], 10_000);
      const since = events.slice(mark);
      // The invalidate was dropped; the resync of the same term carried the change.
      expect(since.filter((m) => m.type === 'invalidate')).toEqual([]);
      expect(since).toContainEqual(
        expect.objectContaining({ type: 'resync', reason: 'reconnect', epoch }),
      );
      expect(cache.get(1)).toEqual({ id: 1, label: 'while the lease was gone' });
    } finally {
      recorder.disconnect();
      await redis.del(names.leader, names.epoch, names.status, names.bridges);
      redis.disconnect();
    }
  });
});
