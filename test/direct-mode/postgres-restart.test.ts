// The seed's listener died with the first lost connection, so a database restart left every
// process with caches that never changed again. Ours must come back by itself and catch up.
import { describe, expect, it } from 'vitest';
import {
  cachesOf,
  createTables,
  inOrder,
  waitConverged,
  watchCaches,
} from '../support/fixtures/direct-mode.ts';
import { startPrivatePostgres } from '../support/fixtures/private-postgres.ts';
import { uniqueName, waitFor } from '../support/index.ts';

describe('direct mode: Postgres restarts', () => {
  it('reconnects, reloads everything and also sees commits made before it got back', async () => {
    await using cluster = await startPrivatePostgres();
    const channel = uniqueName('ch');
    await cluster.withClient(async (db) => {
      await createTables(db, ['alpha', 'beta'], channel);
      await db.query('CREATE ROLE app LOGIN');
      await db.query('GRANT SELECT ON alpha, beta TO app');
    });
    const appUrl = new URL(cluster.url);
    appUrl.username = 'app';
    const caches = cachesOf(['alpha', 'beta']);
    await using watch = watchCaches({
      pg: appUrl.toString(),
      caches,
      channel,
      backoff: { baseMs: 50, capMs: 250 },
    });
    const { subscriber, statuses, reloads, warnings } = watch;
    await subscriber.start();
    const converged = () => cluster.withClient((db) => waitConverged(db, caches, 15_000));

    // A plain restart: back by itself, every cache reloaded, and listening again.
    await cluster.stop();
    await waitFor('the subscriber to notice', () => subscriber.status === 'reconnecting');
    expect(caches.map((c) => c.status)).toEqual(['stale', 'stale']);
    const mark = reloads.length;
    await cluster.start();
    await waitFor('ready after the restart', () => subscriber.status === 'ready', 15_000);
    await waitFor('every cache reloaded after the reconnect', () => {
      const names = reloads.slice(mark).filter((r) => r.reason === 'reconnect');
      return new Set(names.map((r) => r.cache)).size === 2;
    });
    await cluster.withClient((db) => db.query(`UPDATE alpha SET label = 'after restart'`));
    await converged();
    expect(caches[0]?.get(3)?.['label']).toBe('after restart');

    // A commit made after the restart but before the subscriber is back. Refusing its logins
    // keeps it out until the commit is done, so the order is certain, not a matter of timing.
    await cluster.withClient((db) => db.query('ALTER ROLE app NOLOGIN'));
    await cluster.stop();
    await waitFor('the subscriber to notice again', () => subscriber.status === 'reconnecting');
    await cluster.start();
    await cluster.withClient(async (db) => {
      await db.query(`UPDATE beta SET label = 'while away' WHERE id = 2`);
      await db.query(`INSERT INTO alpha VALUES (4, 'while away')`);
    });
    await waitFor('a refused login after the restart', () =>
      warnings.some((w) => w.message.includes('not permitted to log in')),
    );
    expect(subscriber.status).toBe('reconnecting');
    expect(caches[0]?.get(4)).toBeUndefined();
    await cluster.withClient((db) => db.query('ALTER ROLE app LOGIN'));
    await converged();
    expect(caches[0]?.get(4)).toEqual({ id: 4, label: 'while away' });
    expect(caches[1]?.get(2)?.['label']).toBe('while away');
    expect(inOrder(statuses, ['ready', 'reconnecting', 'ready', 'reconnecting', 'ready'])).toBe(
      true,
    );
    expect(subscriber.stats.resyncs).toBe(2);
  });
});
