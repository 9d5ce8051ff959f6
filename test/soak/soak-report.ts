// What a soak run leaves behind: the fault sequence (enough to replay it with its seed), the worst
// staleness per fault kind as a table on the console, and both in .test-results/soak.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '@pg-static-cache/local-services';
import { FAULT_KINDS, type FaultKind } from './faults.ts';

/** One fault and how long the apps took to hold the database's rows again. */
export interface FaultRecord {
  /** 1-based position in the schedule. */
  readonly n: number;
  readonly kind: FaultKind;
  readonly detail: string;
  /** Seconds from the start of the schedule to the fault. */
  readonly atS: number;
  /** How long the fault itself took (a freeze, an outage, a restart). */
  readonly faultMs: number;
  /** From the start of the quiet period (the last write, after the fault ended) to convergence. */
  readonly stalenessMs: number;
  /** From the end of the fault to convergence; writes went on for part of it. */
  readonly sinceFaultEndMs: number;
  /** The app and table (or status) whose line completed convergence. */
  readonly last: string;
}

/** A run, as written to .test-results/soak.json. */
export interface SoakReport {
  readonly seed: number;
  readonly seconds: number;
  readonly passed: boolean;
  readonly error?: string;
  readonly durationS: number;
  readonly commits: number;
  readonly failedCommits: number;
  readonly faults: readonly FaultRecord[];
  readonly worstStalenessMs: Readonly<Partial<Record<FaultKind, number>>>;
}

/** The worst staleness of each kind that ran, in {@link FAULT_KINDS} order. */
export function worstStaleness(
  records: readonly FaultRecord[],
): Partial<Record<FaultKind, number>> {
  const worst: Partial<Record<FaultKind, number>> = {};
  for (const kind of FAULT_KINDS) {
    const of = records.filter((r) => r.kind === kind).map((r) => r.stalenessMs);
    if (of.length > 0) worst[kind] = Math.max(...of);
  }
  return worst;
}

/** One line per fault: `  3. +12.4 s dropped: … → equal after 140 ms (900 ms after the fault)`. */
export function formatSequence(records: readonly FaultRecord[]): string {
  return records
    .map(
      (r) =>
        `${String(r.n).padStart(3)}. +${r.atS.toFixed(1)} s ${r.kind}: ${r.detail}` +
        ` → equal after ${r.stalenessMs} ms (${r.sinceFaultEndMs} ms after the fault; last ${r.last})`,
    )
    .join('\n');
}

/** Per fault kind: how many ran, the worst staleness and the worst time from the fault's end. */
export function formatWorstTable(records: readonly FaultRecord[]): string {
  const worst = (of: readonly FaultRecord[], ms: (r: FaultRecord) => number) =>
    of.length === 0 ? '-' : String(Math.max(...of.map(ms)));
  const rows = FAULT_KINDS.map((kind) => {
    const of = records.filter((r) => r.kind === kind);
    return [
      kind,
      String(of.length),
      worst(of, (r) => r.stalenessMs),
      worst(of, (r) => r.sinceFaultEndMs),
    ];
  });
  const header = ['fault', 'count', 'worst staleness ms', 'worst since fault end ms'];
  const widths = header.map((_, i) =>
    Math.max(...[header, ...rows].map((row) => row[i]?.length ?? 0)),
  );
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join('  '),
    )
    .join('\n');
}

/** Writes `report` to `<repo>/.test-results/soak.json`; returns the path. */
export async function writeSoakReport(report: SoakReport): Promise<string> {
  const dir = join(repoRoot, '.test-results');
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'soak.json');
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
  return path;
}
