// Redis or Postgres goes away under the bridges and the app processes, or the leader's LISTEN
// session is killed: changes committed around the outage still reach every app.
import { describe, expect, it } from 'vitest';
import { startPrivatePostgres } from '../support/fixtures/private-postgres.ts';
import { waitFor } from '../support/index.ts';
import { reloadReasons } from './support/convergence.ts';
import { newTermAfter } from './support/event-log.ts';
import { startPrivateRedis } from '../support/fixtures/private-redis.ts';
import { startScenario, type Scenario } from './support/scenario.ts';

/** A term after a lost LISTEN session: the same bridge reconnecting, or a standby taking over. */
const NEW_TERM_REASONS = ['reconnect', 'takeover'];

/** Commits a change to every table and waits until the leader announced it and every app has it. */
async function changesStillFlow(s: Scenario): Promise<void> {
  const mark = s.events.entries.length;
  await s.tables.changeAll();
  await s.events.waitFor('an invalidate of the change', (m) => m.type === 'invalidate', {
    from: mark,
  });
  await s.converged();
}

describe('e2e: services fail under bridges and apps', () => {
  it('Redis restarts: apps resubscribe and resync, the leader restores lease and epoch', async () => {
    await using redis = await startPrivateRedis();
    await using s = await startScenario({ prefix: 'e2e_redis', redisUrl: redis.url });
    const old = s.leader;
    const marks = s.apps.map((app) => app.events.length);

    await redis.stop();
    await waitFor(
      'every app to notice Redis is gone',
      () => s.apps.every((app) => app.lastStatus() === 'reconnecting'),
      10_000,
    );
    await s.tables.changeAll();
    const mark = s.events.entries.length;
    await redis.start();
    // Publishing is fenced by the lease, which the restart lost: a message means a lease again.
    // (Usually the old leader's, recreated; a standby that reconnected much sooner may fence it.)
    await s.events.waitFor('a leader to publish again', () => true, { from: mark });
    await s.converged();
    s.apps.forEach((app, index) => {
      expect(reloadReasons(app, marks[index])).toContain('reconnect');
    });

    // The restarted Redis had lost lease and epoch counter: the leader put both back.
    await waitFor('a lease again', async () => (await s.bridges.lease()) !== undefined, 10_000);
    const lease = await s.bridges.lease();
    expect(lease?.epoch).toBeGreaterThanOrEqual(old.lease.epoch);
    expect(await s.bridges.epochCounter()).toBeGreaterThanOrEqual(lease?.epoch ?? 1);
    await changesStillFlow(s);
  });

  it('Postgres restarts: LISTEN comes back with a new term, commits right after reach every app', async () => {
    await using cluster = await startPrivatePostgres();
    await using s = await startScenario({ prefix: 'e2e_pg', databaseUrl: cluster.url });
    const old = s.leader;
    const mark = s.events.entries.length;

    await cluster.stop();
    await cluster.start();
    await s.tables.changeAll();
    const term = await s.events.waitFor(
      'a new term after the restart',
      newTermAfter(old.lease.epoch, NEW_TERM_REASONS),
      { from: mark, timeoutMs: 20_000 },
    );
    await s.converged();
    expect(term.message.type === 'resync' && term.message.reason).toMatch(/^(reconnect|takeover)$/);
    await changesStillFlow(s);
  });

  it("the leader's LISTEN backend is terminated: commits right after reach every app", async () => {
    await using s = await startScenario({ prefix: 'e2e_term' });
    const old = s.leader;
    const mark = s.events.entries.length;
    const { pool } = s.tables;

    const killed = await pool.query<{ done: boolean }>(
      'SELECT pg_terminate_backend($1, 5000) AS done',
      [old.lease.backendPid],
    );
    expect(killed.rows[0]?.done).toBe(true);
    await s.tables.changeAll();
    await s.events.waitFor(
      'a new term after the termination',
      newTermAfter(old.lease.epoch, NEW_TERM_REASONS),
      { from: mark },
    );
    await s.converged();
    const gone = await pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [
      old.lease.backendPid,
    ]);
    expect(gone.rowCount).toBe(0);
    await changesStillFlow(s);
  });
});
