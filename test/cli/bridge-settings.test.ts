// `pg-static-cache bridge` reads the same PSC_* settings as the bridge's own entry point: before,
// the CLI read only flags, so `PSC_BOARD_PASSWORD=… pg-static-cache bridge` served an open board
// and PSC_NAMESPACE was ignored. A flag still wins over its variable.
import { namesFor, parseLease } from '@pg-static-cache/protocol';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { redisUrl, uniqueName, waitFor } from '../support/index.ts';
import { createWorld, started, TEST_TIMEOUT_MS } from './bridge-world.ts';

describe('pg-static-cache bridge configured by environment', () => {
  it(
    'takes PSC_NAMESPACE, PSC_BOARD_PASSWORD and the other variables; a flag wins',
    async () => {
      await using world = await createWorld();
      const names = namesFor(uniqueName('env'));
      const bridge = world.spawn(['bridge', '--bridge-id', 'from-flag'], {
        PSC_NAMESPACE: names.namespace,
        PSC_CHANNEL: world.channel,
        PSC_FUNCTION_NAME: world.functionName,
        PSC_BRIDGE_ID: 'from-env',
        PSC_BOARD_PASSWORD: 'x',
        PSC_HTTP_PORT: '0',
        PSC_LOG_LEVEL: 'warn',
      });
      const line = await started(bridge);
      expect(line).toMatchObject({ bridge: 'from-flag', role: 'leader' });

      // The board asks for the password the variable set.
      const board = await fetch(`${line.http}/queues/`);
      expect(board.status).toBe(401);
      await board.arrayBuffer();

      // The lease is under the variable's namespace, not the default `psc`.
      const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
      try {
        await waitFor('the lease under PSC_NAMESPACE', async () => {
          return parseLease(await redis.get(names.leader))?.bridge === 'from-flag';
        });
        expect(await bridge.stop('SIGTERM')).toEqual({ code: 0, signal: null });
        const keys = await redis.keys(`${names.namespace}:*`);
        if (keys.length > 0) await redis.del(...keys);
      } finally {
        redis.disconnect();
      }
    },
    TEST_TIMEOUT_MS,
  );
});
