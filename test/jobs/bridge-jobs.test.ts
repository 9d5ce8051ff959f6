// Reload jobs through a real bridge: taking over snapshots every watched table, each commit is
// followed by a new snapshot from the bridge's own worker, and `jobs: false` leaves all of it out.
import { describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import { createJobsWorld } from '../support/jobs-kit.ts';

const lsnValue = (lsn: string): bigint => {
  const [high = '0', low = '0'] = lsn.split('/');
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
};

describe('reload jobs in the bridge', () => {
  it('snapshots every watched table on takeover and each changed table after a commit', async () => {
    await using w = await createJobsWorld('psc_bridge_jobs');
    const plans = await w.createTable('plans', 'id int PRIMARY KEY, label text');
    const countries = await w.createTable('"Weird Countries"', 'code char(2) PRIMARY KEY');
    await w.schema.pool.query(`INSERT INTO plans VALUES (1, 'free'), (2, 'pro')`);
    await w.schema.pool.query(`INSERT INTO "Weird Countries" VALUES ('fr'), ('de')`);

    const bridge = await w.startBridge();
    // Nothing says which commits a new leader missed: every table gets a snapshot.
    expect((await w.waitForCurrentSnapshot(plans)).rows).toEqual([
      ['1', 'free'],
      ['2', 'pro'],
    ]);
    expect((await w.waitForCurrentSnapshot(countries)).rows).toEqual([['de'], ['fr']]);
    await waitFor('the takeover snapshots to be announced', () => w.snapshots().length === 2);
    expect(w.snapshots()).toContainEqual(
      expect.objectContaining({ table: countries.display, version: 1, worker: bridge.id }),
    );

    await w.schema.pool.query(`UPDATE plans SET label = 'team' WHERE id = 2`);
    const snapshot = await w.waitForCurrentSnapshot(plans);
    expect(snapshot.rows).toEqual([
      ['1', 'free'],
      ['2', 'team'],
    ]);
    // The invalidate comes first, and the snapshot's LSN is read after it: a client can tell that
    // this snapshot holds the change it was told of.
    await waitFor('the snapshot message', () => w.snapshots(plans.display).length === 2);
    const invalidateAt = w.events.findIndex(
      (m) => m.type === 'invalidate' && m.table === plans.display,
    );
    const announcedAt = w.events.findIndex(
      (m) => m.type === 'snapshot' && m.table === plans.display && m.version === snapshot.version,
    );
    const [invalidate, announced] = [w.events[invalidateAt], w.events[announcedAt]];
    expect(invalidateAt).toBeGreaterThanOrEqual(0);
    expect(announcedAt).toBeGreaterThan(invalidateAt);
    expect(announced).toMatchObject({ digest: snapshot.digest, lsn: snapshot.lsn });
    if (invalidate?.type !== 'invalidate') throw new Error('unreachable');
    expect(lsnValue(snapshot.lsn)).toBeGreaterThanOrEqual(lsnValue(invalidate.lsn));

    // A manual resync of one table reloads that table only.
    await bridge.requestResync(['plans']);
    await waitFor('a snapshot after the resync', () => w.snapshots(plans.display).length === 3);
    expect(w.snapshots(countries.display)).toHaveLength(1);
  });

  it('adds no jobs and serves no board with jobs: false', async () => {
    await using w = await createJobsWorld('psc_bridge_jobs');
    const plans = await w.createTable('plans', 'id int PRIMARY KEY');
    const bridge = await w.startBridge({ jobs: false });
    // Until the term's opening resync is out, a notification is covered by that resync instead.
    await waitFor('the takeover resync', () => w.events.some((m) => m.type === 'resync'));
    await w.schema.pool.query('INSERT INTO plans VALUES (1)');
    await waitFor('the invalidate', () => w.events.some((m) => m.type === 'invalidate'));
    await bridge.requestResync();
    expect(await w.queue.count()).toBe(0);
    expect(await w.store.read(plans.display)).toBeUndefined();
    expect(w.snapshots()).toEqual([]);
    const board = await fetch(`http://127.0.0.1:${bridge.httpPort}/queues/`);
    expect(board.status).toBe(404);
    expect(await bridge.registry.metrics()).not.toMatch(/psc_reload_/);
  });
});
