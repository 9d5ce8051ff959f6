// Direct mode with a read replica that replays a second behind the primary: a reload after a commit
// reads the replica only once it has replayed the commit, so no version after a commit holds the
// old rows; a replica that lags past the bound or is stopped means the primary, counted and warned
// about once, and the cache keeps following commits.
import { startPrivateReplica, type PrivateReplica } from '@pg-static-cache/local-services';
import { databaseUrl, tableDigest, waitFor } from '@pg-static-cache/test-support';
import {
  cachesOf,
  createTablesSchema,
  waitConverged,
  watchCaches,
  type TablesSchema,
  type Watched,
} from '@pg-static-cache/test-support/fixtures/direct-mode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const DELAY_MS = 1_000;

describe('a direct-mode subscriber with a replica', () => {
  let schema: TablesSchema;
  let replica: PrivateReplica;
  /** The test schema's URL on the replica's port. */
  let replicaUrl: string;

  beforeAll(async () => {
    schema = await createTablesSchema(['plans'], { prefix: 'psc_replica_client' });
    replica = await startPrivateReplica(databaseUrl(), { delayMs: DELAY_MS });
    const url = new URL(schema.url);
    url.port = new URL(replica.url).port;
    replicaUrl = url.toString();
    await replica.caughtUp();
  }, 120_000);

  afterAll(async () => {
    await replica[Symbol.asyncDispose]();
    await schema[Symbol.asyncDispose]();
  }, 60_000);

  function watch(replicaWaitMs: number): Watched {
    return watchCaches({
      pg: schema.url,
      replica: replicaUrl,
      replicaWaitMs,
      channel: schema.channel,
      caches: cachesOf(['plans']),
    });
  }

  const replicaWarnings = (watched: Watched) =>
    watched.warnings.filter((w) =>
      w.message.startsWith('reading the primary instead of the replica'),
    );

  /**
   * Commits a change and waits for the version that holds it; returns every version the cache
   * swapped in after the commit returned, each with its digest and where it read its rows.
   */
  async function commitAndFollow(watched: Watched, label: string) {
    const before = watched.reloads.length;
    await schema.pool.query('UPDATE plans SET label = $1 WHERE id = 1', [label]);
    const committed = await tableDigest(schema.pool, 'plans');
    await waitFor(
      `the version holding ${label}`,
      () => watched.reloads.slice(before).some((r) => r.digest === committed),
      15_000,
    );
    await watched.subscriber.idle();
    return { committed, after: watched.reloads.slice(before) };
  }

  it('never swaps in the old rows after a commit: it waits until the replica has replayed it', async () => {
    await using watched = watch(5_000);
    await watched.subscriber.start();
    const [cache] = watched.subscriber.caches;
    if (cache === undefined) throw new Error('no cache');
    for (const label of ['first', 'second', 'third']) {
      const { committed, after } = await commitAndFollow(watched, label);
      // Every version after the commit holds it: none is the replica's older copy.
      expect(after.map((r) => r.digest)).toEqual(after.map(() => committed));
      expect(after.map((r) => r.replica)).toEqual(after.map(() => 'replica'));
      // The replica really lagged: each such version took about its delay.
      expect(Math.min(...after.map((r) => r.ms))).toBeGreaterThan(DELAY_MS / 2);
    }
    const { stats } = watched.subscriber;
    expect(stats.replicaReads).toBeGreaterThanOrEqual(4);
    expect(stats.replicaFallbacks).toBe(0);
    expect(replicaWarnings(watched)).toEqual([]);
  });

  it('reads the primary when the replica lags past replicaWaitMs, counted and warned once', async () => {
    await using watched = watch(100);
    await watched.subscriber.start();
    for (const label of ['lag-1', 'lag-2']) {
      const { committed, after } = await commitAndFollow(watched, label);
      expect(after.map((r) => r.digest)).toEqual(after.map(() => committed));
      expect(after.map((r) => r.replica)).toEqual(after.map(() => 'lagging'));
    }
    const { stats } = watched.subscriber;
    expect(stats.replicaFallbacksByReason.lagging).toBeGreaterThanOrEqual(2);
    expect(stats.replicaFallbacks).toBe(stats.replicaFallbacksByReason.lagging);
    expect(replicaWarnings(watched)).toHaveLength(1);
  });

  it('reads the primary while the replica is stopped, and the replica again once it is back', async () => {
    await using watched = watch(5_000);
    await watched.subscriber.start();
    await replica.stop();
    try {
      for (const label of ['down-1', 'down-2']) {
        const { committed, after } = await commitAndFollow(watched, label);
        expect(after.map((r) => r.digest)).toEqual(after.map(() => committed));
        expect(after.map((r) => r.replica)).toEqual(after.map(() => 'unavailable'));
      }
      expect(watched.subscriber.stats.replicaFallbacksByReason.unavailable).toBeGreaterThanOrEqual(
        2,
      );
      expect(replicaWarnings(watched)).toHaveLength(1);
      expect(watched.stale).toEqual([]);
    } finally {
      await replica.start();
    }
    const { after } = await commitAndFollow(watched, 'back');
    expect(after.at(-1)?.replica).toBe('replica');
    await waitConverged(schema.pool, watched.subscriber.caches);
  }, 60_000);
});
