// The seed's listener thread died for good on the first lost connection. Ours must reconnect,
// and reload everything, because whatever was committed while nobody listened was never sent to us.
import { describe, expect, it } from 'vitest';
import {
  cachesOf,
  createTablesSchema,
  inOrder,
  waitConverged,
  watchCaches,
} from '../support/fixtures/direct-mode.ts';
import { createLoginRole } from '../support/fixtures/login-role.ts';
import { startTcpProxy } from '../support/fixtures/tcp-proxy.ts';
import { waitFor } from '../support/index.ts';

// The LISTEN session's last statement is a LISTEN, or a heartbeat once one has run; the pool's
// sessions only ever run catalog lookups and SELECTs.
const LISTEN_SESSION = `query LIKE 'LISTEN %' OR query LIKE 'SELECT pg_notify(%'`;

/** One table behind a freezable proxy, watched with a fast heartbeat. */
async function behindProxy(heartbeat: { intervalMs: number; timeoutMs: number }) {
  const schema = await createTablesSchema(['items'], { prefix: 'psc_heartbeat' });
  const proxy = await startTcpProxy(schema.url).catch(async (error: unknown) => {
    await schema[Symbol.asyncDispose]();
    throw error;
  });
  const caches = cachesOf(['items']);
  const watch = watchCaches({
    pg: proxy.proxiedUrl(schema.url),
    caches,
    channel: schema.channel,
    listenHeartbeatIntervalMs: heartbeat.intervalMs,
    listenHeartbeatTimeoutMs: heartbeat.timeoutMs,
  });
  return {
    ...watch,
    schema,
    proxy,
    caches,
    async [Symbol.asyncDispose]() {
      await watch.subscriber.close();
      // After the subscriber: the frozen sessions it gave up on only end when the proxy drops them.
      await proxy.close();
      await schema[Symbol.asyncDispose]();
    },
  };
}

describe('direct mode: losing the LISTEN session', () => {
  it('reconnects after pg_terminate_backend and reloads a commit made while it was away', async () => {
    await using schema = await createTablesSchema(['alpha', 'beta'], { prefix: 'psc_terminate' });
    await using role = await createLoginRole(schema.pool, schema.url, schema.schema);
    const caches = cachesOf(['alpha', 'beta']);
    await using watch = watchCaches({ pg: role.url, caches, channel: schema.channel });
    const { subscriber, reloads, statuses, warnings } = watch;
    await subscriber.start();

    // Refusing new sessions holds the subscriber disconnected for as long as the test needs, so
    // the commits below certainly land while nobody listens: their notifications are gone.
    await role.setLogin(false);
    expect(await role.terminateSessions(LISTEN_SESSION)).toBe(1);
    await waitFor('the subscriber to notice', () => subscriber.status === 'reconnecting');
    expect(caches.map((c) => c.status)).toEqual(['stale', 'stale']);
    await schema.pool.query(`UPDATE alpha SET label = 'while away' WHERE id = 1`);
    await schema.pool.query(`DELETE FROM beta WHERE id = 2`);
    await waitFor('a refused reconnect attempt', () =>
      warnings.some((w) => w.message.includes('not permitted to log in')),
    );
    expect(subscriber.status).toBe('reconnecting');
    // Still the old rows: nothing told the subscriber yet.
    expect(caches[0]?.get(1)?.['label']).toBe('row 1');

    const reloadsBefore = reloads.length;
    await role.setLogin(true);
    await waitConverged(schema.pool, caches);
    expect(inOrder(statuses, ['ready', 'reconnecting', 'ready'])).toBe(true);
    expect(subscriber.status).toBe('ready');
    expect(subscriber.stats.resyncs).toBe(1);
    const resynced = reloads.slice(reloadsBefore).filter((r) => r.reason === 'reconnect');
    expect(resynced.map((r) => r.cache.name).sort()).toEqual(['alpha', 'beta']);

    // The new session receives notifications.
    await schema.pool.query(`INSERT INTO beta VALUES (20, 'after reconnect')`);
    await waitConverged(schema.pool, caches);
    expect(caches[1]?.get(20)).toEqual({ id: 20, label: 'after reconnect' });
  });

  it('keeps caches stale while disconnected, even when a reload succeeds meanwhile', async () => {
    await using schema = await createTablesSchema(['items'], { prefix: 'psc_terminate' });
    await using role = await createLoginRole(schema.pool, schema.url, schema.schema);
    const caches = cachesOf(['items']);
    await using watch = watchCaches({ pg: role.url, caches, channel: schema.channel });
    await watch.subscriber.start();
    await role.setLogin(false);
    expect(await role.terminateSessions(LISTEN_SESSION)).toBe(1);
    await waitFor('the subscriber to notice', () => watch.subscriber.status === 'reconnecting');
    // The pool's sessions still work, so this reload succeeds; but until LISTEN is back, a change
    // committed right after it would go unnoticed, so the cache cannot call itself fresh.
    watch.subscriber.resyncAll();
    await watch.subscriber.idle();
    expect(watch.reloads.at(-1)?.reason).toBe('resync');
    expect(caches[0]?.status).toBe('stale');
    await role.setLogin(true);
    await waitConverged(schema.pool, caches);
  });

  it('detects a LISTEN session gone silent by heartbeat, reconnects and converges', async () => {
    await using env = await behindProxy({ intervalMs: 200, timeoutMs: 300 });
    const { proxy, schema, caches, statuses, warnings } = env;
    await env.subscriber.start();

    for (const round of [1, 2]) {
      // Twice: the heartbeat must keep running on the session that replaced the frozen one.
      const readies = env.readies();
      expect(proxy.freezeListeners()).toBe(1);
      // Sent to the frozen session, so dropped on the way: only the resync can bring it in.
      await schema.pool.query(`UPDATE items SET label = $1 WHERE id = 1`, [`frozen ${round}`]);
      await waitFor(`reconnect ${round}`, () => env.readies() > readies, 5_000);
      await waitConverged(schema.pool, caches);
      expect(caches[0]?.get(1)?.['label']).toBe(`frozen ${round}`);
    }
    expect(warnings.filter((w) => w.message.includes('heartbeat')).length).toBeGreaterThanOrEqual(
      2,
    );
    expect(inOrder(statuses, ['ready', 'reconnecting', 'ready', 'reconnecting', 'ready'])).toBe(
      true,
    );

    await schema.pool.query(`INSERT INTO items VALUES (9, 'through the new session')`);
    await waitConverged(schema.pool, caches);
  });

  it('keeps its heartbeat when a session dies while a heartbeat waits for its answer', async () => {
    await using env = await behindProxy({ intervalMs: 100, timeoutMs: 400 });
    const { proxy, schema, caches } = env;
    await env.subscriber.start();
    expect(env.readies()).toBe(1);

    // A heartbeat goes out into the void, then the path closes: the loss shows as a closed socket
    // while that heartbeat still waits. Its 400 ms deadline runs out after the new session's first
    // heartbeat (100 ms after reconnecting) has started, and must not cancel that one.
    proxy.freezeListeners();
    await waitFor('a heartbeat sent on the frozen session', () => proxy.droppedBytes() > 0);
    proxy.cutFrozen();
    await waitFor('the first reconnect', () => env.readies() >= 2);
    expect(proxy.freezeListeners()).toBe(1);
    await schema.pool.query(`UPDATE items SET label = 'second freeze' WHERE id = 1`);
    const readies = env.readies();
    await waitFor(
      'the heartbeat to detect the second freeze',
      () => env.readies() > readies,
      5_000,
    );
    await waitConverged(schema.pool, caches);
  });
});
