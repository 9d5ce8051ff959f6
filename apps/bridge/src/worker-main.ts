// A reload worker on its own: `node --import tsx apps/bridge/src/worker-main.ts`, configured by the
// worker's settings in the environment (the same as `pg-static-cache worker`, see settings.ts and
// docs/configuration.md). Exits 0 after SIGTERM/SIGINT once the running jobs are done, 2 on bad
// config, 1 when Postgres or Redis cannot be reached (see runProcess).
// PSC_TEST_JOB_DELAY_MS holds every job before its query (tests kill a worker mid-job with it).
import { setTimeout as sleep } from 'node:timers/promises';
import { BridgeError } from './errors.ts';
import { loadConfig } from './load-config.ts';
import { runProcess } from './process-runner.ts';
import type { ReloadWorkerHooks } from './reload-worker.ts';
import { startWorkerProcess } from './worker-process.ts';

function testHooks(value: string | undefined): ReloadWorkerHooks {
  if (value === undefined || value === '') return {};
  if (!/^[0-9]{1,9}$/.test(value)) {
    throw new BridgeError('INVALID_CONFIG', 'PSC_TEST_JOB_DELAY_MS must be a whole number');
  }
  const ms = Number(value);
  return { beforeQuery: () => sleep(ms) };
}

await runProcess('worker', () =>
  startWorkerProcess(
    loadConfig({ role: 'worker', env: process.env }),
    testHooks(process.env['PSC_TEST_JOB_DELAY_MS']),
  ),
);
