import { describe, expect, it } from 'vitest';
import { parseBridgeConfig } from './config.ts';
import { loadConfig } from './load-config.ts';
import { BridgeError } from './errors.ts';

const urls = { databaseUrl: 'postgres://u:secret@db:5432/app', redisUrl: 'redis://cache:6379' };
const env = { DATABASE_URL: urls.databaseUrl, REDIS_URL: urls.redisUrl };

function configError(run: () => unknown): BridgeError {
  try {
    run();
  } catch (error) {
    if (error instanceof BridgeError) return error;
    throw error;
  }
  throw new Error('expected a BridgeError');
}

describe('reload job config', () => {
  it('turns jobs and the in-process worker on by default, with no board password', () => {
    const config = parseBridgeConfig(urls);
    expect(config).toMatchObject({
      jobs: true,
      worker: true,
      workerConcurrency: 2,
      jobAttempts: 5,
      jobBackoffMs: 200,
      jobLockMs: 30_000,
      jobStalledIntervalMs: 30_000,
      boardUser: 'admin',
    });
    expect(config).not.toHaveProperty('boardPassword');
  });

  it('reads PSC_JOBS, PSC_WORKER, the job numbers and the board credentials from the environment', () => {
    const config = loadConfig({
      role: 'bridge',
      env: {
        ...env,
        PSC_JOBS: '0',
        PSC_WORKER: 'false',
        PSC_WORKER_CONCURRENCY: '8',
        PSC_JOB_ATTEMPTS: '3',
        PSC_JOB_BACKOFF_MS: '50',
        PSC_JOB_LOCK_MS: '1000',
        PSC_JOB_STALLED_INTERVAL_MS: '500',
        PSC_BOARD_USER: 'ops',
        PSC_BOARD_PASSWORD: 'p@ss:word',
      },
    });
    expect(config).toMatchObject({
      jobs: false,
      worker: false,
      workerConcurrency: 8,
      jobAttempts: 3,
      jobBackoffMs: 50,
      jobLockMs: 1_000,
      jobStalledIntervalMs: 500,
      boardUser: 'ops',
      boardPassword: 'p@ss:word',
    });
    expect(
      loadConfig({ role: 'bridge', env: { ...env, PSC_JOBS: 'TRUE', PSC_WORKER: '' } }),
    ).toMatchObject({
      jobs: true,
      worker: true,
    });
  });

  it('refuses bad values with one line naming the setting', () => {
    const maybe = { ...env, PSC_JOBS: 'maybe' };
    expect(configError(() => loadConfig({ role: 'bridge', env: maybe })).message).toBe(
      'PSC_JOBS must be 1 or 0 (true or false)',
    );
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ workerConcurrency: 0 }, /workerConcurrency/],
      [{ jobAttempts: 0 }, /jobAttempts/],
      [{ jobBackoffMs: 0 }, /jobBackoffMs/],
      [{ boardUser: 'a:b' }, /boardUser/],
      [{ boardPassword: '' }, /boardPassword/],
    ];
    for (const [override, message] of bad) {
      const error = configError(() => parseBridgeConfig({ ...urls, ...override }));
      expect(error.code).toBe('INVALID_CONFIG');
      expect(error.message).toMatch(message);
    }
  });
});
