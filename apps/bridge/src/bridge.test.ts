// The leader's publishing path, the control channel and the HTTP endpoints, with in-process
// bridges on the real Postgres and Redis.
import {
  parseLease,
  serializeControlMessage,
  type InvalidateMessage,
  type Message,
  type ResyncDone,
} from '@pg-static-cache/protocol';
import { describe, expect, it } from 'vitest';
import { waitFor } from '@pg-static-cache/test-support';
import { BridgeError } from './errors.ts';
import {
  createHarness,
  metricValue,
  termMessages,
} from '@pg-static-cache/test-support/fixtures/bridge-harness';

const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/;

function lsnValue(lsn: string): bigint {
  const [high = '0', low = '0'] = lsn.split('/');
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
}

const isInvalidate = (m: Message): m is InvalidateMessage => m.type === 'invalidate';

describe('bridge: publishing', () => {
  it('turns each lone notification into an invalidate, seq 1, 2, 3 after the takeover resync', async () => {
    await using h = await createHarness();
    // No heartbeat during the test, so the term's messages are exactly the ones we cause.
    const bridge = await h.start({ heartbeatMs: 600_000 });
    expect(bridge.role).toBe('leader');
    const takeover = await h.waitForEvent('the takeover resync', (m) => m.type === 'resync');
    expect(takeover).toMatchObject({ reason: 'takeover', seq: 0, bridge: bridge.id });
    expect(bridge.epoch).toBe(takeover.type === 'resync' ? takeover.epoch : -1);
    const epoch = bridge.epoch ?? -1;

    // One at a time: notifications arriving while the table's invalidate is in flight fold into one.
    for (const id of [1, 2, 3]) {
      await h.schema.pool.query('INSERT INTO items VALUES ($1, $2)', [id, `row ${id}`]);
      await waitFor(`invalidate ${id}`, () => h.events.filter(isInvalidate).length === id);
    }
    const invalidates = h.events.filter(isInvalidate);
    expect(invalidates.map((m) => m.seq)).toEqual([1, 2, 3]);
    for (const m of invalidates) {
      expect(m).toEqual({
        v: 1,
        type: 'invalidate',
        table: `${h.schema.schema}.items`,
        oid: h.table.oid,
        seq: m.seq,
        lsn: expect.stringMatching(LSN) as unknown,
        at: expect.any(Number) as unknown,
        bridge: bridge.id,
        epoch,
      });
    }
    const lsns = invalidates.map((m) => lsnValue(m.lsn));
    expect([...lsns].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(lsns);

    // Garbage and an OID that names no table are dropped and counted, and cost no seq.
    await h.schema.pool.query("SELECT pg_notify($1, 'not an oid'), pg_notify($1, '4000000000')", [
      h.channel,
    ]);
    const dropped = (reason: string) =>
      metricValue(bridge, `psc_bridge_notifications_dropped_total{reason="${reason}"}`);
    await waitFor('both drops to be counted', async () => {
      return (await dropped('not-an-oid')) === 1 && (await dropped('unknown-table')) === 1;
    });
    await h.schema.pool.query('DELETE FROM items WHERE id = 1');
    await waitFor('the fourth invalidate', () => h.events.filter(isInvalidate).length === 4);
    expect(termMessages(h.events, bridge.id, epoch).map((m) => m.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(await metricValue(bridge, 'psc_bridge_notifications_received_total')).toBe(6);
    expect(
      await metricValue(bridge, 'psc_bridge_messages_published_total{type="invalidate"}'),
    ).toBe(4);
    expect(await metricValue(bridge, 'psc_bridge_notify_to_publish_seconds_count')).toBe(4);
  });

  it('heartbeats every heartbeatMs, keeps the status hash, and cleans up on close', async () => {
    await using h = await createHarness();
    const bridge = await h.start({ heartbeatMs: 100 });
    await waitFor(
      'three heartbeats',
      () => h.events.filter((m) => m.type === 'heartbeat').length >= 3,
    );
    const epoch = bridge.epoch ?? -1;
    const term = termMessages(h.events, bridge.id, epoch);
    expect(term.map((m) => m.seq)).toEqual(term.map((_m, i) => i));

    const lease = parseLease(await h.redis.get(h.names.leader));
    expect(lease).toMatchObject({ bridge: bridge.id, epoch });
    expect(Number(await h.redis.get(h.names.epoch))).toBe(epoch);
    await waitFor('the status hash to list the watched table', async () => {
      const tables = await h.redis.hget(h.names.status, 'tables');
      return tables === JSON.stringify([{ table: h.table.display, state: 'ok', ok: true }]);
    });
    const status = await h.redis.hgetall(h.names.status);
    expect(status).toMatchObject({
      bridge: bridge.id,
      epoch: String(epoch),
      lastResyncReason: 'takeover',
      heartbeatMs: '100',
    });
    expect(Number(status['lastHeartbeatAt'])).toBeGreaterThanOrEqual(Number(status['leaderSince']));
    const entry = await h.redis.hget(h.names.bridges, bridge.id);
    expect(JSON.parse(entry ?? '{}')).toMatchObject({ role: 'leader', pid: process.pid, epoch });

    await bridge.close();
    expect(bridge.role).toBe('stopped');
    expect(await h.redis.get(h.names.leader)).toBeNull();
    expect(await h.redis.hget(h.names.bridges, bridge.id)).toBeNull();
    expect(() => bridge.httpPort).toThrow(BridgeError);
    await bridge.close();
  });
});

describe('bridge: control channel', () => {
  it('answers resync requests with a manual resync and resync-done; standbys stay silent', async () => {
    await using h = await createHarness();
    const leader = await h.start();
    const standby = await h.start();
    expect([leader.role, standby.role]).toEqual(['leader', 'standby']);
    await h.waitForEvent('the takeover resync', (m) => m.type === 'resync');
    const request = async (requestId: string, tables?: string[]): Promise<ResyncDone> => {
      await h.redis.publish(
        h.names.control,
        serializeControlMessage({
          v: 1,
          type: 'resync-request',
          requestId,
          ...(tables === undefined ? {} : { tables }),
        }),
      );
      await waitFor(`resync-done ${requestId}`, () =>
        h.control.some((m) => m.type === 'resync-done' && m.requestId === requestId),
      );
      const done = h.control.find((m) => m.type === 'resync-done' && m.requestId === requestId);
      if (done?.type !== 'resync-done') throw new Error('unreachable');
      return done;
    };

    expect(await request('all')).toMatchObject({
      ok: true,
      bridge: leader.id,
      epoch: leader.epoch,
    });
    expect(h.events.at(-1)).toMatchObject({ type: 'resync', reason: 'manual', bridge: leader.id });
    expect(h.events.at(-1)).not.toHaveProperty('tables');

    // Names as written in SQL come back as schema.name.
    expect(await request('some', ['items', `"${h.schema.schema}".items`])).toMatchObject({
      ok: true,
      tables: [h.table.display],
    });
    expect(h.events.at(-1)).toMatchObject({ reason: 'manual', tables: [h.table.display] });

    const missing = await request('missing', ['no_such_table']);
    expect(missing).toMatchObject({
      ok: false,
      error: expect.stringMatching(/does not exist/) as unknown,
    });

    for (const bad of ['not json', '{"v":1,"type":"resync-request"}', '{"v":2}']) {
      await h.redis.publish(h.names.control, bad);
    }
    await waitFor('invalid control messages to be counted', async () => {
      const counts = await Promise.all(
        [leader, standby].map((b) => metricValue(b, 'psc_bridge_control_messages_invalid_total')),
      );
      return counts.every((c) => c === 3);
    });
    const replies = h.control.filter((m) => m.type === 'resync-done');
    expect(replies.map((m) => m.bridge)).toEqual(replies.map(() => leader.id));
    expect(replies).toHaveLength(3);

    await expect(standby.requestResync()).rejects.toMatchObject({ code: 'NOT_LEADER' });
    await expect(leader.requestResync(['no_such_table'])).rejects.toMatchObject({
      code: 'UNKNOWN_TABLE',
    });
    await expect(leader.requestResync()).resolves.toMatchObject({ reason: 'manual' });
  });
});

describe('bridge: HTTP endpoints', () => {
  it('serves /healthz, /readyz and /metrics for the leader and a standby', async () => {
    await using h = await createHarness();
    const leader = await h.start();
    const standby = await h.start();
    await waitFor('the leader term', () => leader.epoch !== undefined);
    const get = (port: number, path: string) => fetch(`http://127.0.0.1:${port}${path}`);

    for (const bridge of [leader, standby]) {
      const health = await get(bridge.httpPort, '/healthz');
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
    }
    const ready = await get(leader.httpPort, '/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      ready: true,
      role: 'leader',
      epoch: leader.epoch,
      listen: 'ready',
    });
    const standbyReady = await get(standby.httpPort, '/readyz');
    expect(standbyReady.status).toBe(200);
    expect(await standbyReady.json()).toMatchObject({
      ready: true,
      role: 'standby',
      postgres: true,
      redis: true,
    });

    const metrics = await get(leader.httpPort, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await metrics.text();
    for (const name of [
      'psc_bridge_notifications_received_total',
      'psc_bridge_messages_published_total{type="resync"} 1',
      'psc_bridge_publishes_fenced_total{reason="lease-taken"} 0',
      'psc_bridge_control_messages_invalid_total',
      'psc_bridge_resyncs_total{reason="takeover"} 1',
      'psc_bridge_drift_tables_total',
      'psc_bridge_leader_changes_total{to="leader"} 1',
      `psc_bridge_epoch ${leader.epoch ?? -1}`,
      'psc_bridge_role{role="leader"} 1',
      'psc_bridge_listen_reconnects_total 0',
      'psc_bridge_notify_to_publish_seconds_bucket',
    ]) {
      expect(text).toContain(name);
    }
    // Node's default metrics under their standard names, as stock dashboards read them.
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(await (await get(standby.httpPort, '/metrics')).text()).toContain(
      'psc_bridge_role{role="standby"} 1',
    );

    const port = leader.httpPort;
    await leader.close();
    await expect(get(port, '/healthz')).rejects.toThrow();
  });
});
