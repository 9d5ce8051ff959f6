// Leader election, fencing and takeover with in-process bridges on the real Postgres and Redis.
import { parseLease, type BridgeRole } from '@pg-static-cache/protocol';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { waitFor } from '@pg-static-cache/test-support';
import { LeaderLock } from './leader-lock.ts';
import {
  createHarness,
  metricValue,
  termMessages,
} from '@pg-static-cache/test-support/fixtures/bridge-harness';

describe('bridge: election', () => {
  it('elects exactly one leader; closing it hands over promptly with a higher epoch', async () => {
    await using h = await createHarness();
    const bridges = await Promise.all([h.start(), h.start(), h.start()]);
    expect(bridges.map((b) => b.role).sort()).toEqual(['leader', 'standby', 'standby']);
    const leader = bridges.find((b) => b.role === 'leader');
    if (leader === undefined) throw new Error('no leader');
    await waitFor('the first term', () => leader.epoch !== undefined);
    const firstEpoch = leader.epoch ?? -1;
    const standbys = bridges.filter((b) => b !== leader);

    const closedAt = performance.now();
    await leader.close();
    await waitFor('a standby to lead', () => standbys.some((b) => b.epoch !== undefined), 5_000);
    const handoverMs = performance.now() - closedAt;
    const next = standbys.find((b) => b.epoch !== undefined);
    if (next === undefined) throw new Error('no new leader');
    // The lease is deleted and the lock freed on close: the next poll (every 500 ms) takes over.
    expect(handoverMs).toBeLessThan(2_000);
    expect(next.epoch).toBeGreaterThan(firstEpoch);
    expect(standbys.filter((b) => b.role === 'leader')).toEqual([next]);
    const resync = await h.waitForEvent(
      'the new leader’s resync',
      (m) => m.type === 'resync' && m.bridge === next.id,
    );
    expect(resync).toMatchObject({ reason: 'takeover', seq: 0, epoch: next.epoch });
    expect(parseLease(await h.redis.get(h.names.leader))).toMatchObject({
      bridge: next.id,
      epoch: next.epoch,
    });
  });

  it('fences a session that holds the lock without a lease, then leads', async () => {
    await using h = await createHarness();
    // An impostor holding the leader lock: alive to Postgres, silent in Redis (a frozen leader).
    const impostor = new pg.Client({ connectionString: h.schema.url });
    const errors: Error[] = [];
    impostor.on('error', (error) => errors.push(error));
    await impostor.connect();
    try {
      await impostor.query('SELECT pg_advisory_lock($1::int8)', [
        new LeaderLock(h.names.namespace).key,
      ]);
      const bridge = await h.start({ leaseMs: 1_000, renewMs: 300, standbyPollMs: 100 });
      expect(bridge.role).toBe('standby');
      await waitFor('the bridge to lead', () => bridge.epoch !== undefined, 5_000);
      await waitFor('the impostor’s session to end', () => errors.length > 0);
      expect(errors[0]?.message).toMatch(/terminat/);
      expect(await metricValue(bridge, 'psc_bridge_fencings_total')).toBe(1);
    } finally {
      await impostor.end().catch(() => undefined);
    }
  });

  it('does not fence a healthy leader when Redis loses the lease and the epoch counter', async () => {
    await using h = await createHarness();
    const config = { leaseMs: 1_000, renewMs: 300, standbyPollMs: 100, heartbeatMs: 250 };
    const leader = await h.start(config);
    const standby = await h.start(config);
    await waitFor('the first term', () => leader.epoch !== undefined);
    const epoch = leader.epoch ?? -1;

    // What a Redis restart without persistence does to the bridge's keys.
    await h.redis.del(h.names.leader, h.names.epoch);
    const deletedAt = h.events.length;
    await waitFor('the lease and epoch to be back', async () => {
      const lease = parseLease(await h.redis.get(h.names.leader));
      return lease?.epoch === epoch && Number(await h.redis.get(h.names.epoch)) === epoch;
    });
    // Six heartbeats span 1.5 s: longer than the leaseMs a standby waits before fencing.
    await waitFor(
      'six more heartbeats',
      () => h.events.slice(deletedAt).filter((m) => m.type === 'heartbeat').length >= 6,
    );
    expect(leader.epoch).toBe(epoch);
    expect(standby.role).toBe('standby');
    expect(await metricValue(standby, 'psc_bridge_fencings_total')).toBe(0);
    expect(
      await metricValue(leader, 'psc_bridge_publishes_fenced_total{reason="lease-taken"}'),
    ).toBe(0);
    // A heartbeat due while the lease was missing is dropped, not sent unfenced: its seq is a gap
    // that clients answer with a resync (which a Redis restart causes anyway).
    const seqs = termMessages(h.events, leader.id, epoch).map((m) => m.seq);
    const dropped = await metricValue(
      leader,
      'psc_bridge_publishes_fenced_total{reason="lease-absent"}',
    );
    expect(seqs.at(-1)).toBe(seqs.length - 1 + dropped);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
  });

  it('drops publishes once the lease is not its own, and steps down', async () => {
    await using h = await createHarness();
    // Long lease and no heartbeat: the next publish, not a renewal, is what meets the fence.
    const bridge = await h.start({ leaseMs: 600_000, renewMs: 300_000, heartbeatMs: 600_000 });
    const roles: BridgeRole[] = [];
    bridge.on('role', (role) => roles.push(role));
    await waitFor('the first term', () => bridge.epoch !== undefined);
    const epoch = bridge.epoch ?? -1;
    const rogue = { bridge: 'rogue', epoch: epoch + 10, backendPid: 1, renewedAt: Date.now() };
    await h.redis.set(h.names.leader, JSON.stringify(rogue), 'PX', 600_000);

    await h.schema.pool.query(`INSERT INTO items VALUES (1, 'fenced')`);
    await waitFor('the bridge to step down', () => roles.includes('standby'));
    expect(
      await metricValue(bridge, 'psc_bridge_publishes_fenced_total{reason="lease-taken"}'),
    ).toBe(1);
    expect(h.events.filter((m) => m.type === 'invalidate')).toEqual([]);

    // The lock is free again and the bridge retakes it, above the epoch it saw in the lease.
    await waitFor('a new term', () => (bridge.epoch ?? 0) > epoch);
    expect(bridge.epoch).toBeGreaterThan(rogue.epoch);
    expect(roles).toEqual(['standby', 'leader']);
    await h.schema.pool.query(`INSERT INTO items VALUES (2, 'published')`);
    const invalidate = await h.waitForEvent('the invalidate', (m) => m.type === 'invalidate');
    expect(invalidate).toMatchObject({ epoch: bridge.epoch, seq: 1 });
  });

  it('re-acquires the lock after its LISTEN session is killed and sends a reconnect resync', async () => {
    await using h = await createHarness();
    const bridge = await h.start();
    const roles: BridgeRole[] = [];
    bridge.on('role', (role) => roles.push(role));
    await waitFor('the first term', () => bridge.epoch !== undefined);
    const epoch = bridge.epoch ?? -1;
    const lease = parseLease(await h.redis.get(h.names.leader));
    if (lease === undefined) throw new Error('no lease');

    await h.schema.pool.query('SELECT pg_terminate_backend($1)', [lease.backendPid]);
    const resync = await h.waitForEvent(
      'the reconnect resync',
      (m) => m.type === 'resync' && m.reason === 'reconnect',
    );
    expect(resync).toMatchObject({ bridge: bridge.id, epoch: epoch + 1, seq: 0 });
    expect(roles).toEqual([]);
    expect(await metricValue(bridge, 'psc_bridge_listen_reconnects_total')).toBe(1);
    expect(parseLease(await h.redis.get(h.names.leader))?.backendPid).not.toBe(lease.backendPid);

    // The new session carries notifications as before.
    await h.schema.pool.query(`INSERT INTO items VALUES (1, 'after')`);
    const invalidate = await h.waitForEvent('the invalidate', (m) => m.type === 'invalidate');
    expect(invalidate).toMatchObject({ epoch: epoch + 1, seq: 1 });
  });
});
