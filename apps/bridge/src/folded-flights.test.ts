import { describe, expect, it } from 'vitest';
import { createTestSchema, waitFor } from '@pg-static-cache/test-support';
import { LsnReader } from './connections/lsn-reader.ts';
import { FoldedFlights } from './folded-flights.ts';

/** The leader's announces keep the oldest arrival of what they fold. */
const keepOldest = (oldest: number): number => oldest;

/** A promise with its resolve function, for holding an announce until the test lets it go. */
function gate(): { readonly promise: Promise<void>; readonly open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

interface Run {
  readonly oid: number;
  readonly arrivedAt: number;
  readonly release: () => void;
  done: boolean;
}

/** Announces that each wait for the test to release them; every call is recorded in order. */
function heldAnnounces() {
  const runs: Run[] = [];
  const invalidations = new FoldedFlights<number, number>(
    async (oid, arrivedAt) => {
      const held = gate();
      const run: Run = { oid, arrivedAt, release: held.open, done: false };
      runs.push(run);
      await held.promise;
      run.done = true;
    },
    (error) => {
      throw error;
    },
    keepOldest,
  );
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return { invalidations, runs, settle };
}

function lsnValue(lsn: string): bigint {
  const [high = '0', low = '0'] = lsn.split('/');
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
}

describe('FoldedFlights (the leader announcing changes per table)', () => {
  it('announces a lone notification at once', () => {
    const { invalidations, runs } = heldAnnounces();
    invalidations.notify(7, 1);
    expect(runs.map(({ oid, arrivedAt }) => ({ oid, arrivedAt }))).toEqual([
      { oid: 7, arrivedAt: 1 },
    ]);
  });

  it('folds a burst during a run into exactly one more run, started after it finished', async () => {
    const { invalidations, runs, settle } = heldAnnounces();
    expect(invalidations.notify(7, 1)).toBe('started');
    const folded = new Set<string>();
    for (let at = 2; at <= 1_001; at += 1) folded.add(invalidations.notify(7, at));
    await settle();
    expect({ runs: runs.length, folded: [...folded] }).toEqual({ runs: 1, folded: ['folded'] });

    runs[0]?.release();
    await settle();
    // The oldest folded arrival is carried, so the lag histogram shows the worst wait.
    expect(runs.map(({ arrivedAt, done }) => ({ arrivedAt, done }))).toEqual([
      { arrivedAt: 1, done: true },
      { arrivedAt: 2, done: false },
    ]);

    // One arriving during that second run is not covered by it: one more run.
    invalidations.notify(7, 1_002);
    invalidations.notify(7, 1_003);
    runs[1]?.release();
    await settle();
    expect(runs.map((run) => run.arrivedAt)).toEqual([1, 2, 1_002]);
    runs[2]?.release();
    await settle();
    expect(runs).toHaveLength(3);
    expect(invalidations.inFlight).toBe(0);

    invalidations.notify(7, 2_000);
    expect(runs).toHaveLength(4);
  });

  it('keeps tables apart: a slow table never holds another back', async () => {
    const { invalidations, runs, settle } = heldAnnounces();
    invalidations.notify(1, 1);
    invalidations.notify(2, 2);
    invalidations.notify(2, 3);
    expect(runs.map((run) => run.oid)).toEqual([1, 2]);
    runs[1]?.release();
    await settle();
    expect(runs.map((run) => run.oid)).toEqual([1, 2, 2]);
    expect(invalidations.inFlight).toBe(2);
    runs[2]?.release();
    await settle();
    expect(invalidations.inFlight).toBe(1);
    runs[0]?.release();
    await settle();
    expect(invalidations.inFlight).toBe(0);
  });

  it('reports a failed announce and still runs what was folded meanwhile', async () => {
    const failure = new Error('announce failed');
    const errors: [unknown, number][] = [];
    const calls: number[] = [];
    const held = gate();
    const invalidations = new FoldedFlights<number, number>(
      async (_oid, arrivedAt) => {
        calls.push(arrivedAt);
        if (calls.length === 1) {
          await held.promise;
          throw failure;
        }
      },
      (error, oid) => errors.push([error, oid]),
      keepOldest,
    );
    invalidations.notify(9, 1);
    invalidations.notify(9, 2);
    held.open();
    await waitFor('the folded run', () => calls.length === 2);
    expect(errors).toEqual([[failure, 9]]);
    await waitFor('the table to be idle', () => invalidations.inFlight === 0);
    invalidations.notify(9, 3);
    expect(calls).toEqual([1, 2, 3]);
  });

  it('starts nothing after close, not even what was pending', async () => {
    const { invalidations, runs, settle } = heldAnnounces();
    invalidations.notify(7, 1);
    invalidations.notify(7, 2);
    invalidations.close();
    invalidations.close();
    expect(invalidations.notify(8, 3)).toBe('closed');
    runs[0]?.release();
    await settle();
    expect(runs.map((run) => run.arrivedAt)).toEqual([1]);
    expect(invalidations.inFlight).toBe(0);
  });

  it('gives the run after a burst an LSN at or past every commit folded into it', async () => {
    await using schema = await createTestSchema('psc_fold');
    await schema.pool.query('CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)');
    await schema.pool.query('INSERT INTO counters VALUES (1, 0)');
    const lsn = new LsnReader(schema.pool);
    const read: string[] = [];
    const first = gate();
    const errors: unknown[] = [];
    const invalidations = new FoldedFlights<number, number>(
      async () => {
        read.push(await lsn.read());
        // The first run is still publishing while the burst commits.
        if (read.length === 1) await first.promise;
      },
      (error) => errors.push(error),
      keepOldest,
    );

    invalidations.notify(1, 0);
    await waitFor('the first LSN read', () => read.length === 1);
    const client = await schema.pool.connect();
    const commits: string[] = [];
    try {
      for (let i = 0; i < 20; i += 1) {
        await client.query('UPDATE counters SET n = n + 1 WHERE id = 1');
        // Read after the commit returned, so it is at or past the commit record's end.
        const { rows } = await client.query<{ lsn: string }>(
          'SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn',
        );
        commits.push(rows[0]?.lsn ?? '');
        invalidations.notify(1, i + 1);
      }
    } finally {
      client.release();
    }
    const last = lsnValue(commits.at(-1) ?? '');
    // What the running run read cannot cover the burst: only a run after it can.
    expect(lsnValue(read[0] ?? '')).toBeLessThan(last);
    first.open();
    await waitFor('the folded run', () => invalidations.inFlight === 0);
    expect({ runs: read.length, errors }).toEqual({ runs: 2, errors: [] });
    expect(lsnValue(read[1] ?? '')).toBeGreaterThanOrEqual(last);
  });
});
