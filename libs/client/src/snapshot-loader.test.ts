// Snapshot mode's options and its Redis reading connection: refused options, a start without
// Redis, and a read that fails while the subscription is fine.
import { namesFor, serializeMessage } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createTestSchema, redisUrl, uniqueName, waitFor } from '@pg-static-cache/test-support';
import { ClientError } from './errors.ts';
import { StaticCache } from './static-cache.ts';
import { createSubscriber, type ReloadEvent, type SubscriberOptions } from './subscriber.ts';

const caches = [new StaticCache({ table: 'items' })];

function codeOf(options: unknown): string | undefined {
  try {
    createSubscriber(options as SubscriberOptions);
  } catch (error) {
    return error instanceof ClientError ? error.code : 'not a ClientError';
  }
  return undefined;
}

describe('snapshot mode', () => {
  it('refuses snapshot mode without Redis and a snapshotWaitMs that is not a duration', () => {
    const base = { pg: 'postgres://x', caches, mode: 'snapshot' };
    expect(codeOf(base)).toBe('INVALID_OPTIONS');
    const redis = 'redis://127.0.0.1:1';
    for (const snapshotWaitMs of [-1, Number.NaN, Infinity, '5']) {
      expect(codeOf({ ...base, redis, snapshotWaitMs })).toBe('INVALID_OPTIONS');
    }
    const subscriber = createSubscriber({ ...base, mode: 'snapshot', redis, snapshotWaitMs: 0 });
    expect(subscriber.options.mode).toBe('snapshot');
  });

  it('fails to start when Redis cannot be reached, and leaves nothing open', async () => {
    await using schema = await createTestSchema();
    await schema.pool.query('CREATE TABLE items (id int PRIMARY KEY)');
    const subscriber = createSubscriber({
      mode: 'snapshot',
      pg: schema.url,
      redis: 'redis://127.0.0.1:1',
      caches: [new StaticCache({ table: 'items' })],
      backoff: { baseMs: 10, capMs: 20 },
    });
    subscriber.on('warning', () => undefined);
    const error = await subscriber.start().catch((e: unknown) => e);
    expect((error as ClientError).code).toBe('START_FAILED');
    expect(subscriber.status).toBe('closed');
  });

  it('queries Postgres and warns when the snapshot cannot be read from Redis', async () => {
    await using schema = await createTestSchema();
    await schema.pool.query(`CREATE TABLE items (id int PRIMARY KEY, label text);
                             INSERT INTO items VALUES (1, 'one')`);
    const names = namesFor(uniqueName('ns'));
    const connectionName = uniqueName('psc_reader');
    const { hostname, port } = new URL(redisUrl());
    const items = new StaticCache({ table: 'items' });
    await using subscriber = createSubscriber({
      mode: 'snapshot',
      pg: schema.url,
      redis: { host: hostname, port: Number(port), connectionName },
      namespace: names.namespace,
      caches: [items],
      bridgeSilenceMs: 60_000,
      // Slow reconnects: the reading connection stays down for the rest of the test.
      backoff: { baseMs: 10_000, capMs: 10_000 },
    });
    const reloads: ReloadEvent[] = [];
    const warnings: Error[] = [];
    subscriber.on('reload', (event) => reloads.push(event));
    subscriber.on('warning', (warning) => warnings.push(warning));
    await subscriber.start();
    const admin = new Redis(redisUrl());
    try {
      const reader = String(await admin.client('LIST'))
        .split('\n')
        .filter((line) => line.includes(`name=${connectionName} `))
        .filter((line) => !line.includes('cmd=subscribe'))
        .map((line) => /\bid=(\d+)/.exec(line)?.[1]);
      expect(reader).toHaveLength(1);
      await admin.client('KILL', 'ID', String(reader[0]));
      await schema.pool.query(`UPDATE items SET label = 'changed'`);
      const { rows } = await schema.pool.query<{ lsn: string }>(
        'SELECT pg_current_wal_lsn()::text AS lsn',
      );
      const table = items.table;
      if (table === undefined) throw new Error('not started');
      const message = serializeMessage({
        v: 1,
        type: 'snapshot',
        table: table.display,
        oid: table.oid,
        version: 1,
        generation: 'g',
        key: names.snapshot(table.display),
        digest: '0'.repeat(64),
        lsn: rows[0]?.lsn ?? '0/1',
        at: Date.now(),
        worker: 'test',
      });
      await admin.publish(names.events, message);
      await waitFor('the fallback', () => reloads.length === 2);
    } finally {
      await admin.quit();
    }
    expect(reloads.map((r) => [r.source, r.fallback])).toEqual([
      ['postgres', 'missing'],
      ['postgres', 'unavailable'],
    ]);
    expect(items.get(1)).toEqual({ id: 1, label: 'changed' });
    expect(warnings.map((w) => w.message).join('\n')).toMatch(/snapshot of .*items cannot be read/);
  });
});
