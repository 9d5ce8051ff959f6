// A reload worker on its own: `node --import tsx apps/bridge/src/worker-main.ts`, configured by the
// worker's settings in the environment (the same as `pg-static-cache worker`, see settings.ts and
// docs/configuration.md). Exits 0 after SIGTERM/SIGINT once the running jobs are done, 2 on bad
// config, 1 when Postgres or Redis cannot be reached (see runProcess).
import { loadConfig } from './load-config.ts';
import { runProcess } from './process-runner.ts';
import { startWorkerProcess } from './jobs/worker-process.ts';

await runProcess('worker', () =>
  startWorkerProcess(loadConfig({ role: 'worker', env: process.env })),
);
