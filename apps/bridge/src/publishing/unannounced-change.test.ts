// Postgres fails between a notification and its invalidate (the bridge cannot look the table up,
// or cannot read the LSN): the change must still reach the caches, so the leader sends a resync
// instead. Here the failure is real: the bridge runs as a login role that loses the right to log
// in, and every session but its LISTEN one is terminated, so any new query needs a new session.
import { installTriggers } from '@pg-static-cache/postgres';
import { parseLease, type Message } from '@pg-static-cache/protocol';
import { describe, expect, it } from 'vitest';
import { createLoginRole } from '@pg-static-cache/test-support/fixtures/login-role';
import { waitFor } from '@pg-static-cache/test-support';
import { createHarness } from '@pg-static-cache/test-support/fixtures/bridge-harness';

describe('bridge: a change it cannot announce', () => {
  it('turns into a resync of the table, or of everything when the table is unknown', async () => {
    await using h = await createHarness('psc_unannounced');
    const { pool } = h.schema;
    await using role = await createLoginRole(pool, h.schema.url, h.schema.schema);
    const bridge = await h.start({ databaseUrl: role.url, heartbeatMs: 600_000 });
    await h.waitForEvent('the takeover resync', (m) => m.type === 'resync');
    // The term has looked up its watched tables: `items` needs no catalog query any more.
    await waitFor('the watched tables to be discovered', async () => {
      return (await h.redis.hget(h.names.status, 'tables'))?.includes(h.table.display) === true;
    });
    // A table the term has not seen: its first notification needs a catalog query.
    await pool.query('CREATE TABLE later (id int PRIMARY KEY)');
    const [later] = await installTriggers(pool, ['later'], {
      channel: h.channel,
      functionName: `${h.schema.schema}.notify`,
    });
    const lease = parseLease(await h.redis.get(h.names.leader));
    if (lease === undefined || later === undefined) throw new Error('no lease or table');

    await role.setLogin(false);
    expect(await role.terminateSessions(`pid <> ${lease.backendPid}`)).toBeGreaterThan(0);
    const mark = h.events.length;
    const after = (predicate: (m: Message) => boolean) => (m: Message) =>
      h.events.indexOf(m) >= mark && predicate(m);

    // The LSN read fails: the table is known, so its caches reload.
    await pool.query(`INSERT INTO items VALUES (1, 'unannounced')`);
    const ofItems = await h.waitForEvent(
      'a resync of items',
      after((m) => m.type === 'resync' && m.tables?.join() === h.table.display),
    );
    expect(ofItems).toMatchObject({ reason: 'reconnect', bridge: bridge.id, epoch: lease.epoch });
    // The catalog lookup fails: nobody knows which caches hold the table, so all of them reload.
    await pool.query('INSERT INTO later VALUES (1)');
    const ofAll = await h.waitForEvent(
      'a resync of everything',
      after((m) => m.type === 'resync' && m.tables === undefined),
    );
    expect(ofAll).toMatchObject({ reason: 'reconnect', bridge: bridge.id, epoch: lease.epoch });
    expect(h.events.slice(mark).filter((m) => m.type === 'invalidate')).toEqual([]);

    // Once Postgres lets the bridge in again, changes are announced as usual.
    await role.setLogin(true);
    await pool.query(`UPDATE items SET label = 'announced' WHERE id = 1`);
    await h.waitForEvent(
      'an invalidate of items',
      after((m) => m.type === 'invalidate' && m.oid === h.table.oid),
    );
  });
});
