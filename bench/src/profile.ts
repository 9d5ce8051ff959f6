// The bridge profile: where the bridged path's time goes. One extra bridged run with both
// processes probed (probe.ts stamps each step inside the bridge and the subscriber); each update's
// stamps are matched to it by time (updates go one at a time) and every step is summarised like
// the latency. Runs when the bridged p99 misses its target, or when asked with --profile-bridge.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { timeUpdate, type LatencyOptions, type TimedUpdate } from './latency.ts';
import { epochOf, type ProbeMark, type ProbeStamp } from './probe-marks.ts';
import { RunningSystem } from './running-system.ts';
import { summarize, type LatencySummary } from './stats.ts';
import { BRIDGED } from './systems.ts';

/** A moment of one update: a probe mark, or the driver's own. */
export type Moment = ProbeMark | 'committed' | 'arrived';

/** The path, step by step; the steps add up to the measured latency (committed → arrived). */
const STEPS: readonly (readonly [string, Moment, Moment])[] = [
  ['commit → bridge NOTIFY', 'committed', 'notify'],
  ['NOTIFY → LSN query', 'notify', 'lsn-start'],
  ['LSN query', 'lsn-start', 'lsn-end'],
  ['LSN → publish', 'lsn-end', 'publish-sent'],
  ['publish → subscriber message', 'publish-sent', 'message'],
  ['message → reload query', 'message', 'reload-start'],
  ['reload query', 'reload-start', 'reload-end'],
  ['reload → line read', 'reload-end', 'arrived'],
];
/** Overlaps the steps above (the publish reply arrives about when the message does): not added up. */
const ASIDE: readonly (readonly [string, Moment, Moment])[] = [
  ['(aside) publish round trip', 'publish-sent', 'publish-done'],
];
/** The moments every step needs. (Under load the bridge may read the publish reply late, after the next update: the aside does without it.) */
const NEEDED: readonly Moment[] = [
  'notify',
  'lsn-start',
  'lsn-end',
  'publish-sent',
  'message',
  'reload-start',
  'reload-end',
  'arrived',
];
const SLOWEST = 5;

/** One step's figures over every fully stamped update. */
export interface StepSummary extends LatencySummary {
  readonly step: string;
}

/** What the profile found. */
export interface BridgeProfile {
  readonly updates: number;
  /** Updates that showed up in time with every stamp of the path (the summaries cover these). */
  readonly complete: number;
  /** For the other updates: how often each moment was missing from their window. */
  readonly missing: Readonly<Partial<Record<Moment, number>>>;
  readonly total: LatencySummary;
  readonly steps: readonly StepSummary[];
  /** The slowest updates, step by step (ms), to see which step makes the tail. */
  readonly slowest: readonly { readonly totalMs: number; readonly steps: readonly number[] }[];
}

type Moments = ReadonlyMap<Moment, number>;

async function readStamps(file: string): Promise<ProbeStamp[]> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new Error(`the probe wrote no ${file}: did the process exit cleanly?`);
  });
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ProbeStamp);
}

/** Each update's moments: its own, and the first stamp of each mark from its send to the next's. */
function momentsOf(updates: readonly TimedUpdate[], stamps: readonly ProbeStamp[]): Moments[] {
  const sorted = [...stamps].sort((a, b) => a.at - b.at);
  return updates.map((update, i) => {
    const from = epochOf(update.sent);
    const next = updates[i + 1];
    const until = next === undefined ? Number.POSITIVE_INFINITY : epochOf(next.sent);
    const moments = new Map<Moment, number>([['committed', epochOf(update.committed)]]);
    if (update.arrived !== undefined) moments.set('arrived', epochOf(update.arrived));
    for (const { mark, at } of sorted) {
      if (at >= from && at < until && !moments.has(mark)) moments.set(mark, at);
    }
    return moments;
  });
}

function span(moments: Moments, from: Moment, to: Moment): number {
  return (moments.get(to) ?? Number.NaN) - (moments.get(from) ?? Number.NaN);
}

/** Summarises the stamped updates step by step. */
function analyse(updates: readonly TimedUpdate[], stamps: readonly ProbeStamp[]): BridgeProfile {
  const all = momentsOf(updates, stamps);
  const complete = all.filter((m) => NEEDED.every((mark) => m.has(mark)));
  const missing: Partial<Record<Moment, number>> = {};
  for (const m of all) {
    for (const mark of NEEDED) if (!m.has(mark)) missing[mark] = (missing[mark] ?? 0) + 1;
  }
  const steps = [...STEPS, ...ASIDE].map(([step, from, to]) => ({
    step,
    ...summarize(complete.map((m) => span(m, from, to)).filter((v) => !Number.isNaN(v))),
  }));
  const slowest = complete
    .map((m) => ({
      totalMs: span(m, 'committed', 'arrived'),
      steps: STEPS.map(([, from, to]) => span(m, from, to)),
    }))
    .sort((a, b) => b.totalMs - a.totalMs)
    .slice(0, SLOWEST);
  return {
    updates: updates.length,
    complete: complete.length,
    missing,
    total: summarize(complete.map((m) => span(m, 'committed', 'arrived'))),
    steps,
    slowest,
  };
}

/** Step names in the order of {@link BridgeProfile.slowest}'s `steps`. */
export const STEP_NAMES: readonly string[] = STEPS.map(([step]) => step);

/** Runs the probed bridged system through a warm-up and `updates` updates, then analyses the stamps. */
export async function profileBridge(
  db: pg.Client,
  options: LatencyOptions,
): Promise<BridgeProfile> {
  const dir = await mkdtemp(join(tmpdir(), 'psc-bench-probe-'));
  try {
    const updates: TimedUpdate[] = [];
    const system = await RunningSystem.start(BRIDGED, options.urls, { probeDir: dir });
    try {
      for (let i = 0; i < options.warmup; i += 1) {
        await timeUpdate(db, system.subscriber, options);
      }
      for (let i = 0; i < options.updates; i += 1) {
        updates.push(await timeUpdate(db, system.subscriber, options));
      }
    } finally {
      // The probes write their files on exit.
      await system.stop();
    }
    const stamps = [
      ...(await readStamps(join(dir, 'bridge.jsonl'))),
      ...(await readStamps(join(dir, 'subscriber.jsonl'))),
    ];
    return analyse(updates, stamps);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
