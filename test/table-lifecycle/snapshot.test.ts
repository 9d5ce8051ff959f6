// Snapshot mode: `watch --mode snapshot` loads the snapshots a bridge's reload worker stores. With
// the event trigger the bridge hears of a DROP at once; the worker's job finds the table gone and
// deletes its snapshot, so no app takes the dropped rows for fresh ones.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { redisUrl, waitFor } from '../support/index.ts';
import {
  createLifecycleWorld,
  followPlansThroughItsLife,
  START_TIMEOUT_MS,
  TEST_TIMEOUT_MS,
} from './kit.ts';

describe('snapshot mode: tables that go away and come back', () => {
  it(
    'DROP deletes the snapshot and turns the cache stale; created again, renamed back or swapped in, it is followed',
    async () => {
      await using world = await createLifecycleWorld('psc_life_snap');
      await world.install(['plans'], '--event-trigger');
      const bridge = world.bridge();
      await bridge.waitForLine((line) => line.includes('"event":"started"'), {
        timeoutMs: START_TIMEOUT_MS,
      });
      const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
      try {
        const key = world.names.snapshot(world.table);
        await waitFor('the worker to store the first snapshot', async () => {
          return (await redis.exists(key)) === 1;
        });
        const watch = world.watch('snapshot');
        await followPlansThroughItsLife(world, watch, {
          afterDrop: () =>
            waitFor('the snapshot of the dropped table to be deleted', async () => {
              return (await redis.exists(key)) === 0;
            }),
        });
        expect(await watch.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      } finally {
        redis.disconnect();
      }
      expect(await bridge.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    },
    TEST_TIMEOUT_MS,
  );
});
