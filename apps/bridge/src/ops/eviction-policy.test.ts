import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { startPrivateRedis } from '@pg-static-cache/test-support/fixtures/private-redis';
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

  it('reads the policy from INFO, so a user denied CONFIG (least privilege) is still warned', async () => {
    await using server = await startPrivateRedis();
    const admin = new Redis(server.url);
    await admin.config('SET', 'maxmemory-policy', 'allkeys-random');
    await admin.acl('SETUSER', 'app', 'on', '>secret-password', '+info', '+ping', '+client');
    const redis = new Redis(server.url, { username: 'app', password: 'secret-password' });
    const lines: { level: number; msg: string }[] = [];
    try {
      await expect(redis.config('GET', 'maxmemory-policy')).rejects.toThrow(/NOPERM/);
      expect(await checkEvictionPolicy(redis, capture(lines))).toBe('allkeys-random');
      expect(lines.filter((l) => l.level >= 40)).toHaveLength(1);
    } finally {
      redis.disconnect();
      admin.disconnect();
    }
  });
});
