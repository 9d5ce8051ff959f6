// A bridge that goes silent may be losing changes: the client must say so (stale caches,
// `reconnecting`) and catch up by itself once the bridge is heard again.
import { describe, expect, it } from 'vitest';
import { inOrder, waitConverged } from '../support/fixtures/direct-mode.ts';
import { waitFor } from '../support/index.ts';
import { reasonsSince, watchRedis } from './fake-bridge.ts';

describe('redis mode: heartbeats', () => {
  it('marks every cache stale while the bridge is silent and reloads when it returns', async () => {
    await using env = await watchRedis(['alpha', 'beta'], {
      bridgeSilenceMs: 1_000,
      heartbeatEveryMs: 100,
    });
    const { subscriber, caches, bridge, statuses } = env;
    const db = env.schema.pool;
    expect(subscriber.status).toBe('ready');
    expect(caches.map((c) => c.status)).toEqual(['fresh', 'fresh']);

    bridge.stopHeartbeats();
    await waitFor('the silence to be noticed', () => subscriber.status === 'reconnecting', 5_000);
    expect(caches.map((c) => c.status)).toEqual(['stale', 'stale']);
    expect(subscriber.stats.heartbeatsMissed).toBe(1);
    // A commit the silent bridge never announced.
    await db.query(`UPDATE alpha SET label = 'while silent' WHERE id = 3`);

    const mark = env.reloads.length;
    bridge.startHeartbeats(100);
    await waitFor('ready again', () => subscriber.status === 'ready', 5_000);
    await waitConverged(db, caches);
    expect(reasonsSince(env, mark)).toEqual({ alpha: ['resync'], beta: ['resync'] });
    expect(caches[0]?.get(3)).toEqual({ id: 3, label: 'while silent' });
    expect(inOrder(statuses, ['ready', 'reconnecting', 'ready'])).toBe(true);
    expect(env.warnings.map((w) => w.message).join('\n')).toMatch(/no message from the bridge/);
    expect(subscriber.stats.heartbeatsMissed).toBe(1);
  });

  it('starts while no bridge runs: loads from Postgres, turns stale, and is fresh after a heartbeat', async () => {
    await using env = await watchRedis(['alpha'], { bridgeSilenceMs: 500 });
    const { subscriber, caches, bridge } = env;
    expect(caches[0]?.status).toBe('fresh');
    await waitFor('the missing bridge to be noticed', () => subscriber.status === 'reconnecting');
    expect(caches[0]?.status).toBe('stale');
    await bridge.heartbeat();
    await waitFor('ready', () => subscriber.status === 'ready');
    await waitConverged(env.schema.pool, caches);
    expect(env.reloads.map((r) => r.reason)).toEqual(['start', 'resync']);
  });
});
