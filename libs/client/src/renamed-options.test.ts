// Options renamed so that one name has one meaning: an old name is refused with the new one, by
// mode, never silently ignored (that would change a deadline without a word).
import { describe, expect, it } from 'vitest';
import { ClientError } from './errors.ts';
import { RedisSource } from './redis-source.ts';
import { StaticCache } from './static-cache.ts';
import { createSubscriber } from './subscriber.ts';

const base = {
  pg: 'postgres://x',
  redis: 'redis://127.0.0.1:1',
  caches: [new StaticCache({ table: 'items' })],
};

function refusal(build: () => unknown): string {
  try {
    build();
  } catch (error) {
    if (error instanceof ClientError && error.code === 'INVALID_OPTIONS') return error.message;
    throw error;
  }
  throw new Error('expected ClientError INVALID_OPTIONS');
}

const subscriberWith = (options: object) => () => createSubscriber({ ...base, ...options });

describe('renamed options', () => {
  it('names the new option of each mode for the old ones', () => {
    expect(refusal(subscriberWith({ heartbeatIntervalMs: 100 }))).toBe(
      'heartbeatIntervalMs was renamed: use listenHeartbeatIntervalMs (the LISTEN heartbeat period, direct mode)',
    );
    expect(refusal(subscriberWith({ heartbeatTimeoutMs: 100 }))).toBe(
      'heartbeatTimeoutMs was renamed: use listenHeartbeatTimeoutMs in direct mode (bridgeSilenceMs in redis and snapshot mode)',
    );
    for (const mode of ['redis', 'snapshot']) {
      expect(refusal(subscriberWith({ mode, heartbeatTimeoutMs: 100 }))).toBe(
        'heartbeatTimeoutMs was renamed: use bridgeSilenceMs in redis and snapshot mode (listenHeartbeatTimeoutMs in direct mode)',
      );
    }
    const source = () => new RedisSource({ redis: base.redis, heartbeatTimeoutMs: 1 } as never);
    expect(refusal(source)).toMatch(/^heartbeatTimeoutMs was renamed: use bridgeSilenceMs/);
  });

  it('takes the new names', () => {
    const direct = createSubscriber({
      ...base,
      listenHeartbeatIntervalMs: 100,
      listenHeartbeatTimeoutMs: 100,
    });
    expect(direct.options.listenHeartbeatIntervalMs).toBe(100);
    const redis = createSubscriber({ ...base, mode: 'redis', bridgeSilenceMs: 100 });
    expect(redis.options.bridgeSilenceMs).toBe(100);
  });
});
