import { describe, expect, it } from 'vitest';
import { BridgeError } from './errors.ts';
import { loadConfig, type ConfigSources } from './load-config.ts';

const urls = {
  DATABASE_URL: 'postgres://u:secret@db:5432/app',
  REDIS_URL: 'redis://:secret@cache:6379',
};

function failure(sources: ConfigSources): string {
  try {
    loadConfig(sources);
  } catch (error) {
    if (error instanceof BridgeError && error.code === 'INVALID_CONFIG') return error.message;
    throw error;
  }
  throw new Error('expected INVALID_CONFIG');
}

describe('loadConfig', () => {
  it('reads the URLs and PSC_* variables, leaving unset or empty ones to the defaults', () => {
    const config = loadConfig({
      role: 'bridge',
      env: {
        ...urls,
        PSC_NAMESPACE: 'eu1',
        PSC_CHANNEL: 'sequel_static_cache_update',
        PSC_BRIDGE_ID: 'bridge-a',
        PSC_TABLES: 'plans, public.countries,,',
        PSC_HTTP_PORT: '9100',
        PSC_LEASE_MS: '6000',
        PSC_RENEW_MS: '',
        PSC_LOG_LEVEL: 'warn',
        PSC_ALLOWED_HOSTS: 'Bridge.Internal, [::1]',
        PSC_SIGNING_KEY: 'first-key-0123456789,second-key-0123456789',
        PSC_APPLICATION_NAME: 'psc-eu1',
      },
    });
    expect(config).toMatchObject({
      namespace: 'eu1',
      channel: 'sequel_static_cache_update',
      bridgeId: 'bridge-a',
      tables: ['plans', 'public.countries'],
      httpPort: 9100,
      leaseMs: 6_000,
      renewMs: 1_000,
      logLevel: 'warn',
      allowedHosts: ['bridge.internal', '::1'],
      signingKeys: ['first-key-0123456789', 'second-key-0123456789'],
      applicationName: 'psc-eu1',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('lets a flag win over its variable, a switch included', () => {
    const config = loadConfig({
      role: 'bridge',
      env: { ...urls, PSC_NAMESPACE: 'from-env', PSC_JOBS: '1', PSC_HTTP_PORT: '9100' },
      flags: { namespace: 'from-flag', jobs: false, tables: ['a', 'b'] },
    });
    expect(config).toMatchObject({
      namespace: 'from-flag',
      jobs: false,
      httpPort: 9100,
      tables: ['a', 'b'],
    });
  });

  it('reads only the settings of its role: a worker ignores the bridge-only ones', () => {
    const env = { ...urls, PSC_LEASE_MS: 'not a number', PSC_WORKER_CONCURRENCY: '7' };
    expect(loadConfig({ role: 'worker', env })).toMatchObject({
      workerConcurrency: 7,
      leaseMs: 3_000,
    });
    expect(failure({ role: 'bridge', env })).toBe('PSC_LEASE_MS must be a whole number');
  });

  it('names the variable or flag of a bad value in one line, never the value', () => {
    const cases: [ConfigSources, string][] = [
      [
        { role: 'bridge', env: { REDIS_URL: urls.REDIS_URL }, flags: {} },
        'no DATABASE_URL: set it or pass --database-url',
      ],
      [{ role: 'worker', env: { DATABASE_URL: urls.DATABASE_URL } }, 'no REDIS_URL: set it'],
      [
        { role: 'bridge', env: { ...urls, PSC_LEASE_MS: '3s' } },
        'PSC_LEASE_MS must be a whole number',
      ],
      [
        { role: 'bridge', env: urls, flags: { leaseMs: '3s' } },
        '--lease-ms must be a whole number',
      ],
      [
        { role: 'bridge', env: { ...urls, PSC_JOBS: 'maybe' } },
        'PSC_JOBS must be 1 or 0 (true or false)',
      ],
      [
        { role: 'bridge', env: urls, flags: { httpPort: '65536' } },
        '--http-port: must be at most 65535',
      ],
      [
        { role: 'worker', env: { ...urls, PSC_WORKER_CONCURRENCY: '0' } },
        'PSC_WORKER_CONCURRENCY: must be at least 1',
      ],
      [
        { role: 'bridge', env: { ...urls, PSC_RESYNC_SCHEDULE: 'nope' } },
        'PSC_RESYNC_SCHEDULE: not a valid cron expression',
      ],
      [
        { role: 'bridge', env: { ...urls, PSC_SIGNING_KEY: 'short' } },
        'PSC_SIGNING_KEY: each key needs at least 16 characters',
      ],
      [
        { role: 'bridge', env: urls, flags: { allowedHosts: 'a b' } },
        '--allowed-hosts: expected a host name or IP address',
      ],
      [
        { role: 'bridge', env: { ...urls, DATABASE_URL: 'mysql://u:secret@db' } },
        'DATABASE_URL: expected postgres://user:password@host:port/database',
      ],
      [
        { role: 'bridge', env: { ...urls, PSC_LEASE_MS: '1000' } },
        'PSC_RENEW_MS / --renew-ms (default 1000): must be at most half of leaseMs',
      ],
    ];
    for (const [sources, message] of cases) {
      const line = failure(sources);
      expect(line).toBe(message);
      expect(line).not.toContain('secret');
    }
    expect(failure({ role: 'bridge', env: { ...urls, PSC_LOG_LEVEL: 'loud' } })).toMatch(
      /^PSC_LOG_LEVEL: .*"info"/,
    );
    expect(failure({ role: 'bridge', env: { ...urls, PSC_NAMESPACE: 'a:b' } })).toMatch(
      /^PSC_NAMESPACE: invalid namespace/,
    );
  });

  it('reads regions from repeated --region flags or PSC_REGIONS, the flag winning', () => {
    const eu = 'redis://:secret@eu-cache:6379/2';
    const us = 'rediss://us-cache:6380';
    // A cluster URL's comma-separated nodes stay one region: a new one starts at `name=`.
    const ap = 'redis-cluster://:pw@ap-1:7000,ap-2:7000,ap-3:7000';
    expect(
      loadConfig({
        role: 'bridge',
        env: { ...urls, PSC_REGIONS: ` eu=${eu}, us-east_1=${us},ap=${ap}` },
      }).regions,
    ).toEqual([
      { name: 'eu', redisUrl: eu },
      { name: 'us-east_1', redisUrl: us },
      { name: 'ap', redisUrl: ap },
    ]);
    const flagged = loadConfig({
      role: 'bridge',
      env: { ...urls, PSC_REGIONS: `eu=${eu}` },
      flags: { regions: [`us=${us}`] },
    });
    expect(flagged.regions).toEqual([{ name: 'us', redisUrl: us }]);
    expect(Object.isFrozen(flagged.regions[0])).toBe(true);
    expect(loadConfig({ role: 'bridge', env: urls }).regions).toEqual([]);
    // A worker serves one region (its REDIS_URL): it ignores the bridge's list.
    expect(loadConfig({ role: 'worker', env: { ...urls, PSC_REGIONS: 'x' } }).regions).toEqual([]);
  });

  it('refuses a bad region in one line naming the variable or flag, never the URL', () => {
    const eu = 'eu=redis://:secret@eu-cache:6379';
    const cases: [ConfigSources, string][] = [
      [
        { role: 'bridge', env: { ...urls, PSC_REGIONS: 'redis://:secret@eu-cache:6379' } },
        "PSC_REGIONS: region 1: expected name=redis://host:port, the name 1-64 letters, digits, '_' or '-'",
      ],
      [
        { role: 'bridge', env: urls, flags: { regions: [eu, 'a b=redis://h'] } },
        "--region: region 2: expected name=redis://host:port, the name 1-64 letters, digits, '_' or '-'",
      ],
      [
        { role: 'bridge', env: urls, flags: { regions: ['Home=redis://:secret@h'] } },
        '--region: region "home": that name is the home Redis (REDIS_URL); pick another',
      ],
      [
        { role: 'bridge', env: { ...urls, PSC_REGIONS: `${eu},EU=redis://other` } },
        'PSC_REGIONS: region "EU" is given twice',
      ],
      [
        { role: 'bridge', env: { ...urls, PSC_REGIONS: 'eu=http://:secret@eu-cache' } },
        'PSC_REGIONS: region "eu": not a valid Redis URL (unknown form); expected redis://[user:password@]host:port[/db], rediss://..., or redis-cluster://[user:password@]host:port,host:port,...',
      ],
      [
        { role: 'bridge', env: { ...urls, PSC_REGIONS: 'eu=redis-cluster://:secret@a:1,b:0' } },
        'PSC_REGIONS: region "eu": not a valid Redis URL (a cluster node is not host:port); expected redis://[user:password@]host:port[/db], rediss://..., or redis-cluster://[user:password@]host:port,host:port,...',
      ],
      [
        { role: 'bridge', env: { ...urls, PSC_REGIONS: 'eu=' } },
        'PSC_REGIONS: region "eu": not a valid Redis URL (unknown form); expected redis://[user:password@]host:port[/db], rediss://..., or redis-cluster://[user:password@]host:port,host:port,...',
      ],
      [
        { role: 'bridge', env: { ...urls, PSC_REGIONS: `${eu},us=redis://:secret@eu-cache:6379` } },
        'PSC_REGIONS: region "us" uses the Redis of another region',
      ],
      [
        { role: 'bridge', env: { ...urls, PSC_REGIONS: `eu=${urls.REDIS_URL}` } },
        'PSC_REGIONS: a region cannot use the home Redis (REDIS_URL)',
      ],
    ];
    for (const [sources, message] of cases) {
      const line = failure(sources);
      expect(line).toBe(message);
      expect(line).not.toContain('secret');
    }
  });
});
