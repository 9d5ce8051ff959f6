/** A close that hangs (a socket that never answers) must not keep a stopping process around forever. */
export const FORCE_EXIT_MS = 10_000;

/** The first SIGINT or SIGTERM, for commands that run until stopped. */
export interface StopSignal {
  /** Resolves on the first SIGINT or SIGTERM. */
  readonly stopped: Promise<void>;
  /** Restores the default handling (a signal that already arrived keeps its force-exit timer). */
  dispose(): void;
}

/**
 * Listens for the first SIGINT or SIGTERM. From then on the command has {@link FORCE_EXIT_MS} to
 * close; after that the process exits 1 with one stderr line. A second signal gets the default
 * behaviour, so a stuck close can still be interrupted by hand.
 */
export function stopSignal(): StopSignal {
  let resolve: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (resolve = r));
  const dispose = (): void => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  const onSignal = (): void => {
    dispose();
    // Unref'd: a close that finishes in time lets the process end without waiting for it.
    setTimeout(() => {
      process.stderr.write('pg-static-cache: close timed out; exiting\n');
      process.exit(1);
    }, FORCE_EXIT_MS).unref();
    resolve();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return { stopped, dispose };
}
