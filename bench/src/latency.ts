// One latency run: sequential single-row updates, each timed from the commit returning to the
// subscriber reporting that its cache holds the new row.
import type pg from 'pg';
import { updateToken } from './protocol.ts';
import { SubscriberProcess, type SubscriberCommand } from './subscriber-process.ts';
import { rowOf, updateRow } from './workload.ts';
import { summarize, type LatencySummary } from './stats.ts';

/** Settings of a latency run. */
export interface LatencyOptions {
  readonly databaseUrl: string;
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

async function timeUpdate(
  db: pg.Client,
  subscriber: SubscriberProcess,
  options: LatencyOptions,
): Promise<number | undefined> {
  const seq = options.nextSeq();
  const token = updateToken(seq);
  const from = subscriber.lines.length;
  await updateRow(db, rowOf(seq), token);
  const committed = performance.now();
  const line = await subscriber.waitFor(
    (l) => l.kind === 'reload' && l.value === token,
    from,
    options.deadlineMs,
  );
  return line === undefined ? undefined : line.at - committed;
}

/** Starts the system's subscriber, warms it up, measures `updates` updates and stops it. */
export async function measureLatency(
  db: pg.Client,
  command: SubscriberCommand,
  run: number,
  options: LatencyOptions,
): Promise<LatencyRun> {
  const subscriber = await SubscriberProcess.start(command, options.databaseUrl);
  try {
    for (let i = 0; i < options.warmup; i += 1) await timeUpdate(db, subscriber, options);
    const samples: number[] = [];
    let failures = 0;
    for (let i = 0; i < options.updates; i += 1) {
      const latency = await timeUpdate(db, subscriber, options);
      if (latency === undefined) failures += 1;
      else samples.push(latency);
    }
    return {
      system: command.system,
      run,
      samples: samples.length,
      failures,
      ...summarize(samples),
    };
  } finally {
    await subscriber.stop();
  }
}
