import { BridgeError } from './errors.ts';

/** Something a process runs until it is told to stop. */
export interface Stoppable {
  close(): Promise<unknown>;
}

/** A close that hangs (a socket that never answers) must not keep a stopping process around forever. */
const FORCE_EXIT_MS = 10_000;

/**
 * Runs `start` as the life of this process: SIGTERM/SIGINT close what it started (also when they
 * arrive while it is still starting) and the process exits 0; bad config exits 2, anything else
 * that stops the start exits 1, with one line on stderr.
 */
export async function runProcess(label: string, start: () => Promise<Stoppable>): Promise<void> {
  const state = { stopRequested: false };
  let running: Stoppable | undefined;
  const stop = (): void => {
    state.stopRequested = true;
    setTimeout(() => {
      process.stderr.write(`pg-static-cache ${label}: close timed out; exiting\n`);
      process.exit(1);
    }, FORCE_EXIT_MS).unref();
    void running?.close();
  };
  // Installed before starting, so a stop during start-up is still a clean exit 0.
  // `once`: a second signal gets the default behaviour, so a stuck close can still be interrupted.
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    running = await start();
    if (state.stopRequested) await running.close();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`pg-static-cache ${label}: ${message}\n`);
    const badInput =
      error instanceof BridgeError &&
      (error.code === 'INVALID_CONFIG' || error.code === 'UNKNOWN_TABLE');
    process.exitCode = badInput ? 2 : 1;
    process.removeListener('SIGTERM', stop);
    process.removeListener('SIGINT', stop);
  }
}
