// Durations the e2e tests measure (failover, convergence) go into the task's meta, which the JSON
// reporter writes to .test-results/report.json: the numbers behind a pass, not only the verdict.
import type { TaskMeta } from 'vitest';

declare module 'vitest' {
  interface TaskMeta {
    /** Durations an e2e test measured, in milliseconds, by name. */
    measuredMs?: Record<string, number>;
  }
}

/** Records `ms` as `name` in the test's meta. */
export function recordMs(task: { readonly meta: TaskMeta }, name: string, ms: number): void {
  task.meta.measuredMs = { ...task.meta.measuredMs, [name]: Math.round(ms) };
}
