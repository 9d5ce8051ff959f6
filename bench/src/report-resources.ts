// The report's sections on what a change costs the database and what a big table costs a process.
import { BIG_ROWS, type BigTableOutcome } from './big-table.ts';
import { table } from './markdown.ts';
import type { QueriesOutcome } from './queries.ts';
import { ms } from './stats.ts';

const mib = (value: number): string => (Number.isFinite(value) ? value.toFixed(1) : 'n/a');

/** Queries and DB exec time per change, one row per mode. */
export function queriesLines(outcome: QueriesOutcome): string[] {
  const title =
    '## Table queries per change (pg_stat_statements, `SELECT * FROM` the bench table; fleet of processes per mode)';
  if ('error' in outcome) return [title, '', `Not measured: ${outcome.error}`];
  return [
    title,
    '',
    ...table(
      ['mode', 'processes', 'changes', 'queries', 'queries / change', 'DB exec ms / change'],
      outcome.modes.map((m) => [
        m.system,
        String(m.processes),
        String(m.changes),
        String(m.queries),
        m.queriesPerChange.toFixed(2),
        ms(m.execMsPerChange),
      ]),
    ),
  ];
}

/** Reload time and RSS on the big table, one row per system. */
export function bigTableLines(outcome: BigTableOutcome): string[] {
  const title = `## ${BIG_ROWS.toLocaleString('en')}-row table (one subscriber process; applied = commit → new rows served, line = commit → watch's digest line)`;
  if ('error' in outcome) return [title, '', `Not measured: ${outcome.error}`];
  return [
    title,
    '',
    ...table(
      [
        'system',
        'start → ready (ms)',
        'applied p50 (ms)',
        'applied p99 (ms)',
        'line p50 (ms)',
        'applied, each (ms)',
        'worker job (ms)',
        'RSS after load (MiB)',
        'RSS after reloads (MiB)',
        'reloads / load',
        'bytes per row',
      ],
      outcome.results.map((r) => [
        r.system,
        ms(r.startToReadyMs),
        ms(r.reloadMs),
        ms(r.reloadP99Ms),
        ms(r.lineMs),
        r.reloadSamples.map(ms).join(', '),
        r.workerMs === undefined ? '—' : ms(r.workerMs),
        mib(r.rssAfterLoadMiB),
        mib(r.rssAfterReloadsMiB),
        `${(r.rssAfterReloadsMiB / r.rssAfterLoadMiB).toFixed(2)}×`,
        `${Math.round(r.bytesPerRow)} (baseline ${mib(r.rssBaselineMiB)} MiB)`,
      ]),
    ),
  ];
}
