// Bad input to the Redis-side commands (bridge, status, resync, watch --mode redis): exit 2, one
// stderr line, no stack trace, and fast when Redis cannot be reached.
import { describe, expect, it } from 'vitest';
import { databaseUrl, redisUrl } from '../support/index.ts';
import { expectOneLineFailure } from '../support/cli-failure.ts';
import { runCli } from '../support/process.ts';

const UNREACHABLE_REDIS = 'redis://127.0.0.1:1';

describe.concurrent('bad input: exit 2, one stderr line, no stack trace', () => {
  const env = (): Record<string, string | undefined> => ({
    DATABASE_URL: databaseUrl(),
    REDIS_URL: redisUrl(),
  });
  const cases: [string, string[], Record<string, string | undefined>, RegExp][] = [
    [
      'bridge with a bad REDIS_URL',
      ['bridge'],
      { REDIS_URL: 'http://x' },
      /REDIS_URL is not a valid Redis URL/,
    ],
    [
      'bridge with a bad --redis-url',
      ['bridge', '--redis-url', 'nope'],
      {},
      /--redis-url is not a valid/,
    ],
    [
      'status with a cluster URL whose node has no valid port',
      ['status'],
      { REDIS_URL: 'redis-cluster://:hunter2@127.0.0.1:7000,127.0.0.1:99999' },
      /^pg-static-cache: REDIS_URL is not a valid Redis URL \(a cluster node is not host:port\); expected redis:\/\/.*redis-cluster:\/\/.*$/,
    ],
    ['bridge without REDIS_URL', ['bridge'], { REDIS_URL: undefined }, /no Redis: set REDIS_URL/],
    ['bridge with an unknown flag', ['bridge', '--bogus'], {}, /unknown option '--bogus'/],
    [
      'bridge with a bad cron',
      ['bridge', '--resync-schedule', 'every minute'],
      {},
      /^pg-static-cache: --resync-schedule: not a valid cron expression$/,
    ],
    [
      'bridge with a bad port',
      ['bridge', '--http-port', '65536'],
      {},
      /^pg-static-cache: --http-port: must be at most 65535$/,
    ],
    [
      'bridge with a bad PSC_LEASE_MS',
      ['bridge'],
      { PSC_LEASE_MS: 'soon' },
      /^pg-static-cache: PSC_LEASE_MS must be a whole number$/,
    ],
    [
      'worker with a bad PSC_WORKER_CONCURRENCY',
      ['worker'],
      { PSC_WORKER_CONCURRENCY: '0' },
      /^pg-static-cache: PSC_WORKER_CONCURRENCY: must be at least 1$/,
    ],
    [
      'bridge with an unknown table',
      ['bridge', '--table', 'no_such_table'],
      {},
      /"no_such_table" does not exist/,
    ],
    [
      'bridge with an unreachable Redis',
      ['bridge'],
      { REDIS_URL: UNREACHABLE_REDIS },
      /cannot connect to Redis: .*ECONNREFUSED/,
    ],
    [
      'bridge with an unreachable database',
      ['bridge'],
      { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/postgres' },
      /cannot connect to the database: .*ECONNREFUSED/,
    ],
    [
      'status with an unreachable Redis',
      ['status'],
      { REDIS_URL: UNREACHABLE_REDIS },
      /cannot connect to Redis: .*ECONNREFUSED/,
    ],
    [
      'status with a bad namespace',
      ['status', '--namespace', 'a:b'],
      {},
      /invalid namespace "a:b"/,
    ],
    ['resync with a bad table name', ['resync', '--table', '"bad'], {}, /invalid table name/],
    [
      'resync with an unreachable Redis',
      ['resync'],
      { REDIS_URL: UNREACHABLE_REDIS },
      /cannot connect to Redis/,
    ],
    [
      'watch --mode redis without REDIS_URL',
      ['watch', '--table', 'items', '--mode', 'redis'],
      { REDIS_URL: undefined },
      /no Redis: set REDIS_URL or pass --redis-url/,
    ],
    [
      'watch --mode redis with an unreachable Redis',
      ['watch', '--table', 'items', '--mode', 'redis'],
      { REDIS_URL: UNREACHABLE_REDIS },
      /cannot connect to Redis/,
    ],
    [
      'watch --mode snapshot without REDIS_URL',
      ['watch', '--table', 'items', '--mode', 'snapshot'],
      { REDIS_URL: undefined },
      /no Redis: set REDIS_URL or pass --redis-url/,
    ],
    [
      'watch --mode snapshot with a short PSC_SIGNING_KEY',
      ['watch', '--table', 'items', '--mode', 'snapshot'],
      { PSC_SIGNING_KEY: 'short' },
      /a signing key must have at least 16 characters/,
    ],
  ];
  it.each(cases)('%s', async (_name, args, extra, text) => {
    expectOneLineFailure(await runCli(args, { env: { ...env(), ...extra } }), text);
  });
});

describe('an unreachable Redis', () => {
  it('fails about as fast as the CLI starts: no reconnect attempts, no waiting', async () => {
    const timed = async (args: string[]): Promise<number> => {
      const startedAt = performance.now();
      const run = await runCli(args, {
        env: { DATABASE_URL: databaseUrl(), REDIS_URL: UNREACHABLE_REDIS },
        timeoutMs: 90_000,
      });
      expect(run.code).toBe(2);
      return performance.now() - startedAt;
    };
    // The baseline loads the same code and fails before connecting to anything; each pair runs
    // side by side, so a busy machine slows both alike. Retrying (ioredis' default) never ends.
    for (const command of ['status', 'resync']) {
      const [baseline, elapsed] = await Promise.all([
        timed(['bridge', '--resync-schedule', 'nope']),
        timed([command]),
      ]);
      expect(elapsed, command).toBeLessThan(2 * baseline + 1_000);
    }
  });
});

describe.concurrent('help', () => {
  it.each([['bridge'], ['status'], ['resync']])('%s --help', async (command) => {
    const run = await runCli([command, '--help'], {
      env: { DATABASE_URL: undefined, REDIS_URL: undefined },
    });
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain(`Usage: pg-static-cache ${command} [options]`);
    expect(run.stdout).toContain('Exit codes:');
    expect(run.stdout).toContain('--redis-url');
  });
});
