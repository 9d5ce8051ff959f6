// The leader's inline reloads: a small table that changed is snapshotted at once by the bridge's
// own worker, without a job; a big one still goes through the queue; and a paused queue pauses
// both (nothing is stored until it is resumed, as Bull Board and the status page say).
import { describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.ts';
import { createJobsWorld } from '../support/jobs-kit.ts';
import { seriesValue } from '../support/metrics.ts';

const INLINE_DONE = 'psc_reload_inline_total{outcome="completed"}';
const INLINE_FAILED = 'psc_reload_inline_total{outcome="failed"}';
const JOBS_ADDED = 'psc_reload_jobs_enqueued_total{trigger="invalidate"}';

describe("the leader's inline reloads", () => {
  it('snapshots a small changed table without a job, and a big one with a job', async () => {
    await using w = await createJobsWorld('psc_inline');
    const small = await w.createTable('plans', 'id int PRIMARY KEY, label text');
    const big = await w.createTable('prices', 'id int PRIMARY KEY, cents int');
    await w.schema.pool.query(`INSERT INTO plans VALUES (1, 'free'), (2, 'pro')`);
    await w.schema.pool.query(`INSERT INTO prices SELECT i, i FROM generate_series(1, 20) i`);
    const bridge = await w.startBridge({ inlineReloadRows: 10 });
    await w.waitForCurrentSnapshot(small);
    await w.waitForCurrentSnapshot(big);
    await w.waitForIdleQueue();
    const metric = async (series: string) => seriesValue(await bridge.registry.metrics(), series);
    const addsBefore = await metric(JOBS_ADDED);
    expect(await metric(INLINE_DONE)).toBe(0);

    await w.schema.pool.query(`UPDATE plans SET label = 'team' WHERE id = 2`);
    const smallSnapshot = await w.waitForCurrentSnapshot(small);
    expect(smallSnapshot.rows).toEqual([
      ['1', 'free'],
      ['2', 'team'],
    ]);
    await waitFor('the inline reload to be counted', async () => (await metric(INLINE_DONE)) === 1);
    expect(await metric(JOBS_ADDED)).toBe(addsBefore);
    // Announced as the queue's snapshots are: a delta from the version apps hold, then the snapshot.
    await waitFor('its messages', () =>
      w.snapshots(small.display).some((m) => m.version === smallSnapshot.version),
    );
    const delta = w.events.find(
      (m) => m.type === 'snapshot-delta' && m.version === smallSnapshot.version,
    );
    expect(delta).toMatchObject({ table: small.display, rows: [[1, ['2', 'team']]] });

    await w.schema.pool.query(`UPDATE prices SET cents = 0 WHERE id = 7`);
    expect((await w.waitForCurrentSnapshot(big)).rows[6]).toEqual(['7', '0']);
    await waitFor('the job add', async () => (await metric(JOBS_ADDED)) === (addsBefore ?? 0) + 1);
    expect(await metric(INLINE_DONE)).toBe(1);
  });

  it('stores nothing while the queue is paused, then catches up once it is resumed', async () => {
    await using w = await createJobsWorld('psc_inline_pause');
    const plans = await w.createTable('plans', 'id int PRIMARY KEY, label text');
    await w.schema.pool.query(`INSERT INTO plans VALUES (1, 'free')`);
    const bridge = await w.startBridge();
    const metric = async (series: string) => seriesValue(await bridge.registry.metrics(), series);
    await w.waitForCurrentSnapshot(plans);
    await w.waitForIdleQueue();
    // A first change makes the table known to the leader's worker as a small one.
    await w.schema.pool.query(`UPDATE plans SET label = 'pro' WHERE id = 1`);
    const before = await w.waitForCurrentSnapshot(plans);
    await waitFor('an inline reload', async () => (await metric(INLINE_DONE)) === 1);
    const addsBefore = (await metric(JOBS_ADDED)) ?? 0;

    await w.queue.pause();
    await w.schema.pool.query(`UPDATE plans SET label = 'team' WHERE id = 1`);
    // The inline reload ran its query, found the queue paused, stored nothing and added a job.
    await waitFor('the job add', async () => (await metric(JOBS_ADDED)) === addsBefore + 1);
    expect(await metric(INLINE_FAILED)).toBe(1);
    expect(await w.queue.getJobCounts('wait')).toMatchObject({ wait: 1 });
    expect((await w.store.read(plans.display))?.version).toBe(before.version);

    await w.queue.resume();
    expect((await w.waitForCurrentSnapshot(plans)).rows).toEqual([['1', 'team']]);
  });
});
