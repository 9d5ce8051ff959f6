// The reload worker on a real Postgres and Redis: snapshots hold Postgres text that parses back to
// exactly the rows of a direct query, versions only move forward when jobs finish out of order,
// tables are found again after a drop and re-create, and failed attempts are retried and counted.
import { selectRowsSql } from '@pg-static-cache/postgres';
import type { SnapshotMessage } from '@pg-static-cache/protocol';
import pg from 'pg';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createJobsWorld, gate } from '@pg-static-cache/test-support/jobs-kit';
import { nextEvent, waitFor } from '@pg-static-cache/test-support';
import { RELOAD_JOB, type ReloadJobData } from './reload-job.ts';
import type { ReloadWorkerEvents } from './reload-worker.ts';

const jobFor = (table: { display: string; oid: number }): ReloadJobData => ({
  table: table.display,
  oid: table.oid,
  lsn: '0/0',
  at: Date.now(),
});

// What a client in snapshot mode does with each value: node-postgres' own parser for the type.
const textParser = pg.types.getTypeParser as (
  oid: number,
  format: 'text',
) => (text: string) => unknown;

async function metric(registry: Registry, series: string): Promise<number> {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no series ${series}`);
  return Number(line.slice(series.length + 1));
}

describe('ReloadWorker', () => {
  it('stores Postgres text that node-postgres parses into exactly the rows of a direct query', async () => {
    await using w = await createJobsWorld('psc_worker');
    const table = await w.createTable(
      'mixed',
      `id int PRIMARY KEY, big bigint, price numeric(12,4), ratio double precision, ok boolean,
       born date, seen timestamptz, local timestamp, doc jsonb, tags text[], raw bytea,
       span interval, note text`,
    );
    await w.schema.pool.query(`
      INSERT INTO mixed VALUES
        (2, 9007199254740993, 12.5, 0.1, true, '2024-02-29', '2024-02-29 12:34:56.789+02',
         '2024-02-29 12:34:56', '{"a": [1, "x"], "b": null}', '{a,"b c",NULL}', '\\x00ff',
         '1 day 02:03:04', 'héllo "quoted", newline
      here'),
        (1, NULL, NULL, 'NaN', false, NULL, NULL, NULL, 'null', '{}', '', NULL, NULL)`);
    const worker = await w.startWorker();
    const stored = nextEvent<ReloadWorkerEvents['snapshot']>(worker, 'snapshot');
    await w.queue.add(RELOAD_JOB, jobFor(table));
    const [message] = await stored;

    const snapshot = await w.store.read(table.display);
    expect(snapshot).toMatchObject({ table: table.display, oid: table.oid, version: 1 });
    expect(message).toMatchObject({
      type: 'snapshot',
      table: table.display,
      version: 1,
      key: w.names.snapshot(table.display),
      digest: snapshot?.digest,
      lsn: snapshot?.lsn,
    });
    // Every value is the text Postgres sent, untouched.
    expect(snapshot?.rows[0]?.slice(0, 3)).toEqual(['1', null, null]);
    expect(snapshot?.rows[1]?.[1]).toBe('9007199254740993');

    const direct = await w.schema.pool.query(selectRowsSql(table));
    const parsed = (snapshot?.rows ?? []).map((row) =>
      Object.fromEntries(
        (snapshot?.fields ?? []).map((field, i) => {
          const text = row[i] ?? null;
          const parse = textParser(field.dataTypeID, 'text');
          return [field.name, text === null ? null : parse(text)];
        }),
      ),
    );
    expect(parsed).toEqual(direct.rows);
    expect(w.snapshots(table.display)).toHaveLength(1);
  });

  it('keeps the newer snapshot when an older job finishes last', async () => {
    await using w = await createJobsWorld('psc_worker');
    const table = await w.createTable('plans', 'id int PRIMARY KEY, label text');
    await w.schema.pool.query(`INSERT INTO plans VALUES (1, 'one')`);
    const registry = new Registry();
    const newerStored = gate();
    const worker = await w.startWorker({
      overrides: { workerConcurrency: 2 },
      registry,
      hooks: {
        // The first version waits until the second is stored (as a job that froze would).
        beforeStore: (snapshot) => (snapshot.version === 1 ? newerStored.promise : undefined),
      },
    });
    const stored: SnapshotMessage[] = [];
    worker.on('snapshot', (message) => {
      stored.push(message);
      newerStored.open();
    });
    const superseded = nextEvent<ReloadWorkerEvents['superseded']>(worker, 'superseded');
    // Two jobs for one table at once only happen when a stalled job is rerun while its first
    // worker still runs; without deduplication, the test gets them directly.
    await w.queue.add(RELOAD_JOB, jobFor(table));
    await w.queue.add(RELOAD_JOB, jobFor(table));

    expect((await superseded)[0]).toEqual({ table: table.display, version: 1, current: 2 });
    expect(stored.map((m) => m.version)).toEqual([2]);
    expect(await w.store.read(table.display)).toMatchObject({ version: 2 });
    expect(await metric(registry, 'psc_reload_snapshots_superseded_total')).toBe(1);
    await waitFor('both jobs to complete', async () => {
      const counts = await w.queue.getJobCounts('completed');
      return counts['completed'] === 2;
    });
    expect(await metric(registry, 'psc_reload_jobs_total{outcome="completed"}')).toBe(2);
  });

  it('follows a table dropped and re-created under its name; a job whose table is gone fails and deletes its snapshot', async () => {
    await using w = await createJobsWorld('psc_worker');
    const old = await w.createTable('plans', 'id int PRIMARY KEY, label text');
    await w.schema.pool.query('DROP TABLE plans');
    const recreated = await w.createTable('plans', 'code text PRIMARY KEY');
    await w.schema.pool.query(`INSERT INTO plans VALUES ('pro'), ('basic')`);
    expect(recreated.oid).not.toBe(old.oid);
    const registry = new Registry();
    const worker = await w.startWorker({ registry });

    const stored = nextEvent<ReloadWorkerEvents['snapshot']>(worker, 'snapshot');
    await w.queue.add(RELOAD_JOB, jobFor(old));
    expect((await stored)[0]).toMatchObject({ table: old.display, oid: recreated.oid });
    expect(await w.waitForCurrentSnapshot(recreated)).toMatchObject({
      rows: [['basic'], ['pro']],
    });

    // Renamed away: nothing has the name any more, so trying again cannot help.
    await w.schema.pool.query('ALTER TABLE plans RENAME TO tiers');
    const failed = nextEvent<ReloadWorkerEvents['failed']>(worker, 'failed');
    await w.queue.add(RELOAD_JOB, jobFor(recreated), { attempts: 5 });
    const [failure] = await failed;
    expect(failure).toMatchObject({ table: recreated.display, final: true });
    expect(failure.error.message).toMatch(/no longer exists/);
    // The snapshot stored for the name is of a table that is gone: apps must not load it.
    expect(await w.redis.exists(w.names.snapshot(recreated.display))).toBe(0);
    expect(await metric(registry, 'psc_reload_jobs_total{outcome="failed"}')).toBe(1);
    expect(await metric(registry, 'psc_reload_jobs_total{outcome="retried"}')).toBe(0);
  });

  it('retries a failed attempt with backoff and counts it', async () => {
    await using w = await createJobsWorld('psc_worker');
    const table = await w.createTable('plans', 'id int PRIMARY KEY');
    const registry = new Registry();
    let attempts = 0;
    const worker = await w.startWorker({
      registry,
      hooks: {
        beforeQuery: () => {
          attempts += 1;
          if (attempts < 3) throw new Error(`transient failure ${attempts}`);
        },
      },
    });
    const stored = nextEvent<ReloadWorkerEvents['snapshot']>(worker, 'snapshot');
    await w.queue.add(RELOAD_JOB, jobFor(table), {
      attempts: 5,
      backoff: { type: 'exponential', delay: 20 },
    });
    // Each attempt took a new version; the one that succeeded stored the highest.
    expect((await stored)[0]).toMatchObject({ version: 3 });
    expect(await metric(registry, 'psc_reload_jobs_total{outcome="retried"}')).toBe(2);
    expect(await metric(registry, 'psc_reload_jobs_total{outcome="completed"}')).toBe(1);
    expect(await metric(registry, `psc_snapshot_rows{table="${table.display}"}`)).toBe(0);
    const text = await registry.metrics();
    expect(text).toMatch(/^psc_reload_duration_seconds_count 1$/m);
    expect(text).toMatch(
      new RegExp(`^psc_snapshot_bytes\\{table="${table.display}"\\} \\d+$`, 'm'),
    );
  });
});
