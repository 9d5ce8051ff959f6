import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { startPrivateRedis } from '../../../test/fixtures/private-redis.ts';
import { checkEvictionPolicy } from './eviction-policy.ts';

/** A pino logger whose lines land in `lines`. */
function capture(lines: { level: number; msg: string }[]) {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      done();
    },
  });
  return pino({ level: 'debug' }, stream);
}

describe('checkEvictionPolicy', () => {
  it('warns when Redis may evict keys without a TTL, and not under noeviction', async () => {
    await using server = await startPrivateRedis();
    const redis = new Redis(server.url);
    const lines: { level: number; msg: string }[] = [];
    try {
      expect(await checkEvictionPolicy(redis, capture(lines))).toBe('noeviction');
      expect(lines.filter((l) => l.level >= 40)).toEqual([]);
      await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
      expect(await checkEvictionPolicy(redis, capture(lines))).toBe('allkeys-lru');
      expect(lines.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([
        expect.stringMatching(/maxmemory-policy is allkeys-lru: .*use noeviction/),
      ]);
    } finally {
      redis.disconnect();
    }
  });

  it('says nothing but a debug line when CONFIG is denied (ACLs, managed Redis)', async () => {
    await using server = await startPrivateRedis();
    const admin = new Redis(server.url);
    await admin.acl('SETUSER', 'app', 'on', '>secret-password', '~*', '&*', '+@all', '-config');
    const redis = new Redis(server.url, { username: 'app', password: 'secret-password' });
    const lines: { level: number; msg: string }[] = [];
    try {
      expect(await checkEvictionPolicy(redis, capture(lines))).toBeUndefined();
      expect(lines.map((l) => [l.level, l.msg])).toEqual([[20, 'cannot read maxmemory-policy']]);
    } finally {
      redis.disconnect();
      admin.disconnect();
    }
  });
});
