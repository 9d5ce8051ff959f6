// The subscriber's lifecycle and options against a real Postgres: who owns the pool, starting
// twice, closing twice, bad options and an unreachable server.
import { describe, expect, it } from 'vitest';
import { startTcpProxy } from '@pg-static-cache/test-support/fixtures/tcp-proxy';
import { createTestSchema, uniqueName, waitFor } from '@pg-static-cache/test-support';
import { ClientError } from './errors.ts';
import { StaticCache } from './static-cache.ts';
import { createSubscriber, type SubscriberOptions } from './subscriber.ts';

const SQL = `CREATE TABLE items (id int PRIMARY KEY, label text);
             INSERT INTO items VALUES (1, 'one'), (2, 'two')`;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof ClientError ? error.code : 'not a ClientError';
  }
  return undefined;
}

describe('Subscriber', () => {
  it('uses a pool the app gives it and leaves that pool open on close', async () => {
    await using schema = await createTestSchema();
    await schema.pool.query(SQL);
    const items = new StaticCache({ table: 'items' });
    const subscriber = createSubscriber({
      pg: schema.pool,
      caches: [items],
      channel: uniqueName('ch'),
    });
    await subscriber.start();
    expect(subscriber.status).toBe('ready');
    expect(items.size).toBe(2);
    await subscriber.close();
    await subscriber.close();
    expect(subscriber.status).toBe('closed');
    // Caches keep their last rows after close, and the app's pool still works.
    expect(items.get(2)?.['label']).toBe('two');
    expect((await schema.pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('accepts a pool config, refuses a second start, and disposes with await using', async () => {
    await using schema = await createTestSchema();
    await schema.pool.query(SQL);
    const items = new StaticCache({ table: 'items' });
    let closedBy: string | undefined;
    {
      await using subscriber = createSubscriber({
        pg: { connectionString: schema.url, max: 2 },
        caches: [items],
        channel: uniqueName('ch'),
      });
      subscriber.on('status', (status) => (closedBy = status));
      await subscriber.start();
      const again = await subscriber.start().catch((error: unknown) => error);
      expect(again).toBeInstanceOf(ClientError);
      expect((again as ClientError).code).toBe('ALREADY_STARTED');
    }
    expect(closedBy).toBe('closed');
  });

  it('refuses an unknown mode, redis mode without Redis, a bad namespace and no caches', () => {
    const caches = [new StaticCache({ table: 'items' })];
    const badMode = { pg: 'postgres://x', caches, mode: 'pigeon' } as unknown as SubscriberOptions;
    expect(codeOf(() => createSubscriber(badMode))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => createSubscriber({ pg: 'postgres://x', caches, mode: 'redis' }))).toBe(
      'INVALID_OPTIONS',
    );
    const nullRedis = { pg: 'postgres://x', caches, mode: 'redis', redis: null } as unknown;
    expect(codeOf(() => createSubscriber(nullRedis as SubscriberOptions))).toBe('INVALID_OPTIONS');
    const redis = 'redis://127.0.0.1:1';
    expect(
      codeOf(() =>
        createSubscriber({ pg: 'postgres://x', caches, mode: 'redis', redis, namespace: 'a:b' }),
      ),
    ).toBe('INVALID_OPTIONS');
    expect(codeOf(() => createSubscriber({ pg: 'postgres://x', caches: [] }))).toBe('NO_CACHES');
  });

  it('fails to start with START_FAILED when Postgres cannot be reached, and closes', async () => {
    // Port 1 on loopback: refused at once.
    const subscriber = createSubscriber({
      pg: 'postgres://postgres@127.0.0.1:1/postgres',
      caches: [new StaticCache({ table: 'items' })],
    });
    const error = await subscriber.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe('START_FAILED');
    expect((error as ClientError).cause).toBeDefined();
    expect(subscriber.status).toBe('closed');
  });

  it('stops for good when closed while starting: no load runs after close', async () => {
    await using schema = await createTestSchema();
    await schema.pool.query(SQL);
    await using proxy = await startTcpProxy(schema.url);
    const items = new StaticCache({ table: 'items' });
    const subscriber = createSubscriber({
      pg: proxy.proxiedUrl(schema.url),
      caches: [items],
      channel: uniqueName('ch'),
      backoff: { baseMs: 10, capMs: 20 },
    });
    const events: string[] = [];
    subscriber.on('reload', () => events.push('reload'));
    subscriber.on('stale', (event) => events.push(`stale: ${event.error.message}`));
    // Close lands while the LISTEN is on its way (as a SIGTERM during boot would).
    const release = proxy.holdListens();
    const starting = subscriber.start().catch((error: unknown) => error);
    await waitFor('the LISTEN to be held', () => proxy.heldConnections() === 1);
    const closing = subscriber.close();
    release();
    await closing;
    const error = await starting;
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe('CLOSED');
    expect(events).toEqual([]);
    expect(subscriber.stats.failedReloads).toBe(0);
    expect(items.status).toBe('empty');
  });

  it('loads nothing when asked to resync after close', async () => {
    const subscriber = createSubscriber({
      pg: 'postgres://postgres@127.0.0.1:1/postgres',
      caches: [new StaticCache({ table: 'items' })],
      backoff: { baseMs: 10, capMs: 10 },
    });
    const stale: unknown[] = [];
    subscriber.on('stale', (event) => stale.push(event));
    await subscriber.close();
    subscriber.resyncAll();
    await subscriber.idle();
    expect(stale).toEqual([]);
    expect(subscriber.stats.failedReloads).toBe(0);
  });
});
