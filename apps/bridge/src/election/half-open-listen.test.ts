// The leader's LISTEN session goes silent without closing (a dead network path, a half-open NAT
// entry): the bridge notices by its LISTEN heartbeat and opens a new session, but Postgres has not
// noticed the old one is gone, so the old backend still holds the leader lock. The bridge ends its
// own previous session and keeps leading at once, instead of stepping down and waiting leaseMs
// for a standby (itself) to fence it.
import { parseLease, type BridgeRole } from '@pg-static-cache/protocol';
import { describe, expect, it } from 'vitest';
import { startTcpProxy } from '@pg-static-cache/test-support/fixtures/tcp-proxy';
import { createHarness } from '@pg-static-cache/test-support/fixtures/bridge-harness';

describe('bridge: a half-open LISTEN session', () => {
  it('is terminated by the leader itself, which goes on leading with a reconnect resync', async () => {
    await using h = await createHarness('psc_half_open');
    await using proxy = await startTcpProxy(h.schema.url);
    const bridge = await h.start({
      databaseUrl: proxy.proxiedUrl(h.schema.url),
      // Fencing by a standby would take leaseMs: far longer than this test waits.
      leaseMs: 60_000,
      renewMs: 20_000,
      heartbeatMs: 600_000,
      listenHeartbeatIntervalMs: 200,
      listenHeartbeatTimeoutMs: 500,
    });
    const roles: BridgeRole[] = [];
    bridge.on('role', (role) => roles.push(role));
    await h.waitForEvent('the takeover resync', (m) => m.type === 'resync');
    const old = parseLease(await h.redis.get(h.names.leader));
    if (old === undefined) throw new Error('no lease');

    expect(proxy.freezeListeners()).toBe(1);
    await h.schema.pool.query(`INSERT INTO items VALUES (1, 'while the session was half-open')`);
    const resync = await h.waitForEvent(
      'a reconnect resync of a new term',
      (m) => m.type === 'resync' && m.epoch > old.epoch,
      10_000,
    );
    if (resync.type !== 'resync') throw new Error('unreachable');
    expect(resync).toMatchObject({ reason: 'reconnect', bridge: bridge.id });
    expect(roles).toEqual([]);
    const gone = await h.schema.pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [
      old.backendPid,
    ]);
    expect(gone.rowCount).toBe(0);
    const lease = parseLease(await h.redis.get(h.names.leader));
    expect(lease?.backendPid).not.toBe(old.backendPid);

    // The new session listens: the next change is announced in the new term.
    await h.schema.pool.query(`UPDATE items SET label = 'after' WHERE id = 1`);
    await h.waitForEvent(
      'an invalidate in the new term',
      (m) => m.type === 'invalidate' && m.epoch === resync.epoch,
    );
    expect([bridge.role, roles]).toEqual(['leader', []]);
  });
});
