// The report's section on regions: commit → applied per place and app, and who served the reads.
import { table } from './markdown.ts';
import type { Reads, RegionPass, RegionsOutcome } from './regions.ts';
import { latencyTable } from './report.ts';

const TITLE =
  '## Commit → applied per region (home: the shared Redis; b: its own Redis, worker and streaming replica)';

function why(reads: Reads): string {
  const reasons = Object.entries(reads.why).map(([reason, n]) => `${reason}: ${n}`);
  return reasons.length === 0 ? '—' : reasons.join(', ');
}

function passLines(pass: RegionPass, runs: number): string[] {
  return [
    `### Replica replaying ${pass.delayMs} ms behind (ms; median of ${runs} runs × ${pass.updates} updates)`,
    '',
    ...latencyTable('where · what', pass.latency),
    '',
    `Who served the reads of those ${runs * pass.updates} updates (all runs):`,
    '',
    ...table(
      ['reader', 'replica', 'primary', 'snapshots', 'primary because'],
      pass.reads.map((r) => [
        r.reader,
        String(r.replica),
        String(r.primary),
        r.snapshots === undefined ? '—' : String(r.snapshots),
        why(r),
      ]),
    ),
  ];
}

/** Both passes: latency per app and the replica's row, then reads per reader. */
export function regionsLines(outcome: RegionsOutcome, runs: number): string[] {
  if ('error' in outcome) return [TITLE, '', `Not measured: ${outcome.error}`];
  return [TITLE, ...outcome.passes.flatMap((pass) => ['', ...passLines(pass, runs)])];
}
