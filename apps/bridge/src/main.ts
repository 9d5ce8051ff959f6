// The bridge as a process: `node --import tsx apps/bridge/src/main.ts`, configured by environment
// (see configFromEnv). Exits 0 after SIGTERM/SIGINT once everything is closed, 2 on bad input
// (config, unknown table), 1 when Postgres or Redis cannot be reached at start.
import { configFromEnv, startBridge } from './index.ts';
import { runProcess } from './process-runner.ts';

await runProcess('bridge', () => startBridge(configFromEnv(process.env)));
