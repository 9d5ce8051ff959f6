// The subscribers under test: Ruby Sequel's own process, and `pg-static-cache watch` in each of
// our modes (the program a user runs), each started by the same driver (the bridged ones after a
// bridge process) and read through the same kind of line.
import { join } from 'node:path';
import { repoRoot } from '@pg-static-cache/local-services';
import { spawnCli, spawnCommand, type SpawnedProcess } from '@pg-static-cache/test-support/process';
import type { Expected } from './local-table.ts';
import { PROBE_FILE_ENV } from './probe-marks.ts';
import { parseSequelLine, parseWatchLine, type Report, type ReportLine } from './protocol.ts';
import { BENCH_CHANNEL, BENCH_NAMESPACE, TABLE_ENV, type BenchUrls } from './workload.ts';

/** Where a subscriber process connects, what it holds and (bridge profile) where its probe writes. */
export interface SpawnOptions extends BenchUrls {
  /** The table to hold, schema-qualified. */
  readonly table: string;
  /** Probe the process for the bridge profile, writing its stamps here (see probe.ts). */
  readonly probeFile?: string;
}

/** How the driver starts one system's subscriber process and reads what it reports. */
export interface SubscriberCommand {
  /** Short name used in tables and JSON: `sequel`, `ours`, `ours-bridged` or `ours-snapshot`. */
  readonly system: string;
  /** It follows a bridge's messages: a bridge process must lead before it starts. @default false */
  readonly bridged?: boolean;
  spawn(options: SpawnOptions): SpawnedProcess;
  /** One stdout line as a report; undefined for anything else. */
  read(text: string): Report | undefined;
  /** The line shows the cache holding the change `expected` names (the latency's stop). */
  showsChange(line: ReportLine, expected: Expected): boolean;
  /** The line shows the cache equal to the table `expected` describes (the burst's convergence). */
  showsTable(line: ReportLine, expected: Expected): boolean;
}

/** Ruby Sequel's pg_static_cache_updater with a static_cache model: the baseline, its own process. */
export const SEQUEL: SubscriberCommand = Object.freeze({
  system: 'sequel',
  spawn: ({ databaseUrl, table }: SpawnOptions) =>
    spawnCommand('ruby', [join(repoRoot, 'bench', 'sequel', 'subscriber.rb')], {
      cwd: repoRoot,
      env: { DATABASE_URL: databaseUrl, [TABLE_ENV]: table },
    }),
  read: parseSequelLine,
  // The newest change's name is the greatest: Sequel's `reload` line prints the greatest name.
  showsChange: (line: ReportLine, expected: Expected) =>
    line.kind === 'reload' && line.value === expected.token,
  showsTable: (line: ReportLine, expected: Expected) =>
    line.kind === 'digest' && line.value === expected.namesDigest(),
});

const PROBE = join(repoRoot, 'bench', 'src', 'probe.ts');

// `NODE_OPTIONS` that load the profile's probe before watch's code (after tsx, which it needs).
function probeEnv(probeFile: string | undefined): Readonly<Record<string, string>> {
  if (probeFile === undefined) return {};
  const inherited = process.env['NODE_OPTIONS'] ?? '';
  return {
    NODE_OPTIONS: `${inherited} --import tsx --import ${PROBE}`.trim(),
    [PROBE_FILE_ENV]: probeFile,
  };
}

const showsRows = (line: ReportLine, expected: Expected): boolean =>
  line.kind !== 'digest' && line.value === expected.rowsDigest();

/**
 * `pg-static-cache watch` in `mode`, every setting at its default but where to listen and the
 * `flags` given (e.g. `--events`, `--replica URL`).
 */
export function watchCommand(
  system: string,
  mode: 'direct' | 'redis' | 'snapshot',
  flags: readonly string[] = [],
): SubscriberCommand {
  const where = mode === 'direct' ? ['--channel', BENCH_CHANNEL] : ['--namespace', BENCH_NAMESPACE];
  return Object.freeze({
    system,
    ...(mode === 'direct' ? {} : { bridged: true }),
    spawn: ({ databaseUrl, redisUrl, table, probeFile }: SpawnOptions) =>
      spawnCli(['watch', '--mode', mode, '--table', table, ...where, ...flags], {
        env: { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, ...probeEnv(probeFile) },
      }),
    read: parseWatchLine,
    showsChange: showsRows,
    showsTable: showsRows,
  });
}

/** `watch` in direct mode: its own LISTEN session. */
export const OURS = watchCommand('ours', 'direct');

/** `watch` in redis mode, following a bridge process with default settings. */
export const BRIDGED = watchCommand('ours-bridged', 'redis');

/** `watch` in snapshot mode, following a bridge (reload jobs and worker on, its defaults). */
export const SNAPSHOT = watchCommand('ours-snapshot', 'snapshot');
