// Redis mode: `watch --mode redis` follows a `pg-static-cache bridge`. No event trigger: the
// bridge's scheduled check (every second here) finds the dropped table and tells every client.
import { describe, expect, it } from 'vitest';
import {
  createLifecycleWorld,
  followPlansThroughItsLife,
  START_TIMEOUT_MS,
  TEST_TIMEOUT_MS,
} from './kit.ts';

describe('redis mode: tables that go away and come back', () => {
  it(
    'the scheduled check reports a DROP; created again, renamed back or swapped in, it is followed',
    async () => {
      await using world = await createLifecycleWorld('psc_life_redis');
      const bridge = world.bridge('--no-jobs', '--no-worker', '--resync-schedule', '* * * * * *');
      await bridge.waitForLine((line) => line.includes('"event":"started"'), {
        timeoutMs: START_TIMEOUT_MS,
      });
      const watch = world.watch('redis');
      await followPlansThroughItsLife(world, watch);
      expect(await watch.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      expect(await bridge.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    },
    TEST_TIMEOUT_MS,
  );
});
