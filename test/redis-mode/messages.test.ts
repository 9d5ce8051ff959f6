// Redis mode driven by hand-made bridge messages: each message reloads exactly the caches it
// names, and anything that may have lost messages (a gap, a new leader) reloads everything.
import { Signer } from '@pg-static-cache/protocol';
import { describe, expect, it } from 'vitest';
import { waitConverged } from '../support/fixtures/direct-mode.ts';
import { redisUrl, waitFor } from '../support/index.ts';
import { FakeBridge, reasonsSince, watchRedis, type RedisWatched } from './fake-bridge.ts';

/** Waits until every cache named in `expected` has reloaded since `from`, then for quiet. */
async function reloadedSince(env: RedisWatched, from: number, names: readonly string[]) {
  await waitFor(`${names.join(', ')} to reload`, () => {
    const seen = reasonsSince(env, from);
    return names.every((name) => seen[name] !== undefined);
  });
  await env.subscriber.idle();
  return reasonsSince(env, from);
}

describe('redis mode: messages', () => {
  it('reloads only the cache whose table an invalidate names, and equals the table', async () => {
    await using env = await watchRedis(['alpha', 'beta']);
    const [alpha, beta] = env.caches;
    if (alpha === undefined || beta === undefined) throw new Error('no cache');
    expect(env.subscriber.status).toBe('ready');
    expect(env.reloads.map((r) => r.reason)).toEqual(['start', 'start']);
    const db = env.schema.pool;
    const mark = env.reloads.length;

    await db.query(`UPDATE alpha SET label = 'changed' WHERE id = 1`);
    await env.bridge.invalidate(env.tableOf(0));
    await waitConverged(db, [alpha]);
    // The message named only alpha, so a reload of beta would have been asked for by now.
    await env.subscriber.idle();
    expect(reasonsSince(env, mark)).toEqual({ alpha: ['change'] });
    expect(alpha.get(1)).toEqual({ id: 1, label: 'changed' });
    expect(beta.version).toBe(1);
    expect(env.subscriber.stats.notifications).toBe(1);
  });

  it('reloads every cache on a resync, and only the listed ones on a resync with tables', async () => {
    await using env = await watchRedis(['alpha', 'beta', 'gamma']);
    const mark = env.reloads.length;
    await env.bridge.resync();
    expect(await reloadedSince(env, mark, ['alpha', 'beta', 'gamma'])).toEqual({
      alpha: ['resync'],
      beta: ['resync'],
      gamma: ['resync'],
    });

    const next = env.reloads.length;
    const [alpha, gamma] = [env.tableOf(0), env.tableOf(2)];
    // Names no cache holds select nothing, whatever they look like.
    await env.bridge.resync([alpha.display, 'public.nothing', '__proto__', gamma.display]);
    expect(await reloadedSince(env, next, ['alpha', 'gamma'])).toEqual({
      alpha: ['resync'],
      gamma: ['resync'],
    });
    expect(env.subscriber.stats.resyncs).toBe(2);
  });

  it('finds the cache of a partitioned table by a partition OID or name', async () => {
    await using env = await watchRedis(['plain'], {
      setupSql: `CREATE TABLE parted (id int PRIMARY KEY, label text) PARTITION BY RANGE (id);
                 CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (100);
                 INSERT INTO parted VALUES (1, 'one')`,
      cached: ['plain', 'parted'],
    });
    const [, partedCache] = env.caches;
    if (partedCache === undefined) throw new Error('no cache');
    const parted = env.tableOf(1);
    const low = parted.members.find((member) => member.name === 'parted_low');
    if (low === undefined) throw new Error('partition not resolved');
    const mark = env.reloads.length;
    await env.schema.pool.query(`INSERT INTO parted_low VALUES (2, 'two')`);
    await env.bridge.invalidate(low);
    await waitConverged(env.schema.pool, [partedCache]);
    const next = env.reloads.length;
    await env.bridge.resync([low.display]);
    expect(await reloadedSince(env, next, ['parted'])).toEqual({ parted: ['resync'] });
    expect(reasonsSince(env, mark)).toEqual({ parted: ['change', 'resync'] });
    expect(partedCache.size).toBe(2);
  });

  it('reloads everything after a gap in seq', async () => {
    await using env = await watchRedis(['alpha', 'beta']);
    await env.bridge.heartbeat();
    const mark = env.reloads.length;
    // Updated but never announced: only the resync that the gap causes can bring it in.
    await env.schema.pool.query(`UPDATE beta SET label = 'lost message' WHERE id = 2`);
    env.bridge.seq += 3;
    await env.bridge.heartbeat();
    expect(await reloadedSince(env, mark, ['alpha', 'beta'])).toEqual({
      alpha: ['resync'],
      beta: ['resync'],
    });
    await waitConverged(env.schema.pool, env.caches);
    expect(env.caches[1]?.get(2)).toEqual({ id: 2, label: 'lost message' });
    expect(env.subscriber.stats.gaps).toBe(1);
  });

  it('reloads everything when a new leader epoch begins', async () => {
    await using env = await watchRedis(['alpha', 'beta']);
    await env.bridge.heartbeat();
    await env.bridge.heartbeat();
    const mark = env.reloads.length;
    env.bridge.epoch = 2;
    env.bridge.seq = -1;
    await env.bridge.heartbeat();
    expect(await reloadedSince(env, mark, ['alpha', 'beta'])).toEqual({
      alpha: ['resync'],
      beta: ['resync'],
    });
    // The new leader's next message is in order again: no further resync.
    const next = env.reloads.length;
    await env.bridge.invalidate(env.tableOf(0));
    expect(await reloadedSince(env, next, ['alpha'])).toEqual({ alpha: ['change'] });
    expect(env.subscriber.stats.gaps).toBe(0);
  });

  it('signed: ignores and counts messages of an older epoch (only a replay can carry one)', async () => {
    const key = 'messages-signing-key-0123';
    await using env = await watchRedis(['alpha', 'beta'], { signingKey: key });
    env.bridge.epoch = 5;
    await env.bridge.heartbeat();
    const mark = env.reloads.length;
    // A replay of an older leader's messages: they must change nothing.
    await using deposed = new FakeBridge(redisUrl(), env.namespace, 4);
    deposed.signer = new Signer([key]);
    await deposed.invalidate(env.tableOf(0));
    await deposed.resync();
    await deposed.heartbeat();
    await waitFor('the stale messages', () => env.subscriber.stats.staleEpoch === 3);
    await env.subscriber.idle();
    expect(env.reloads.length).toBe(mark);
    expect(env.subscriber.stats.notifications).toBe(0);
    expect(env.subscriber.stats.resyncs).toBe(0);

    await env.bridge.invalidate(env.tableOf(1));
    expect(await reloadedSince(env, mark, ['beta'])).toEqual({ beta: ['change'] });
    expect(env.subscriber.status).toBe('ready');
  });

  it('unsigned: a forged newer epoch does not hide the real leader, whose next message resyncs', async () => {
    await using env = await watchRedis(['alpha', 'beta']);
    await using leader = new FakeBridge(redisUrl(), env.namespace, 4);
    await leader.heartbeat();
    // One forged message from an epoch no leader holds (fenced publishes cannot be out of order).
    env.bridge.epoch = 1_000_000;
    await env.bridge.heartbeat();
    await waitFor('the forged epoch', () => env.subscriber.stats.resyncs === 1);
    await env.subscriber.idle();
    const mark = env.reloads.length;
    await env.schema.pool.query(`UPDATE alpha SET label = 'real' WHERE id = 1`);
    await leader.invalidate(env.tableOf(0));
    // Before the fix the leader was ignored as stale until the heartbeat deadline (60 s here).
    expect(await reloadedSince(env, mark, ['alpha', 'beta'])).toEqual({
      alpha: ['resync'],
      beta: ['resync'],
    });
    expect(env.caches[0]?.get(1)).toMatchObject({ label: 'real' });
    expect(env.subscriber.stats.staleEpoch).toBe(1);
    // And it stays followed: the next invalidate is an ordinary one.
    const next = env.reloads.length;
    await leader.invalidate(env.tableOf(1));
    expect(await reloadedSince(env, next, ['beta'])).toEqual({ beta: ['change'] });
  });
});
