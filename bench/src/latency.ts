// One latency run: sequential single-row updates, each timed from the commit returning to the
// subscriber reporting that its cache holds the new row.
import type pg from 'pg';
import type { LocalTable } from './local-table.ts';
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

/** One update: sends it, and waits (up to the deadline) for the subscriber to report it. */
export async function timeUpdate(
  db: pg.Client,
  subscriber: SubscriberProcess,
  options: Pick<LatencyOptions, 'local' | 'deadlineMs' | 'nextSeq'>,
): Promise<TimedUpdate> {
  const seq = options.nextSeq();
  const from = subscriber.mark();
  const sent = performance.now();
  const { committed, expected } = await options.local.update(db, rowOf(seq), updateToken(seq));
  const line = await subscriber.waitToShow(expected, 'change', from, options.deadlineMs);
  return { sent, committed, arrived: line?.at };
}

/** Starts the system (bridge and subscriber), warms it up, measures `updates` updates and stops it. */
export async function measureLatency(
  db: pg.Client,
  command: SubscriberCommand,
  run: number,
  options: LatencyOptions,
): Promise<LatencyRun> {
  const system = await RunningSystem.start(command, options.urls);
  const { subscriber } = system;
  try {
    for (let i = 0; i < options.warmup; i += 1) await timeUpdate(db, subscriber, options);
    const samples: number[] = [];
    let failures = 0;
    for (let i = 0; i < options.updates; i += 1) {
      const { committed, arrived } = await timeUpdate(db, subscriber, options);
      if (arrived === undefined) failures += 1;
      else samples.push(arrived - committed);
    }
    return {
      system: command.system,
      run,
      samples: samples.length,
      failures,
      ...summarize(samples),
    };
  } finally {
    await system.stop();
  }
}
