import { describe, expect, it } from 'vitest';
import { databaseUrl, redisUrl, uniqueName } from '../../../test/support/index.ts';
import { startBridge } from './bridge.ts';
import { parseBridgeConfig } from './config.ts';
import { configFromEnv } from './env-config.ts';
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
      httpPort: 0,
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
      [{ httpPort: 70_000 }, /httpPort/],
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

describe('configFromEnv', () => {
  it('reads the URLs and PSC_* variables, leaving unset or empty ones to the defaults', () => {
    const input = configFromEnv({
      DATABASE_URL: urls.databaseUrl,
      REDIS_URL: urls.redisUrl,
      PSC_NAMESPACE: 'eu1',
      PSC_CHANNEL: 'sequel_static_cache_update',
      PSC_BRIDGE_ID: 'bridge-a',
      PSC_TABLES: 'plans, public.countries,,',
      PSC_HTTP_PORT: '9464',
      PSC_LEASE_MS: '6000',
      PSC_RENEW_MS: '',
      PSC_LOG_LEVEL: 'warn',
    });
    expect(parseBridgeConfig(input)).toMatchObject({
      namespace: 'eu1',
      channel: 'sequel_static_cache_update',
      bridgeId: 'bridge-a',
      tables: ['plans', 'public.countries'],
      httpPort: 9464,
      leaseMs: 6_000,
      renewMs: 1_000,
      logLevel: 'warn',
    });
  });

  it('names the variable that is missing or malformed', () => {
    expect(() => configFromEnv({ REDIS_URL: urls.redisUrl })).toThrow(/DATABASE_URL/);
    expect(() => configFromEnv({ ...env(), PSC_LEASE_MS: '3s' })).toThrow(/PSC_LEASE_MS/);
    expect(() => configFromEnv({ ...env(), PSC_LOG_LEVEL: 'loud' })).toThrow(/PSC_LOG_LEVEL/);
  });
});

function env(): Record<string, string> {
  return { DATABASE_URL: urls.databaseUrl, REDIS_URL: urls.redisUrl };
}

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
