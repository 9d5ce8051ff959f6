import { describe, expect, it } from 'vitest';
import { databaseUrl, redisUrl, uniqueName } from '@pg-static-cache/test-support';
import { startBridge } from './bridge.ts';
import { parseBridgeConfig } from './config.ts';
import { BridgeError } from './errors.ts';

const urls = { databaseUrl: 'postgres://u:secret@db:5432/app', redisUrl: 'redis://cache:6379' };

describe('parseBridgeConfig', () => {
  it('fills in every default and freezes the result', () => {
    const config = parseBridgeConfig(urls);
    expect(config).toMatchObject({
      ...urls,
      namespace: 'psc',
      channel: 'pg_static_cache_update',
      leaseMs: 3_000,
      renewMs: 1_000,
      standbyPollMs: 500,
      heartbeatMs: 2_000,
      listenHeartbeatIntervalMs: 5_000,
      listenHeartbeatTimeoutMs: 3_000,
      resyncSchedule: '*/5 * * * *',
      httpHost: '127.0.0.1',
      httpPort: 9464,
      allowedHosts: ['localhost', '127.0.0.1', '::1'],
      signingKeys: [],
      logLevel: 'info',
      poolMax: 4,
      applicationName: 'pg-static-cache-bridge',
    });
    expect(config.bridgeId).toMatch(/^.+-\d+-[0-9a-f]{8}$/);
    expect(config).not.toHaveProperty('tables');
    expect(Object.isFrozen(config)).toBe(true);
    // A parsed config parses to itself, so startBridge accepts either.
    expect(parseBridgeConfig(config)).toEqual(config);
  });

  it('refuses bad values with one line naming the field, never echoing a URL', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ databaseUrl: 'mysql://u:secret@db/app' }, /databaseUrl/],
      [{ redisUrl: 'http://cache' }, /redisUrl/],
      [{ namespace: 'a:b' }, /invalid namespace/],
      [{ channel: '' }, /channel/],
      [{ leaseMs: 0 }, /leaseMs/],
      [{ renewMs: 2_000 }, /renewMs: must be at most half of leaseMs/],
      [{ resyncSchedule: 'every minute' }, /resyncSchedule/],
      [{ httpPort: 70_000 }, /httpPort: must be at most 65535/],
      [{ allowedHosts: ['evil host'] }, /allowedHosts/],
      [{ signingKeys: ['short'] }, /signingKeys.*at least 16 characters/],
      [{ bridgeId: 'has space' }, /bridgeId/],
      [{ tables: [] }, /tables/],
      [{ unknown: 1 }, /unrecognized/i],
    ];
    for (const [override, message] of bad) {
      let caught: unknown;
      try {
        parseBridgeConfig({ ...urls, ...override });
      } catch (error) {
        caught = error;
      }
      expect(caught, JSON.stringify(override)).toBeInstanceOf(BridgeError);
      expect((caught as BridgeError).code).toBe('INVALID_CONFIG');
      expect((caught as BridgeError).message).toMatch(message);
      expect((caught as BridgeError).message).not.toContain('secret');
    }
  });
});

describe('startBridge', () => {
  it('fails fast with a BridgeError when Redis or Postgres is unreachable or a table is unknown', async () => {
    const namespace = uniqueName('ns');
    const logLevel = 'silent' as const;
    await expect(
      startBridge({
        databaseUrl: databaseUrl(),
        redisUrl: 'redis://127.0.0.1:1',
        namespace,
        logLevel,
      }),
    ).rejects.toMatchObject({
      name: 'BridgeError',
      code: 'START_FAILED',
      message: expect.stringMatching(/^cannot reach Redis: .*ECONNREFUSED/) as unknown,
    });
    await expect(
      startBridge({
        databaseUrl: 'postgres://postgres@127.0.0.1:1/postgres',
        redisUrl: redisUrl(),
        namespace,
        logLevel,
      }),
    ).rejects.toMatchObject({
      code: 'START_FAILED',
      message: expect.stringMatching(/^cannot reach Postgres: /) as unknown,
    });
    await expect(
      startBridge({
        databaseUrl: databaseUrl(),
        redisUrl: redisUrl(),
        namespace,
        logLevel,
        tables: ['no_such_table_anywhere'],
      }),
    ).rejects.toMatchObject({ code: 'UNKNOWN_TABLE' });
  });
});
