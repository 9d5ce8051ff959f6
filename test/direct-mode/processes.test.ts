// The point of the whole thing: several application processes, each with its own LISTEN session,
// all follow every commit.
import { describe, expect, it } from 'vitest';
import { createTablesSchema } from '../support/fixtures/direct-mode.ts';
import { startTcpProxy } from '../support/fixtures/tcp-proxy.ts';
import { tableDigest, waitFor } from '../support/index.ts';
import { startWatch, type WatchProcess } from '../support/watch-process.ts';

const TABLES = ['alpha', 'beta'] as const;

describe('direct mode: separate processes', () => {
  it('brings three app processes to the database digest of every table', async () => {
    await using schema = await createTablesSchema(TABLES, { prefix: 'psc_procs' });
    const { channel } = schema;
    const started = await Promise.allSettled(
      [1, 2, 3].map(() => startWatch({ url: schema.url, channel, tables: TABLES })),
    );
    const apps = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    try {
      for (const s of started) if (s.status === 'rejected') throw s.reason;
      const db = schema.pool;
      await db.query(`INSERT INTO alpha VALUES (10, 'ten')`);
      await db.query(`UPDATE beta SET label = 'changed' WHERE id = 1`);
      await db.query(`DELETE FROM alpha WHERE id = 1`);
      await db.query('TRUNCATE beta');
      await db.query(`INSERT INTO beta VALUES (5, 'five')`);
      const expected = new Map<string, string>();
      for (const table of TABLES) expected.set(table, await tableDigest(db, table));

      await waitFor(
        'every process to report the database digest of every table',
        () => apps.every((app) => TABLES.every((t) => app.digestOf(t) === expected.get(t))),
        20_000,
      );
      for (const app of apps) {
        expect(app.invalid).toEqual([]);
        expect(app.events.filter((e) => e.event === 'stale')).toEqual([]);
      }
      // Each process shut down by itself once closed: nothing was left open.
      expect(await Promise.all(apps.map((app) => app.stop()))).toEqual([0, 0, 0]);
    } finally {
      await Promise.all(apps.map((app: WatchProcess) => app[Symbol.asyncDispose]()));
    }
  });

  it('exits promptly on SIGTERM after its LISTEN path went dead', async () => {
    await using schema = await createTablesSchema(['items'], { prefix: 'psc_procs' });
    await using proxy = await startTcpProxy(schema.url);
    await using app = await startWatch({
      url: proxy.proxiedUrl(schema.url),
      channel: schema.channel,
      tables: ['items'],
      flags: ['--listen-heartbeat-interval-ms', '100', '--listen-heartbeat-timeout-ms', '200'],
    });
    expect(proxy.freezeListeners()).toBe(1);
    await waitFor('the app to replace its dead LISTEN session', () => {
      const statuses = app.events.flatMap((e) => (e.event === 'status' ? [e.status] : []));
      return statuses.includes('reconnecting') && statuses.at(-1) === 'ready';
    });
    // The abandoned session never answers, not even to close: it must not keep the process alive.
    expect(await app.stop(5_000)).toBe(0);
  });
});
