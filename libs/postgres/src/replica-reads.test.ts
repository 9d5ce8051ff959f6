// Reads from a real streaming replica of the test database, delayed by a second: a read for a
// position waits until the replica replayed it (and then has the commit), all waiting reads share
// one poll, and a replica that lags past the bound, is stopped or is no replica sends the read to
// the primary, reported once per streak.
import { startPrivateReplica, type PrivateReplica } from '@pg-static-cache/local-services';
import { createTestSchema, databaseUrl, type TestSchema } from '@pg-static-cache/test-support';
import { startPrivatePostgres } from '@pg-static-cache/test-support/fixtures/private-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ReplicaReads, type ReplicaFallback } from './replica-reads.ts';
import { replayState } from './replay-watch.ts';
import type { Queryable } from './table.ts';
import { currentWalPosition } from './wal-position.ts';

const DELAY_MS = 1_000;

describe('ReplicaReads', () => {
  let schema: TestSchema;
  let replica: PrivateReplica;
  let replicaPool: pg.Pool;
  const fallbacks: ReplicaFallback[] = [];
  let recoveries = 0;

  beforeAll(async () => {
    schema = await createTestSchema('psc_replica_reads');
    await schema.pool.query('CREATE TABLE marks (id int PRIMARY KEY)');
    replica = await startPrivateReplica(databaseUrl(), { delayMs: DELAY_MS });
    const url = new URL(schema.url);
    url.port = new URL(replica.url).port;
    replicaPool = new pg.Pool({ connectionString: url.toString(), max: 4 });
    replicaPool.on('error', () => undefined);
  }, 120_000);

  afterAll(async () => {
    await replicaPool.end();
    await replica[Symbol.asyncDispose]();
    await schema[Symbol.asyncDispose]();
  }, 60_000);

  function reads(waitMs: number): ReplicaReads {
    return new ReplicaReads({
      replica: replicaPool,
      waitMs,
      reports: { started: (fallback) => fallbacks.push(fallback), ended: () => (recoveries += 1) },
    });
  }

  /** Commits `id` on the primary and returns the primary's position right after. */
  async function commit(id: number): Promise<bigint> {
    await schema.pool.query('INSERT INTO marks VALUES ($1)', [id]);
    return currentWalPosition(schema.pool);
  }

  const hasMark = (id: number) => async (db: Queryable) =>
    (await db.query('SELECT 1 FROM marks WHERE id = $1', [id])).rowCount === 1;

  it('reads the replica once it replayed the position, so the rows have the commit', async () => {
    const replicaReads = reads(5_000);
    try {
      const target = await commit(1);
      // The point of the test: the replica does not have it yet.
      expect(await hasMark(1)(replicaPool)).toBe(false);
      const started = performance.now();
      const read = await replicaReads.read(target, schema.pool, hasMark(1));
      expect(read).toEqual({ value: true, outcome: 'replica' });
      expect(performance.now() - started).toBeGreaterThan(DELAY_MS / 2);
      expect(fallbacks).toEqual([]);
    } finally {
      replicaReads.close();
    }
  });

  it('polls the replica once for every read waiting, backing off while it lags', async () => {
    const replicaReads = reads(5_000);
    const query = vi.spyOn(replicaPool, 'query');
    try {
      const target = await commit(2);
      const results = await Promise.all(
        Array.from({ length: 20 }, () => replicaReads.read(target, schema.pool, hasMark(2))),
      );
      expect(results.every((r) => r.value && r.outcome === 'replica')).toBe(true);
      const polls = query.mock.calls.filter(([text]) =>
        text.includes('pg_last_wal_replay_lsn'),
      ).length;
      // ~1 s of lag at 5 ms doubling to 20 ms is about 50 polls, for all twenty reads together
      // (one loop per read would be twenty times as many).
      expect(polls).toBeGreaterThan(1);
      expect(polls).toBeLessThan(100);
    } finally {
      query.mockRestore();
      replicaReads.close();
    }
  });

  it('reads the primary past the bound, reported once per streak', async () => {
    const replicaReads = reads(100);
    try {
      const before = fallbacks.length;
      let target = 0n;
      for (const id of [3, 4, 5]) {
        target = await commit(id);
        const read = await replicaReads.read(target, schema.pool, hasMark(id));
        // The primary's rows: the commit is there, although the replica has not replayed it.
        expect(read).toEqual({ value: true, outcome: 'lagging' });
      }
      expect(fallbacks.slice(before).map((f) => f.reason)).toEqual(['lagging']);
      expect(fallbacks.at(-1)?.error.message).toMatch(/had replayed .* not yet .* within 100 ms/);
      // Once the replica has the last commit, a read for it goes there and ends the streak.
      await replica.caughtUp();
      const recovered = recoveries;
      const read = await replicaReads.read(target, schema.pool, hasMark(5));
      expect(read).toEqual({ value: true, outcome: 'replica' });
      expect(recoveries).toBe(recovered + 1);
    } finally {
      replicaReads.close();
    }
  });

  it('reads the primary at once while the replica is down, and the replica again once it is back', async () => {
    const replicaReads = reads(5_000);
    try {
      await replica.stop();
      const before = fallbacks.length;
      const started = performance.now();
      const read = await replicaReads.read(await commit(6), schema.pool, hasMark(6));
      expect(read).toEqual({ value: true, outcome: 'unavailable' });
      // Down is said at once: nobody waits out the 5 s bound for a replica that refuses.
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(fallbacks.slice(before).map((f) => f.reason)).toEqual(['unavailable']);
      await replica.start();
      const again = await replicaReads.read(await commit(7), schema.pool, hasMark(7));
      expect(again).toEqual({ value: true, outcome: 'replica' });
    } finally {
      replicaReads.close();
    }
  }, 60_000);

  it('never reads a server that is not in recovery, nor one of another cluster', async () => {
    // The primary itself as "replica": same cluster, but it replays nothing.
    const notReplica = new ReplicaReads({
      replica: schema.pool,
      waitMs: 5_000,
      reports: { started: (fallback) => fallbacks.push(fallback) },
    });
    try {
      const read = await notReplica.read(await commit(8), schema.pool, hasMark(8));
      expect(read.outcome).toBe('unavailable');
      expect(fallbacks.at(-1)?.error.message).toMatch(/not in recovery/);
      expect(await replayState(schema.pool)).toEqual({ recovery: false });
    } finally {
      notReplica.close();
    }
    // A real replica, but of our primary, read for another cluster: its LSNs order nothing there.
    await using other = await startPrivatePostgres();
    const otherPool = new pg.Pool({ connectionString: other.url, max: 1 });
    const replicaReads = reads(5_000);
    try {
      const target = await currentWalPosition(otherPool);
      const read = await replicaReads.read(target, otherPool, () => Promise.resolve('read'));
      expect(read).toEqual({ value: 'read', outcome: 'unavailable' });
      expect(fallbacks.at(-1)?.error.message).toMatch(/belongs to another cluster/);
    } finally {
      replicaReads.close();
      await otherPool.end();
    }
  }, 60_000);
});
