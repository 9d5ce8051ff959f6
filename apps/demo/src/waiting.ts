// Waiting with a deadline: on state that announces its changes (re-check on each one), and on
// state that does not (a catalog view, a Redis key: ask again until it holds).
import { setTimeout as delay } from 'node:timers/promises';

/** Subscribes `recheck` to whatever may change the outcome and returns the unsubscribe; `fail` ends the wait early. */
export type Watch = (recheck: () => void, fail: (error: Error) => void) => () => void;

/**
 * Resolves once `check` holds (checked now and on every `recheck`); rejects with `timeoutMessage`
 * at the deadline, or with the error given to `fail`.
 */
export async function waitUntil(
  timeoutMessage: string,
  check: () => boolean,
  timeoutMs: number,
  watch: Watch,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe = (): void => undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(timeoutMessage)), timeoutMs);
      const recheck = (): void => {
        if (check()) resolve();
      };
      // Subscribed before the first check, so a change in between cannot be missed.
      unsubscribe = watch(recheck, reject);
      recheck();
    });
  } finally {
    clearTimeout(timer);
    unsubscribe();
  }
}

/**
 * Calls `probe` every `intervalMs` until it returns a value, and resolves with it; rejects at the
 * deadline with `no <what> within N ms` (`what` may be a function, to name the last state seen).
 */
export async function pollUntil<T>(
  what: string | (() => string),
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`no ${typeof what === 'string' ? what : what()} within ${timeoutMs} ms`);
    }
    await delay(intervalMs);
  }
}
