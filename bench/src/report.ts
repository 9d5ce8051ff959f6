// The results as a markdown table for people and a JSON file for tools.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BigTableOutcome } from './big-table.ts';
import type { BurstResult } from './burst.ts';
import type { BenchConfig } from './config.ts';
import type {
  ConnectionsOutcome,
  ConnectionsResult,
  FleetConnections,
  HeldConnections,
} from './connections.ts';
import { formatLoad, machineLine, type Machine } from './environment.ts';
import type { LatencyRun } from './latency.ts';
import { table } from './markdown.ts';
import { STEP_NAMES, type BridgeProfile } from './profile.ts';
import type { QueriesOutcome } from './queries.ts';
import type { RegionsOutcome } from './regions.ts';
import { regionsLines } from './report-regions.ts';
import { bigTableLines, queriesLines } from './report-resources.ts';
import { medianOfRuns, ms, type LatencySummary } from './stats.ts';

/** One system's latency: the median of its runs' figures, and the failures of all runs. */
export interface SystemLatency extends LatencySummary {
  readonly system: string;
  readonly runs: number;
  readonly samples: number;
  readonly failures: number;
}

/** Issue 3's target for the bridged system's p99 on the project's two-core machine. */
export const BRIDGED_P99_TARGET_MS = 10;

/** Everything one `npm run bench` measured. */
export interface BenchResults {
  readonly at: string;
  readonly machine: Machine;
  readonly config: BenchConfig;
  readonly latency: readonly SystemLatency[];
  /** Sequel p99 / ours p99, when both were measured. */
  readonly p99Ratio: number | undefined;
  readonly runs: readonly LatencyRun[];
  /** The bridged path step by step; undefined unless its p99 missed the target or it was asked for. */
  readonly bridgeProfile: BridgeProfile | undefined;
  readonly burst: readonly BurstResult[];
  /** Undefined when skipped. */
  readonly connections: ConnectionsOutcome | undefined;
  /** Undefined when skipped. */
  readonly queries: QueriesOutcome | undefined;
  /** Undefined when skipped. */
  readonly bigTable: BigTableOutcome | undefined;
  /** Undefined when skipped. */
  readonly regions: RegionsOutcome | undefined;
  /** 1, 5 and 15 minute load averages when the bench ended (see Machine.loadAtStart). */
  readonly loadAtEnd: readonly number[];
}

/** Folds the runs of each system into its median figures, in the order systems were given. */
export function latencyBySystem(
  systems: readonly string[],
  runs: readonly LatencyRun[],
): SystemLatency[] {
  return systems.map((system) => {
    const own = runs.filter((run) => run.system === system);
    return {
      system,
      runs: own.length,
      samples: own.reduce((sum, run) => sum + run.samples, 0),
      failures: own.reduce((sum, run) => sum + run.failures, 0),
      ...medianOfRuns(own),
    };
  });
}

/** Sequel's median p99 over ours, or undefined if one is missing. */
export function p99Ratio(latency: readonly SystemLatency[]): number | undefined {
  const sequel = latency.find((l) => l.system === 'sequel');
  const ours = latency.find((l) => l.system === 'ours');
  if (sequel === undefined || ours === undefined || !(ours.p99 > 0)) return undefined;
  return sequel.p99 / ours.p99;
}

function burstRow(b: BurstResult): string[] {
  const optional = (value: number | undefined): string =>
    value === undefined ? 'never' : ms(value);
  return [
    b.system,
    `${b.updates} × ${b.connections} conns`,
    `${(b.burstMs / 1000).toFixed(2)} s (${Math.round(b.commitsPerSecond)}/s)`,
    b.reloadsToConverge === undefined ? 'n/a' : String(b.reloadsToConverge),
    optional(b.convergedAfterMs),
    `${b.reloadsTotal}${b.capped ? ' (capped)' : ''}`,
    optional(b.lastReloadAfterMs),
  ];
}

function profileLines(profile: BridgeProfile): string[] {
  const figures = (s: LatencySummary): string[] => [ms(s.p50), ms(s.p99), ms(s.max)];
  return [
    `## Bridged path, step by step (ms; one probed run, ${profile.complete} of ${profile.updates} updates fully stamped)`,
    '',
    ...table(
      ['step', 'p50', 'p99', 'max'],
      [
        ...profile.steps.map((s) => [s.step, ...figures(s)]),
        ['**commit → line read (all)**', ...figures(profile.total)],
      ],
    ),
    '',
    `Slowest ${profile.slowest.length} updates of the probed run:`,
    '',
    ...table(
      ['all', ...STEP_NAMES],
      profile.slowest.map((u) => [ms(u.totalMs), ...u.steps.map(ms)]),
    ),
  ];
}

function held(h: HeldConnections): string {
  return `${h.total} (${h.listen} LISTEN)`;
}

function fleetName(f: FleetConnections): string {
  return f.bridges === 0
    ? `${f.processes} processes`
    : `${f.processes} processes + ${f.bridges} bridge`;
}

const CONNECTIONS_TITLE =
  "## Postgres connections (bench database, by application_name; the driver's own left out)";

function connectionLines(outcome: ConnectionsOutcome): string[] {
  if ('error' in outcome) return [CONNECTIONS_TITLE, '', `Not measured: ${outcome.error}`];
  return connectionTable(outcome);
}

function connectionTable(result: ConnectionsResult): string[] {
  const idle = `${result.idleWaitMs / 1000} s later`;
  const lines = [
    CONNECTIONS_TITLE,
    '',
    ...table(
      [
        'system',
        'processes',
        'right after load',
        `${idle} (pools idle)`,
        'per application (after load → later)',
      ],
      result.fleets.map((f) => [
        f.system,
        fleetName(f),
        held(f.afterLoad),
        held(f.afterIdle),
        Object.entries(f.byApplication)
          .map(([app, h]) => `${app}: ${held(h.afterLoad)} → ${held(h.afterIdle)}`)
          .join('; '),
      ]),
    ),
    '',
  ];
  for (const f of result.fleets) {
    lines.push(
      `- ${f.system}: ${fleetName(f)} hold ${held(f.afterLoad)} right after loading, ${held(f.afterIdle)} ${idle}.`,
    );
  }
  return lines;
}

/** Median p50, p99 and max with failures and samples, one row per system (first column `first`). */
export function latencyTable(first: string, latency: readonly SystemLatency[]): string[] {
  return table(
    [first, 'p50', 'p99', 'max', 'failures', 'samples'],
    latency.map((l) => [
      l.system,
      ms(l.p50),
      ms(l.p99),
      ms(l.max),
      String(l.failures),
      String(l.samples),
    ]),
  );
}

/** The markdown printed at the end of a run. */
export function formatMarkdown(results: BenchResults): string {
  const { config } = results;
  const lines: string[] = [];
  if (results.latency.length > 0) {
    lines.push(
      `## Commit → reload latency (ms; median of ${config.runs} runs × ${config.updates} updates, ${config.warmup} warm-up updates per run)`,
      '',
      ...latencyTable('system', results.latency),
    );
  }
  if (results.p99Ratio !== undefined) {
    lines.push('', `Sequel p99 / ours p99 = ${results.p99Ratio.toFixed(2)}×`);
  }
  const bridged = results.latency.find((l) => l.system === 'ours-bridged');
  if (bridged !== undefined) {
    const met = bridged.p99 <= BRIDGED_P99_TARGET_MS ? 'met' : 'missed';
    lines.push(
      '',
      `ours-bridged p99 = ${ms(bridged.p99)} ms (target ≤ ${BRIDGED_P99_TARGET_MS} ms: ${met})`,
    );
  }
  if (results.bridgeProfile !== undefined) lines.push('', ...profileLines(results.bridgeProfile));
  if (results.burst.length > 0) {
    lines.push(
      '',
      `## Burst (single-row autocommit updates; times after the last commit returned, cap ${config.burstCapMs / 1000} s)`,
      '',
      ...table(
        [
          'system',
          'updates',
          'burst',
          'reloads to converge',
          'converged after (ms)',
          'reloads in all',
          'last reload after (ms)',
        ],
        results.burst.map(burstRow),
      ),
    );
    if (results.burst.some((b) => (b.convergedAfterMs ?? 0) < 0)) {
      lines.push(
        '',
        'A negative time means the cache already held the final rows when the driver read the last commit’s reply.',
      );
    }
  }
  if (results.connections !== undefined) lines.push('', ...connectionLines(results.connections));
  if (results.queries !== undefined) lines.push('', ...queriesLines(results.queries));
  if (results.bigTable !== undefined) lines.push('', ...bigTableLines(results.bigTable));
  if (results.regions !== undefined) lines.push('', ...regionsLines(results.regions, config.runs));
  lines.push(
    '',
    `Machine: ${machineLine(results.machine)}`,
    '',
    `Load average (1/5/15 min): ${formatLoad(results.machine.loadAtStart)} at the start, ${formatLoad(results.loadAtEnd)} at the end`,
  );
  // Without latency runs the first section's blank separator would lead.
  return lines.join('\n').trimStart();
}

/** Writes the results as pretty JSON, creating the folder. */
export async function writeJson(file: string, results: BenchResults): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
}
