// A snapshot's LSN says "every commit up to here is in these rows": a snapshot-mode app holding it
// treats any `invalidate` at or below that LSN as already held and does not reload. So the worker
// must read the LSN before its table query. Read after, a commit landing while the query runs is
// claimed by the LSN but missing from the rows, and the invalidate of that commit is swallowed.
import { RELOAD_JOB } from '@pg-static-cache/bridge';
import { describe, expect, it } from 'vitest';
import { createLoginRole } from '../support/fixtures/login-role.ts';
import { createQueryGate } from '../support/fixtures/query-gate.ts';
import { createJobsWorld } from '../support/jobs-kit.ts';

describe('reload jobs: the snapshot LSN', () => {
  it('never covers a commit that landed while the table query ran', async () => {
    await using w = await createJobsWorld('psc_snap_lsn');
    const table = await w.createTable('plans', 'id int PRIMARY KEY, label text');
    const { pool } = w.schema;
    await pool.query(`INSERT INTO plans VALUES (1, 'before')`);
    // The worker runs as a role whose queries of `plans` the test can stop mid-query.
    await using role = await createLoginRole(pool, w.schema.url, w.schema.schema);
    await using gate = await createQueryGate(w.schema.url, w.schema.schema, role.name, ['plans']);
    await w.startWorker({ overrides: { databaseUrl: role.url } });

    await gate.hold();
    const lsnBefore = await currentLsn();
    await w.queue.add(RELOAD_JOB, { table: table.display, oid: table.oid, lsn: lsnBefore, at: 0 });
    // The job's query has its snapshot and waits at the gate: this commit is not in its rows.
    await gate.waitHeld('plans');
    await pool.query(`UPDATE plans SET label = 'after' WHERE id = 1`);
    // What the bridge puts in the commit's invalidate: an LSN read after the notification.
    const invalidateLsn = await currentLsn();
    await gate.release();

    const snapshot = await waitForStoredSnapshot();
    expect(snapshot.rows).toEqual([['1', 'before']]);
    // The rows lack the commit, so the LSN must be below the invalidate's: an app that holds this
    // snapshot still reloads for that invalidate instead of keeping 'before' as held.
    expect(await lsnBelow(snapshot.lsn, invalidateLsn)).toBe(true);

    async function currentLsn(): Promise<string> {
      const result = await pool.query<{ lsn: string }>(
        'SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn',
      );
      return result.rows[0]?.lsn ?? '';
    }
    async function lsnBelow(a: string, b: string): Promise<boolean> {
      const result = await pool.query<{ below: boolean }>(
        'SELECT $1::pg_lsn < $2::pg_lsn AS below',
        [a, b],
      );
      return result.rows[0]?.below === true;
    }
    async function waitForStoredSnapshot() {
      await w.waitForIdleQueue();
      const stored = await w.store.read(table.display);
      if (stored === undefined) throw new Error('no snapshot stored');
      return stored;
    }
  });
});
