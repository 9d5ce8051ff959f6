// The bridge as a process: `node --import tsx apps/bridge/src/main.ts`, configured by environment
// (see configFromEnv). Exits 0 after SIGTERM/SIGINT once everything is closed, 2 on bad input
// (config, unknown table), 1 when Postgres or Redis cannot be reached at start.
import { BridgeError, configFromEnv, startBridge } from './index.ts';

// A close that hangs (a socket that never answers) must not keep a stopping process around forever.
const FORCE_EXIT_MS = 10_000;

try {
  const bridge = await startBridge(configFromEnv(process.env));
  const stop = (): void => {
    setTimeout(() => {
      process.stderr.write('pg-static-cache bridge: close timed out; exiting\n');
      process.exit(1);
    }, FORCE_EXIT_MS).unref();
    void bridge.close();
  };
  // `once`: a second signal gets the default behaviour, so a stuck close can still be interrupted.
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`pg-static-cache bridge: ${message}\n`);
  const badInput =
    error instanceof BridgeError &&
    (error.code === 'INVALID_CONFIG' || error.code === 'UNKNOWN_TABLE');
  process.exitCode = badInput ? 2 : 1;
}
