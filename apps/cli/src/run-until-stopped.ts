import { stopSignal } from './stop-signal.ts';

/** Something a command runs until it is told to stop. */
export interface Service {
  close(): Promise<unknown>;
}

/**
 * Starts a service and keeps it until SIGINT or SIGTERM, then closes it. A signal that arrives
 * while it is still starting waits for the start to settle, then closes what it opened.
 */
export async function runUntilStopped<T extends Service>(
  start: () => Promise<T>,
  onStarted: (service: T) => void,
): Promise<void> {
  const signal = stopSignal();
  const starting = start();
  try {
    const first = await Promise.race([
      starting.then(() => 'started' as const),
      signal.stopped.then(() => 'stopped' as const),
    ]);
    if (first === 'stopped') {
      await (await starting.catch(() => undefined))?.close();
      return;
    }
    const service = await starting;
    onStarted(service);
    await signal.stopped;
    await service.close();
  } finally {
    signal.dispose();
  }
}
