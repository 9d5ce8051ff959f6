import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Tests run the TypeScript sources: each publishable package's exports map sends this condition to
// src/*.ts (installed packages resolve to dist/*.js). Child processes (the CLI, bridges, apps) get
// it through NODE_OPTIONS and run the sources through tsx.
const SOURCE = '@pg-static-cache/source';

export default defineConfig({
  ssr: { resolve: { conditions: [SOURCE, ...defaultServerConditions] } },
  test: {
    include: [
      'libs/*/src/**/*.test.ts',
      'apps/*/src/**/*.test.ts',
      'infra/local/src/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    env: { NODE_OPTIONS: `--conditions=${SOURCE}` },
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
