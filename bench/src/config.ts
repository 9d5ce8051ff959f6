// The bench's settings: flags over defaults, validated once and frozen.
import { parseArgs } from 'node:util';

/** Everything `npm run bench` can be told. */
export interface BenchConfig {
  /** Latency runs per system; the report shows the median of their p50/p99/max. @default 3 */
  readonly runs: number;
  /** Measured updates per latency run. @default 500 */
  readonly updates: number;
  /** Updates per run sent before measuring, not counted. @default 20 */
  readonly warmup: number;
  /** Updates in the burst. @default 10000 */
  readonly burst: number;
  /** Concurrent connections sending the burst. @default 4 */
  readonly burstConnections: number;
  /** Leave Ruby Sequel out (no Ruby needed). @default false */
  readonly skipSequel: boolean;
  /** Leave our direct-mode system out of latency and burst. @default false */
  readonly skipDirect: boolean;
  /** Leave the bridged system (bridge process + redis-mode subscriber) out of latency and burst. @default false */
  readonly skipBridge: boolean;
  /** Leave out counting the Postgres connections of many subscriber processes. @default false */
  readonly skipConnections: boolean;
  /** Leave the snapshot-mode system (bridge with its reload worker + snapshot-mode subscriber) out of latency and burst. @default false */
  readonly skipSnapshot: boolean;
  /** Leave out counting table queries per change for a fleet in each mode. @default false */
  readonly skipQueries: boolean;
  /** Leave out the 100,000-row table's reload time and memory. @default false */
  readonly skipBig: boolean;
  /** Single-row changes in the query count. @default 50 */
  readonly queryChanges: number;
  /** Updates (reloads) per system on the 100,000-row table; median and p99 reported. @default 10 */
  readonly bigUpdates: number;
  /** Leave out commit → applied per region (home and a region b with its own Redis and replica). @default false */
  readonly skipRegions: boolean;
  /** Region b's replica replay delay in the regions step's second pass; 0: no second pass. @default 500 */
  readonly replicaDelayMs: number;
  /** Measured updates per run of that delayed pass (each waits out the delay). @default 50 */
  readonly delayedUpdates: number;
  /** Profile the bridged path step by step even when its p99 meets the target. @default false */
  readonly profileBridge: boolean;
  /** Subscriber processes per mode in the connection count. @default 20 */
  readonly connectionProcesses: number;
  /** Per-update deadline; a later reload counts as a failure. @default 5000 */
  readonly deadlineMs: number;
  /** How long after the burst's last commit to wait for a subscriber to finish reloading. @default 60000 */
  readonly burstCapMs: number;
}

/** A flag with a bad value: main prints the message alone and exits with code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Usage text for `--help`. */
export const USAGE = `Usage: npm run bench -- [--runs N] [--updates N] [--burst N] [--skip-sequel]
                        [--skip-direct] [--skip-bridge] [--skip-snapshot]
                        [--skip-connections] [--skip-queries] [--skip-big]
                        [--skip-regions] [--replica-delay-ms N] [--profile-bridge]

  --runs N            latency runs per system, median reported (default 3)
  --updates N         measured updates per run (default 500)
  --burst N           updates in the burst, 0 to skip it (default 10000)
  --skip-sequel       leave Ruby Sequel out (no Ruby needed)
  --skip-direct       leave our direct-mode system out of latency and burst
  --skip-bridge       leave the bridged system (bridge + redis-mode subscriber) out
  --skip-snapshot     leave the snapshot-mode system (bridge + worker + snapshot subscriber) out
  --skip-connections  do not count the Postgres connections of 20 processes per mode
  --skip-queries      do not count table queries per change for 20 processes per mode
  --skip-big          do not measure reload time and memory on a 100,000-row table
  --skip-regions      do not measure commit → applied per region (home, and region b with
                      its own Redis, worker and streaming replica)
  --replica-delay-ms N  region b's replica replay delay in the regions step's second pass,
                      50 updates per run; 0 skips that pass (default 500)
  --profile-bridge    time each step of the bridged path (done anyway when its p99 misses 10 ms)`;

function count(flag: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${flag} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** Parses the command line; undefined when `--help` was asked for. */
export function parseConfig(args: readonly string[]): BenchConfig | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        runs: { type: 'string' },
        updates: { type: 'string' },
        burst: { type: 'string' },
        'skip-sequel': { type: 'boolean' },
        'skip-direct': { type: 'boolean' },
        'skip-bridge': { type: 'boolean' },
        'skip-snapshot': { type: 'boolean' },
        'skip-connections': { type: 'boolean' },
        'skip-queries': { type: 'boolean' },
        'skip-big': { type: 'boolean' },
        'skip-regions': { type: 'boolean' },
        'replica-delay-ms': { type: 'string' },
        'profile-bridge': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help === true) return undefined;
  return Object.freeze({
    runs: count('runs', values.runs, 3, 1),
    updates: count('updates', values.updates, 500, 1),
    warmup: 20,
    burst: count('burst', values.burst, 10_000, 0),
    burstConnections: 4,
    skipSequel: values['skip-sequel'] === true,
    skipDirect: values['skip-direct'] === true,
    skipBridge: values['skip-bridge'] === true,
    skipSnapshot: values['skip-snapshot'] === true,
    skipConnections: values['skip-connections'] === true,
    skipQueries: values['skip-queries'] === true,
    skipBig: values['skip-big'] === true,
    queryChanges: 50,
    bigUpdates: 10,
    skipRegions: values['skip-regions'] === true,
    replicaDelayMs: count('replica-delay-ms', values['replica-delay-ms'], 500, 0),
    delayedUpdates: 50,
    profileBridge: values['profile-bridge'] === true,
    connectionProcesses: 20,
    deadlineMs: 5_000,
    burstCapMs: 60_000,
  });
}
