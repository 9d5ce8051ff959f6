// One latency run: sequential single-row updates, each timed from the commit returning to the
// subscriber (or each of several) reporting that its cache holds the new row.
import type pg from 'pg';
import type { Expected, LocalTable } from './local-table.ts';
import { updateToken } from './protocol.ts';
import { RunningSystem } from './running-system.ts';
import { summarize, type LatencySummary } from './stats.ts';
import type { SubscriberProcess } from './subscriber-process.ts';
import type { SubscriberCommand } from './systems.ts';
import { rowOf, type BenchUrls } from './workload.ts';

/** Settings of a latency run. */
export interface LatencyOptions {
  readonly urls: BenchUrls;
  /** The driver's copy of the bench table, which the updates go through. */
  readonly local: LocalTable;
  readonly updates: number;
  readonly warmup: number;
  /** How long one update may take to show up before it counts as a failure. */
  readonly deadlineMs: number;
  /** Hands out update numbers, increasing across the whole bench so every token is unique. */
  readonly nextSeq: () => number;
}

/** What one run of one system measured. */
export interface LatencyRun extends LatencySummary {
  readonly system: string;
  readonly run: number;
  readonly samples: number;
  /** Updates whose reload did not show up before the deadline. */
  readonly failures: number;
}

/** When one update was sent, committed and reported (the driver's `performance.now()`). */
export interface TimedUpdate {
  readonly sent: number;
  readonly committed: number;
  /** When the subscriber's line with the update arrived; undefined past the deadline. */
  readonly arrived: number | undefined;
}

/**
 * What shows a change: a subscriber process (its report lines), or anything that waits for a
 * change the same way (the regions step's replica). `mark()` is taken before the update.
 */
export interface ChangeWatcher {
  /** Its name in the report (a subscriber's system). */
  readonly system: string;
  mark(): number;
  waitToShow(
    expected: Expected,
    what: 'change',
    from: number,
    timeoutMs: number,
  ): Promise<{ readonly at: number } | undefined>;
}

/** One update seen by several watchers: when each saw it (undefined past the deadline). */
export interface FannedUpdate {
  readonly sent: number;
  readonly committed: number;
  readonly arrived: readonly (number | undefined)[];
  /** What the watchers had to show. */
  readonly expected: Expected;
}

/** One update: sends it, and waits (up to the deadline) for every watcher to show it. */
export async function timeUpdateEverywhere(
  db: pg.Client,
  watchers: readonly ChangeWatcher[],
  options: Pick<LatencyOptions, 'local' | 'deadlineMs' | 'nextSeq'>,
): Promise<FannedUpdate> {
  const seq = options.nextSeq();
  const from = watchers.map((w) => w.mark());
  const sent = performance.now();
  const { committed, expected } = await options.local.update(db, rowOf(seq), updateToken(seq));
  const arrived = await Promise.all(
    watchers.map(async (w, i) => {
      const seen = await w.waitToShow(expected, 'change', from[i] ?? 0, options.deadlineMs);
      return seen?.at;
    }),
  );
  return { sent, committed, arrived, expected };
}

/** One update: sends it, and waits (up to the deadline) for the subscriber to report it. */
export async function timeUpdate(
  db: pg.Client,
  subscriber: SubscriberProcess,
  options: Pick<LatencyOptions, 'local' | 'deadlineMs' | 'nextSeq'>,
): Promise<TimedUpdate> {
  const { sent, committed, arrived } = await timeUpdateEverywhere(db, [subscriber], options);
  return { sent, committed, arrived: arrived[0] };
}

/** Sends the warm-up updates (not measured) through `watchers`. */
export async function warmUp(
  db: pg.Client,
  watchers: readonly ChangeWatcher[],
  options: LatencyOptions,
): Promise<void> {
  for (let i = 0; i < options.warmup; i += 1) await timeUpdateEverywhere(db, watchers, options);
}

/** Times `options.updates` updates, each seen by every watcher: run `run`'s figures per watcher. */
export async function timeUpdates(
  db: pg.Client,
  watchers: readonly ChangeWatcher[],
  run: number,
  options: LatencyOptions,
): Promise<LatencyRun[]> {
  const samples = watchers.map((): number[] => []);
  for (let i = 0; i < options.updates; i += 1) {
    const { committed, arrived } = await timeUpdateEverywhere(db, watchers, options);
    arrived.forEach((at, w) => {
      if (at !== undefined) samples[w]?.push(at - committed);
    });
  }
  return watchers.map((watcher, w) => {
    const own = samples[w] ?? [];
    return {
      system: watcher.system,
      run,
      samples: own.length,
      failures: options.updates - own.length,
      ...summarize(own),
    };
  });
}

/** Starts the system (bridge and subscriber), warms it up, measures `updates` updates and stops it. */
export async function measureLatency(
  db: pg.Client,
  command: SubscriberCommand,
  run: number,
  options: LatencyOptions,
): Promise<LatencyRun> {
  const system = await RunningSystem.start(command, options.urls);
  try {
    await warmUp(db, [system.subscriber], options);
    const [result] = await timeUpdates(db, [system.subscriber], run, options);
    if (result === undefined) throw new Error('no latency run');
    return result;
  } finally {
    await system.stop();
  }
}
