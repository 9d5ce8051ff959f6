// The soak's steady write load: one commit at a time, round-robin over the tables, that goes on
// through every fault. A commit that fails (Postgres restarting, a table dropped) is counted and
// the load moves on: only what the database holds afterwards matters.
import { performance } from 'node:perf_hooks';
import { waitFor } from '../support/index.ts';
import type { SoakTable } from './soak-tables.ts';

/** Commits in the background until stopped; paused for each quiet period. */
export interface WriteLoad {
  /** Stops writing; resolves once the commit in flight settled, with when the last one settled. */
  pause(): Promise<number>;
  resume(): void;
  /** Waits until every table had a successful commit that started after `since` (performance.now()). */
  committedSince(since: number, timeoutMs: number): Promise<void>;
  /** Commits and failed attempts so far. */
  counts(): { readonly commits: number; readonly failures: number };
  /** Stops for good (rejects only on a bug in the load itself). */
  stop(): Promise<void>;
}

/** Starts committing, one change every `intervalMs` (longer after a failure). */
export function startWriteLoad(tables: readonly SoakTable[], intervalMs: number): WriteLoad {
  const counts = { commits: 0, failures: 0 };
  // When the newest successful commit of each table started.
  const lastStarted = new Map<SoakTable, number>();
  // Changed by the methods while the loop awaits.
  const state = { paused: false, stopped: false };
  let wake: (() => void) | undefined;
  let idle: (() => void) | undefined;
  let next = 0;
  let lastSettled = performance.now();
  const loop = (async () => {
    while (!state.stopped) {
      if (state.paused) {
        idle?.();
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      const table = tables[next % tables.length];
      next += 1;
      if (table === undefined) throw new Error('no tables to write to');
      const startedAt = performance.now();
      let failed = false;
      try {
        await table.change();
        counts.commits += 1;
        lastStarted.set(table, startedAt);
      } catch {
        counts.failures += 1;
        failed = true;
      }
      lastSettled = performance.now();
      // Not faster than a commit per interval, and no busy loop while Postgres is away.
      await new Promise((resolve) => setTimeout(resolve, failed ? 4 * intervalMs : intervalMs));
    }
    idle?.();
  })();
  return {
    async pause() {
      if (!state.paused) {
        const settled = new Promise<void>((resolve) => (idle = resolve));
        state.paused = true;
        await settled;
      }
      return lastSettled;
    },
    resume() {
      state.paused = false;
      wake?.();
      wake = undefined;
    },
    async committedSince(since, timeoutMs) {
      await waitFor(
        'a commit to every table since the fault ended',
        () => tables.every((table) => (lastStarted.get(table) ?? -1) > since),
        timeoutMs,
      );
    },
    counts: () => ({ ...counts }),
    async stop() {
      state.stopped = true;
      state.paused = false;
      wake?.();
      await loop;
    },
  };
}
