// A Redis restart drops the subscription and every message sent meanwhile, and loses the epoch
// counter: the client must subscribe again by itself, reload everything, and accept the leader's
// (possibly lower) epoch afterwards.
import { describe, expect, it } from 'vitest';
import { inOrder, waitConverged } from '../support/fixtures/direct-mode.ts';
import { startPrivateRedis } from '../support/fixtures/private-redis.ts';
import { waitFor } from '../support/index.ts';
import { FakeBridge, reasonsSince, watchRedis } from './fake-bridge.ts';

describe('redis mode: Redis restarts', () => {
  it('subscribes again, reloads everything, sees changes made while Redis was down', async () => {
    await using redis = await startPrivateRedis();
    await using env = await watchRedis(['alpha', 'beta'], { redis: redis.url });
    const { subscriber, caches, statuses } = env;
    const db = env.schema.pool;
    env.bridge.epoch = 7;
    await env.bridge.invalidate(env.tableOf(0));
    await waitFor('the first invalidate', () => subscriber.stats.notifications === 1);

    await redis.stop();
    await waitFor('the subscriber to notice', () => subscriber.status === 'reconnecting');
    expect(caches.map((c) => c.status)).toEqual(['stale', 'stale']);
    await db.query(`UPDATE beta SET label = 'while Redis was down' WHERE id = 1`);
    await db.query(`INSERT INTO alpha VALUES (4, 'while Redis was down')`);

    const mark = env.reloads.length;
    await redis.start();
    await waitFor('ready after the restart', () => subscriber.status === 'ready', 15_000);
    await waitConverged(db, caches);
    expect(reasonsSince(env, mark)).toEqual({ alpha: ['reconnect'], beta: ['reconnect'] });
    expect(caches[0]?.get(4)).toEqual({ id: 4, label: 'while Redis was down' });
    expect(caches[1]?.get(1)).toEqual({ id: 1, label: 'while Redis was down' });
    expect(inOrder(statuses, ['ready', 'reconnecting', 'ready'])).toBe(true);

    // The restarted Redis lost the epoch counter: the leader now counts from 1, and is obeyed.
    await using bridge = new FakeBridge(redis.url, env.namespace, 1);
    const next = env.reloads.length;
    await db.query(`UPDATE alpha SET label = 'after the restart' WHERE id = 1`);
    await bridge.invalidate(env.tableOf(0));
    await waitConverged(db, caches);
    expect(reasonsSince(env, next)).toEqual({ alpha: ['change'] });
    expect(subscriber.stats.staleEpoch).toBe(0);
  });
});
