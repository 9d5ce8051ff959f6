// One latency run: sequential single-row updates, each timed from the commit returning to the
// subscriber reporting that its cache holds the new row.
import type pg from 'pg';
import { updateToken } from './protocol.ts';
import { RunningSystem } from './running-system.ts';
import type { SubscriberCommand, SubscriberProcess } from './subscriber-process.ts';
import { rowOf, updateRow, type BenchUrls } from './workload.ts';
import { summarize, type LatencySummary } from './stats.ts';

/** Settings of a latency run. */
export interface LatencyOptions {
  readonly urls: BenchUrls;
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
  options: Pick<LatencyOptions, 'deadlineMs' | 'nextSeq'>,
): Promise<TimedUpdate> {
  const seq = options.nextSeq();
  const token = updateToken(seq);
  const from = subscriber.lines.length;
  const sent = performance.now();
  await updateRow(db, rowOf(seq), token);
  const committed = performance.now();
  const line = await subscriber.waitFor(
    (l) => l.kind === 'reload' && l.value === token,
    from,
    options.deadlineMs,
  );
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
