// Direct mode: `watch` LISTENs itself. The `sql_drop` event trigger (install --event-trigger)
// reports a DROP at once; a table created again, renamed back, or swapped in under the name is
// followed again without a restart.
import { describe, expect, it } from 'vitest';
import { createLoginRole } from '../support/fixtures/login-role.ts';
import { expectOneLineFailure } from '../support/cli-failure.ts';
import { runCli } from '../support/process.ts';
import { createLifecycleWorld, followPlansThroughItsLife, TEST_TIMEOUT_MS } from './kit.ts';

describe('direct mode: tables that go away and come back', () => {
  it(
    'DROP turns the cache stale with the reason; created again, renamed back or swapped in, it is followed',
    async () => {
      await using world = await createLifecycleWorld('psc_life_direct');
      await world.install(['plans'], '--event-trigger');
      const watch = world.watch('direct');
      await followPlansThroughItsLife(world, watch);
      expect(await watch.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    },
    TEST_TIMEOUT_MS,
  );

  it('install --event-trigger without superuser: one line, exit 2, nothing installed', async () => {
    await using world = await createLifecycleWorld('psc_life_role');
    await using role = await createLoginRole(
      world.schema.pool,
      world.schema.url,
      world.schema.schema,
    );
    const run = await runCli(
      ['install', '--event-trigger', '--table', 'plans', '--channel', world.channel],
      { env: { DATABASE_URL: role.url } },
    );
    expectOneLineFailure(run, /superuser/);
    expect(run.stderr).toMatch(/^pg-static-cache: install --event-trigger needs a superuser/);
    const found = await world.schema.pool.query(
      'SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = $1',
      [`${world.channel}_drop`],
    );
    expect(found.rowCount).toBe(0);
  });
});
