// Several app processes started and waited on together.
import type { AppProcessOptions } from './app-events.ts';
import { AppProcess } from './app-process-handle.ts';

/** The app processes of one demo run. */
export class Fleet {
  readonly apps: readonly AppProcess[];

  private constructor(apps: readonly AppProcess[]) {
    this.apps = apps;
  }

  /** Spawns `count` app processes named `app-1`… with the same options. */
  static spawn(count: number, options: Omit<AppProcessOptions, 'name'>): Fleet {
    const apps = Array.from(
      { length: count },
      (_, i) => new AppProcess({ ...options, name: `app-${i + 1}` }),
    );
    return new Fleet(apps);
  }

  /** Resolves when every app said `ready`. */
  async waitReady(timeoutMs: number): Promise<void> {
    await this.waitAll(
      'ready line',
      (app) => app.lines.some((line) => line.event === 'ready'),
      timeoutMs,
    );
  }

  /**
   * Resolves when `check` holds for every app, each re-checked on its own lines; at the deadline
   * rejects with one error naming every app that did not get there.
   */
  async waitAll(
    what: string,
    check: (app: AppProcess) => boolean,
    timeoutMs: number,
  ): Promise<void> {
    const results = await Promise.allSettled(
      this.apps.map((app) => app.waitFor(what, () => check(app), timeoutMs)),
    );
    const failures = results.flatMap((r) =>
      r.status === 'rejected'
        ? [r.reason instanceof Error ? r.reason.message : String(r.reason)]
        : [],
    );
    if (failures.length > 0) throw new Error(failures.join('; '));
  }

  /** Resolves once no app has a reload running. */
  async idle(timeoutMs: number): Promise<void> {
    await Promise.all(this.apps.map((app) => app.idle(timeoutMs)));
  }

  /** Where each app's line log stands now: pass to `since` to see what a step caused. */
  marks(): Map<AppProcess, number> {
    return new Map(this.apps.map((app) => [app, app.lines.length]));
  }

  /** Stops every app (SIGTERM, SIGKILL after `deadlineMs`); resolves when all are gone. */
  async stop(deadlineMs: number): Promise<void> {
    await Promise.all(this.apps.map((app) => app.stop(deadlineMs)));
  }
}
