// The bridge as a process: `node --import tsx apps/bridge/src/main.ts`, configured by environment
// (the same settings as `pg-static-cache bridge`, see settings.ts and docs/configuration.md).
// Exits 0 after SIGTERM/SIGINT once everything is closed, 2 on bad input (config, unknown table),
// 1 when Postgres or Redis cannot be reached at start.
import { loadConfig } from './load-config.ts';
import { startBridge } from './bridge.ts';
import { runProcess } from './process-runner.ts';

await runProcess('bridge', () => startBridge(loadConfig({ role: 'bridge', env: process.env })));
