import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'libs/*/src/**/*.test.ts',
      'apps/*/src/**/*.test.ts',
      'infra/local/src/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    globalSetup: ['./test/support/global-setup.ts'],
    pool: 'forks',
    // Two cores on CI: more workers only make Postgres and the spawned processes fight for CPU.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 90_000,
    reporters: ['default', 'json'],
    outputFile: { json: '.test-results/report.json' },
  },
});
